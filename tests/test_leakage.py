"""Leakage between train and eval is compared as a reader compares prompts (issue 38.11): a prompt that differs from
a training prompt only by spacing, case, invisible or compatibility characters is the same prompt."""

from __future__ import annotations

import json

import pytest

from kwanzaa_hub.contract.normalise import comparable
from kwanzaa_hub.contract.samples import check_file, check_leakage
from tests.conftest import write_jsonl

VARIANTS = {
    "a trailing space": lambda t: t + " ",
    "a doubled space": lambda t: t.replace(" ", "  ", 1),
    "a zero-width space": lambda t: t[:12] + "\u200b" + t[12:],
    "a space before the question mark": lambda t: t[: t.rindex("?")] + " ?" + t[t.rindex("?") + 1 :],
    "another case": lambda t: t.replace("Kwanzaa", "KWANZAA"),
    "full-width letters (NFKC)": lambda t: t.replace("Kwanzaa", "Ｋｗａｎｚａａ"),
    "a newline for a space": lambda t: t.replace(" ", "\n", 1),
}


def _with_user_text(sample: dict, change) -> dict:
    copy = json.loads(json.dumps(sample))
    user = next(m for m in copy["messages"] if m["role"] == "user")
    changed = change(user["content"])
    assert changed != user["content"]
    user["content"] = changed
    return copy


def _check(tmp_path, train: list[dict], held: list[dict]):
    write_jsonl(tmp_path / "train.jsonl", train)
    write_jsonl(tmp_path / "eval.jsonl", held)
    t, e = check_file(str(tmp_path / "train.jsonl"), "train"), check_file(str(tmp_path / "eval.jsonl"), "eval")
    assert not t.errors and not e.errors
    return check_leakage(t.samples, e.samples)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_training_prompt_changed_only_in_form_is_leakage(tmp_path, example_samples, variant):
    train, held = example_samples
    leaked = next(s for s in train if "Kwanzaa" in json.dumps(s) and "?" in s["messages"][-2]["content"])
    errors, _, _ = _check(tmp_path, train, [*held, _with_user_text(leaked, VARIANTS[variant])])
    line = train.index(leaked) + 1
    assert errors == [
        f"{tmp_path / 'eval.jsonl'}:{len(held) + 1}: identical prompt to {tmp_path / 'train.jsonl'}:{line} once "
        "case, spacing and invisible characters are ignored (train/eval leakage)"
    ]


def test_an_exact_copy_is_still_named_identical_and_a_real_difference_is_not_leakage(tmp_path, example_samples):
    train, held = example_samples
    errors, _, _ = _check(tmp_path, train, [*held, train[4]])
    assert errors == [
        f"{tmp_path / 'eval.jsonl'}:{len(held) + 1}: identical prompt to {tmp_path / 'train.jsonl'}:5"
        " (train/eval leakage)"
    ]
    errors, _, _ = _check(tmp_path, train, [*held, _with_user_text(train[4], lambda t: t + " Why?")])
    assert errors == []


def test_comparable_text_follows_one_rule():
    assert comparable("  What  is\u200bUmoja ?\n") == "what isumoja?"
    assert comparable("Ｕｍｏｊａ , ﬁne !") == "umoja, fine!"
    assert comparable("Straße\u00ad") == "strasse"
    assert comparable("a\u2060b\ufeffc") == "abc"
