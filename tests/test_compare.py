"""The comparison of two runs on per-example rows (metric definitions 3): each printed figure is the aggregate of
exactly the rows its test tests; prompts are paired by content; bad rows are refused with one line."""

from __future__ import annotations

import json

import pytest

from kwanzaa_hub.contract.metrics import paired
from kwanzaa_hub.errors import InputError
from tests.rows import SPECS, key, rows

A = "adapter"


def _cmp(old, new, metric, **kw):
    return paired.compare(old, new, A, A, specs=SPECS, **kw)[metric]


def test_exact_sign_test_p_values_computed_by_hand():
    assert paired.sign_test_p(6, 0) == 2 / 2**6 == 0.03125
    assert paired.sign_test_p(3, 2) == 1.0  # 2 * (C(5,0) + C(5,1) + C(5,2)) / 2^5
    assert paired.sign_test_p(7, 1) == 2 * (1 + 8) / 2**8


def test_a_mean_of_verdicts_gets_the_sign_test_of_the_printed_means():
    old = rows({A: {"verdict": [0] * 6 + [1] * 21}})
    new = rows({A: {"verdict": [1] * 6 + [1] * 21}})
    c = _cmp(old, new, "verdict")
    assert (c.old.mean, c.new.mean, c.change, c.n) == (0.7778, 1.0, 0.2222, 27)
    assert (len(c.fixed), len(c.broken), c.unchanged, c.test) == (6, 0, 21, paired.SIGN_TEST)
    assert (c.p_value, c.label, c.evidence) == (0.03125, "better", "p = 0.0312")
    assert [ch.id for ch in c.fixed] == [f"eval-{i:05d}" for i in range(1, 7)]
    # lower is better: 6 prompts no longer truncated is a fix
    c = _cmp(rows({A: {"truncated": [1] * 6 + [0] * 21}}), rows({A: {"truncated": [0] * 27}}), "truncated")
    assert (len(c.fixed), c.label) == (6, "better")
    assert _cmp(old, old, "verdict").label == "same"


def test_the_label_is_about_the_printed_per_prompt_mean_not_a_pooled_figure():
    """Citation precision per prompt: old cites 1 correct of 2 on each of 12 prompts (0.5 per prompt, 0.5 pooled);
    new cites 100 of 100 on one prompt and 0 of 1 on the other 11: pooled 100/111 = 0.90 (would read better), per
    prompt 1/12 = 0.083. The printed figure is the per-prompt mean, and its test says worse."""
    old_counts, new_counts = [(1, 2)] * 12, [(100, 100)] + [(0, 1)] * 11
    pooled = [sum(c for c, _ in xs) / sum(n for _, n in xs) for xs in (old_counts, new_counts)]
    assert pooled[1] > pooled[0]  # the pooled figure goes up
    old = rows({A: {"overlap": [c / n for c, n in old_counts]}})
    new = rows({A: {"overlap": [c / n for c, n in new_counts]}})
    c = _cmp(old, new, "overlap")
    assert (c.old.mean, c.new.mean, c.change, c.test) == (0.5, 0.0833, -0.4167, paired.BOOTSTRAP)
    lo, hi = c.interval
    assert lo <= -0.4167 <= hi < 0 and c.label == "worse"
    assert c.evidence.startswith("95% CI [-")
    assert paired.bootstrap_interval([0.5] * 12, [1.0] + [0.0] * 11) == c.interval  # seed fixed: reproducible


def test_never_refusing_against_always_refusing_is_not_labelled_by_a_test_of_another_figure():
    """Today: "0.500 -> 0.500 worse (p = 0.0003)". Half the prompts should be refused: the never-refusing version
    is right on the answerable half, the always-refusing one on the other half: same figure, no label."""
    never = rows({A: {"verdict": [1, 0] * 12}})
    always = rows({A: {"verdict": [0, 1] * 12}})
    c = _cmp(never, always, "verdict")
    assert (c.old.mean, c.new.mean, len(c.fixed), len(c.broken)) == (0.5, 0.5, 12, 12)
    assert (c.p_value, c.label) == (1.0, "within noise (n = 24)")


def test_none_is_left_out_of_each_side_and_a_non_verdict_value_gets_the_bootstrap():
    old = rows({A: {"verdict": [0, 0, 0, 0, 0, 0, None]}})
    new = rows({A: {"verdict": [1, 1, 1, 1, 1, None, 1]}})
    c = _cmp(old, new, "verdict")
    # 7 rows valued on a side; old: 6 zeros, new: 6 ones; coverage differs, so the bootstrap of the means runs
    assert (c.n, c.old.mean, c.old.n, c.new.mean, c.new.n, c.test) == (7, 0.0, 6, 1.0, 6, paired.BOOTSTRAP)
    assert c.interval == (1.0, 1.0) and c.label == "better"
    half = rows({A: {"verdict": [0.5] * 7}})
    assert _cmp(old[:6], half[:6], "verdict").test == paired.BOOTSTRAP  # not a mean of 0/1 values


def test_prompts_are_paired_by_content_so_inserting_a_sample_unpairs_nothing():
    old = rows({A: {"verdict": [1] * 24}}, prompts=list(range(24)))
    new = rows({A: {"verdict": [1] + [0] * 24}}, prompts=[99, *range(24)])  # ids eval-00002.. now name others
    pairing = paired.pair(old, new)
    assert (len(pairing.pairs), pairing.only_old, pairing.only_new) == (24, 0, 1)
    assert all(a["key"] == b["key"] for a, b in pairing.pairs)
    c = _cmp(old, new, "verdict")
    assert (c.n, len(c.broken), c.label) == (24, 24, "worse")
    assert paired.prompt_sets_note(pairing, "v1", "v2") == (
        "the prompt sets differ (plain split): 24 shared, 0 only in v1, 1 only in v2; figures and tests are over "
        "the shared prompts"
    )
    half = paired.pair(old, old[:12])
    assert paired.prompt_sets_note(half, "v1", "v2").startswith("the prompt sets differ (plain split): 12 shared, 12")


def test_an_empty_comparison_is_not_tested_never_p_equals_1():
    old = rows({A: {"verdict": [1] * 5}}, prompts=[0, 1, 2, 3, 4])
    new = rows({A: {"verdict": [1] * 5}}, prompts=[5, 6, 7, 8, 9])
    c = _cmp(old, new, "verdict")
    assert (c.n, c.label, c.evidence, c.test, c.p_value) == (0, paired.NOT_TESTED, "", "", None)
    assert _cmp(old, rows({A: {"verdict": [None] * 5}}), "verdict").label == paired.NOT_TESTED


def test_splits_and_runs_are_compared_apart():
    plain = rows({A: {"verdict": [1] * 6}, "adapter_constrained": {"verdict": [0] * 6}})
    dist = rows({A: {"verdict": [0] * 6}, "adapter_constrained": {"verdict": [0] * 6}}, split="distractors")
    both = plain + dist
    assert paired.splits_of(both) == ["plain", "distractors"]
    assert paired.compare(both, both, A, A, "distractors", SPECS)["verdict"].old.mean == 0.0
    assert paired.compare(both, both, A, A, "plain", SPECS)["verdict"].old.mean == 1.0
    c = paired.compare(both, both, "adapter_constrained", A, "plain", SPECS)["verdict"]
    assert (c.old.mean, c.new.mean, c.label) == (0.0, 1.0, "better")


def _text(rs) -> str:
    return "".join(json.dumps(r) + "\n" for r in rs)


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda r: r.update(id=[1]), "id is [1], expected a string"),
        (lambda r: r.update(key=7), "key is 7, expected"),
        (lambda r: r.update(runs={"adapter": "x"}), 'runs.adapter is "x", expected an object'),
        (lambda r: r.update(split="other"), 'split is "other", expected one of plain, distractors'),
        (lambda r: r["runs"][A]["values"].update(verdict=10**400), "values.verdict is a huge integer"),
        (lambda r: r["runs"][A]["values"].update(verdict=float("nan")), "values.verdict is nan, expected a number"),
        (lambda r: r["runs"][A]["values"].update(verdict=float("inf")), "values.verdict is inf"),
        (lambda r: r["runs"][A]["values"].update(verdict=1.5), "values.verdict is 1.5, expected a number in [0, 1]"),
        (lambda r: r["runs"][A]["values"].update(verdict=True), "values.verdict is true"),
        (lambda r: r.update(key=key(0)), "duplicate prompt key"),
    ],
)
def test_a_malformed_row_that_is_valid_json_is_refused_naming_its_line(edit, says):
    rs = rows({A: {"verdict": [1, 0, 1]}})
    edit(rs[2])
    with pytest.raises(InputError) as err:
        paired.parse_records(_text(rs), "x.jsonl")
    assert str(err.value).startswith("x.jsonl:3: ") and says in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", ["not json\n", '{"no_id": 1}\n', "[1]\n"])
def test_a_file_that_is_not_records_is_refused(bad):
    with pytest.raises(InputError, match=r"x\.jsonl:1: "):
        paired.parse_records(bad, "x.jsonl")


def test_rows_of_older_definitions_are_read_but_never_paired():
    legacy = [{"id": "q00", "adapter": {"scores": {"verdict": 1}}}, {"id": [1], "adapter": "x"}]
    read = paired.parse_records(_text(legacy), "x.jsonl")
    assert not paired.keyed(read) and paired.pair(read, read).pairs == []
