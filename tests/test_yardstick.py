"""The yardstick: every headline metric ranks the team's reference answers strictly above every floor (trivial
answerers built from the prompt alone), on the team's eval data and on the example data, on the plain split and on
one with distractor documents; and the floors are valid contract answers."""

import json
import random
import re

import jsonschema
import pytest

from kwanzaa_hub.contract import decoding_schema, floors, request_schema
from kwanzaa_hub.contract.answer import parse_answer, parse_documents
from kwanzaa_hub.contract.metrics import rows as evalrows
from kwanzaa_hub.contract.metrics import specs


def _load(path):
    return [json.loads(line)["messages"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(params=["team", "example"])
def eval_split(request, shared_data, tmp_path):
    """(system messages, user messages, reference assistant messages) of the team's eval split or the example's."""
    if request.param == "team":
        path = shared_data / "kwanzaa_eval.jsonl"
    else:
        from kwanzaa_hub.devtools import example_data

        path = tmp_path / "eval.jsonl"
        path.write_text("\n".join(json.dumps(s) for s in example_data.build()[1]), encoding="utf-8")
    messages = _load(path)
    return (
        [m[0]["content"] for m in messages],
        [m[1]["content"] for m in messages],
        [m[-1]["content"] for m in messages],
    )


def _rows(systems, users, references, split="plain", mappings=None):
    n = len(users)
    return evalrows.split_rows(
        split=split,
        ids=[f"eval-{i:05d}" for i in range(n)],
        categories=["any"] * n,
        systems=systems,
        users=users,
        references=references,
        mappings=mappings,
    )


def _block(number, d):
    lines = [f"[{number}] {d.title}"]
    if d.relevance is not None:
        lines.append(f"Relevance Score: {d.relevance:.2f}")
    if d.source:
        lines.append(f"Source: {d.source}")
    lines.append(f"Content: {d.content}")
    if d.url:
        lines.append(f"URL: {d.url}")
    return "\n".join(lines)


def with_distractors(users, references, k=2, seed=0):
    """A simple stand-in for contract/distractors.py (TODO(lead): use the real one once merged): each prompt gets the
    documents of the next prompts that have any (up to ``k``), all shuffled with a fixed seed and renumbered, and the
    reference's ``[n]`` renumbered to match. Returns (users, references, mappings)."""
    rng = random.Random(seed)
    out_users, out_refs, mappings = [], [], []
    for i, user in enumerate(users):
        own = parse_documents(user)
        extra = [d for j in range(1, len(users)) for d in parse_documents(users[(i + j) % len(users)])][:k]
        docs = [("own", d) for d in own] + [("extra", d) for d in extra]
        rng.shuffle(docs)
        mapping = {str(d.number): new for new, (kind, d) in enumerate(docs, 1) if kind == "own"}
        query = user[user.index("Query:") :] if "Query:" in user else "Query: -"
        blocks = "\n\n".join(_block(n, d) for n, (_, d) in enumerate(docs, 1))
        out_users.append(f"Retrieved Documents:\n\n{blocks}\n\n{query}" if docs else user)
        data = json.loads(references[i])
        data["answer"]["text"] = re.sub(
            r"\[(\d+)\]", lambda m, mapping=mapping: f"[{mapping.get(m.group(1), m.group(1))}]", data["answer"]["text"]
        )
        out_refs.append(json.dumps(data, ensure_ascii=False))
        mappings.append(mapping)
    return out_users, out_refs, mappings


def test_every_headline_metric_ranks_the_references_above_every_floor(eval_split):
    systems, users, references = eval_split
    rows = _rows(systems, users, references)
    assert evalrows.yardstick_failures(rows) == []
    assert {r["split"] for r in rows} == {"plain"} and set(rows[0]["floors"]) == set(floors.FLOORS)


def test_the_yardstick_holds_with_distractor_documents(eval_split):
    systems, users, references = eval_split
    d_users, d_refs, mappings = with_distractors(users, references)
    rows = _rows(systems, d_users, d_refs, split="distractors", mappings=mappings)
    assert evalrows.yardstick_failures(rows) == []
    agg = evalrows.aggregates(rows)
    plain = evalrows.aggregates(_rows(systems, users, references))
    # citing every document, or always [1], loses more against the reference once documents that are not its own
    # are in the prompt
    assert agg["cite_all"]["citation_f1"].mean < plain["cite_all"]["citation_f1"].mean
    assert agg["reference"]["citation_f1"].mean == 1.0


def test_a_floor_given_the_references_score_path_fails_the_yardstick(eval_split, monkeypatch):
    """The guard itself: a floor that answers with the reference ties it on every headline metric, and is named."""
    systems, users, references = eval_split
    real = floors.floor_answers
    monkeypatch.setattr(floors, "floor_answers", lambda u, r: {**real(u, r), "cite_first": list(r)})
    failures = evalrows.yardstick_failures(_rows(systems, users, references))
    assert [f.split(":")[0] for f in failures if "cite_first" in f] == list(specs.HEADLINE)


def test_the_floors_are_valid_contract_answers_and_pass_their_request_schema(eval_split):
    """cite_all, cite_first and refuse_all pass the request schema of their prompt; no_cite breaks only
    cite-or-refuse (it cites nothing and does not refuse); every floor is a valid kwanzaa.answer.v1 answer."""
    _, users, references = eval_split
    static = decoding_schema.from_answers(references, margin=1.5)
    answers = floors.floor_answers(users, references)
    assert set(answers) == set(floors.FLOORS)
    for name, texts in answers.items():
        for user, text in zip(users, texts, strict=True):
            assert parse_answer(text).compliant, (name, parse_answer(text).errors)
            if name in ("cite_all", "cite_first", "refuse_all"):
                jsonschema.validate(
                    decoding_schema.canonical(json.loads(text)), request_schema.for_prompt(static, user)
                )


def test_each_floor_answers_as_its_name_says():
    user = (
        "Retrieved Documents:\n\n[1] Umoja\nSource: Lib (1978)\nContent: [Umoja means Unity. It is day one.]\n"
        "URL: https://example.org/u\n\n[2] Candles\nContent: The black candle is lit first.\nURL: https://example.org/c"
        "\n\nQuery: What is Umoja?"
    )
    text = {
        name: specs.response(floors.answer(name, user)) for name in ("cite_all", "cite_first", "refuse_all", "no_cite")
    }
    assert text["cite_all"].text == "Umoja means Unity. [1] The black candle is lit first. [2]"
    assert text["cite_first"].text == "Umoja means Unity. [1]"
    assert text["no_cite"].text == "Umoja means Unity. The black candle is lit first."
    assert text["refuse_all"].refuses and not text["refuse_all"].citations
    assert [s["canonical_url"] for s in json.loads(floors.answer("cite_all", user))["sources"]] == [
        "https://example.org/u",
        "https://example.org/c",
    ]
    assert floors.floor_answers([user, user, user], ["a", "b", "c"])["other_reference"] == ["b", "c", "a"]
    assert "other_reference" not in floors.floor_answers([user], ["a"])  # no derangement of one prompt
