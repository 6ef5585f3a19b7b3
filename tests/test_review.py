"""Reviewing a version by its answers: the paired tests on hand-made verdicts, per-example records in every pushed
version, `diff --examples` / `--md` / `--workspace` against the loopback Hub, the card's "Changes since" section."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.cli.tables import metrics_table
from kwanzaa_hub.contract.metrics import paired, registry
from kwanzaa_hub.stages import push as push_stage
from tests.conftest import REPO
from tests.helpers import FAST, METRICS, listed_prompts, moved_prompts, params_for, records

# v1 -> v2 of the adapter on 8 prompts, same adapter weights, different answers
V1 = {
    "format_compliance": [1, 1, 0, 0, 1, 1, 0, 1],
    "citation_f1": [0.2] * 8,
    "truncated_rate": [0, 0, 1, 0, 0, 0, 0, 0],
}
V2 = {
    "format_compliance": [1, 0, 1, 1, 1, 1, 1, 1],  # q02, q03, q06 fixed; q01 broken
    "citation_f1": [0.2, 0.4, 0.2, 0.1, 0.2, None, 0.2, 0.2],  # q01 fixed, q03 broken, q05 not scored
    "truncated_rate": [0] * 8,  # q02 fixed (lower is better)
}


def _verdicts(fixed: int, broken: int, unchanged: int = 0, *, metric: str = "format_compliance") -> tuple:
    """Two runs' records on one metric with ``fixed`` prompts 0 -> 1, ``broken`` 1 -> 0, the rest equal."""
    old = [0] * fixed + [1] * broken + [1] * unchanged
    new = [1] * fixed + [0] * broken + [1] * unchanged
    n = len(old)
    return records({metric: old}, n=n), records({metric: new}, n=n)


def test_exact_sign_test_p_values_computed_by_hand():
    assert paired.sign_test_p(6, 0) == 2 / 2**6 == 0.03125  # 2 * C(6,0) / 2^6
    assert paired.sign_test_p(0, 6) == 0.03125
    assert paired.sign_test_p(3, 2) == 1.0  # 2 * (C(5,0) + C(5,1) + C(5,2)) / 2^5 = 2 * 16 / 32
    assert paired.sign_test_p(7, 1) == 2 * (1 + 8) / 2**8 == 0.0703125
    assert paired.sign_test_p(8, 0) == 2 / 2**8
    assert paired.sign_test_p(0, 0) == 1.0


def test_labels_of_hand_made_verdicts_six_fixed_is_better_three_against_two_is_noise():
    old, new = _verdicts(6, 0, 21)
    c = paired.compare(old, new)["format_compliance"]
    assert (len(c.fixed), len(c.broken), c.unchanged, c.n) == (6, 0, 21, 27)
    assert c.p_value == 0.03125 and c.label == "better" and c.evidence == "p = 0.0312"
    assert [ch.id for ch in c.fixed] == [f"q{i:02d}" for i in range(6)]
    old, new = _verdicts(3, 2, 22)
    c = paired.compare(old, new)["format_compliance"]
    assert (len(c.fixed), len(c.broken), c.p_value, c.label) == (3, 2, 1.0, "within noise (n = 27)")
    old, new = _verdicts(0, 6, 21)
    assert paired.compare(old, new)["format_compliance"].label == "worse"
    # lower is better: truncated 1 -> 0 is a fix
    old, new = _verdicts(0, 6, 21, metric="truncated_rate")
    c = paired.compare(old, new)["truncated_rate"]
    assert (len(c.fixed), c.label) == (6, "better")
    same = paired.compare(old, old)["format_compliance"]
    assert (same.label, same.unchanged) == ("same", 27)
    other_prompts = [{**r, "prompt_sha256": "f" * 64} for r in old]  # same ids, other prompts: nothing pairs
    assert paired.compare(old, other_prompts)["format_compliance"].label == "not tested (no prompt scored in both)"


def test_a_value_that_is_not_scored_is_neither_tested_nor_counted():
    old = records({"format_compliance": [0, 0, 0, 0, 0, 0, None]}, n=7)
    new = records({"format_compliance": [1, 1, 1, 1, 1, 1, 1]}, n=7)
    del new[5]["adapter"]["scores"]["format_compliance"]  # missing counts as not scored too
    c = paired.compare(old, new)["format_compliance"]
    assert (c.n, len(c.fixed), c.p_value, c.label) == (5, 5, 2 / 2**5, "within noise (n = 5)")  # 0.0625


def test_paired_bootstrap_for_f1_type_metrics_is_seeded_and_labels_by_its_interval():
    assert paired.TESTS.keys() == set(registry.HEADLINE)
    assert paired.bootstrap_interval([0.25] * 10) == (0.25, 0.25)
    diffs = [0.3, -0.2, 0.1, 0.0, -0.1, 0.2, 0.0, -0.3, 0.1, 0.05]
    assert paired.bootstrap_interval(diffs) == paired.bootstrap_interval(diffs)  # seed fixed: reproducible
    lo, hi = paired.bootstrap_interval(diffs)
    assert lo < 0 < hi
    old = records({"citation_f1": [0.1] * 10}, n=10)
    up = records({"citation_f1": [0.4] * 9 + [0.1]}, n=10)
    c = paired.compare(old, up)["citation_f1"]
    assert c.test == "paired bootstrap" and c.p_value is None and c.interval[0] > 0 and c.label == "better"
    assert c.evidence.startswith("95% CI [+")
    mixed = records({"citation_f1": [0.1 + d for d in diffs]}, n=10)
    assert paired.compare(old, mixed)["citation_f1"].label == "within noise (n = 10)"


def test_the_eval_table_labels_base_vs_adapter_by_the_paired_test():
    metrics = {"base.format_compliance": 0.5, "adapter.format_compliance": 0.625}
    rows = records({"format_compliance": [1, 1, 1, 1, 0, 0, 1, 0]}, {"format_compliance": [1, 1, 1, 1, 0, 0, 0, 0]})
    width = 200

    def text(table) -> str:
        import io

        from rich.console import Console

        console = Console(width=width, file=io.StringIO())
        console.print(table)
        return console.file.getvalue()

    assert "within noise (n = 8)" in text(metrics_table(metrics, records=rows))
    assert "better" in text(metrics_table(metrics))  # without records: the direction alone


def _write(root: Path, adapter: dict) -> list[dict]:
    rows = records(adapter)
    (root / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    means = {}
    for m in registry.HEADLINE:
        vals = [r["adapter"]["scores"][m] for r in rows if r["adapter"]["scores"][m] is not None]
        means[f"adapter.{m}"] = round(sum(vals) / len(vals), 4)
    (root / "metrics.json").write_text(json.dumps({**METRICS, **means}))
    return rows


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), terminal_width=200)


def test_diff_examples_lists_exactly_the_prompts_whose_verdict_changed(outputs, hub, repo_id, tmp_path):
    from huggingface_hub import HfApi

    old = _write(outputs, V1)
    push_stage.run(params_for(repo_id), retry=FAST)
    new = _write(outputs, V2)
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")

    # before the push: the workspace against v1
    before = _invoke("diff", repo_id, "v1", "--workspace", "--examples")
    assert before.exit_code == 0, before.output
    expected = moved_prompts(old, new)
    assert listed_prompts(before.output) == expected
    assert expected["format_compliance"] == {("fixed", "q02"), ("fixed", "q03"), ("fixed", "q06"), ("broken", "q01")}
    assert expected["citation_f1"] == {("fixed", "q01"), ("broken", "q03")}

    receipt = push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    manifest = receipt["manifest"]
    assert (
        manifest["eval/predictions.jsonl"]
        == hashlib.sha256((outputs / "eval/predictions.jsonl").read_bytes()).hexdigest()
    )
    result = _invoke("diff", repo_id, "v1", "v2", "--examples")
    assert result.exit_code == 0, result.output
    assert listed_prompts(result.output) == expected
    printed = result.output[result.output.index("per example, adapter, v1 -> v2") :].rstrip()
    assert printed in (REPO / "docs/versions.md").read_text(), "docs/versions.md: paste this output again"
    shown = (REPO / "README.md").read_text().split("--examples` output", 1)[1].split("```text\n", 1)[1].split("```")[0]
    command, shown = shown.split("\n", 1)
    assert command.endswith("v1 v2 --examples") and shown in printed + "\n", "README: paste this output's start again"
    fc = next(line for line in result.output.splitlines() if line.startswith("format_compliance:"))
    assert fc.endswith("within noise (n = 8) (p = 0.625): 3 fixed, 1 broken, 4 unchanged")  # 2*(1+4)/16
    assert "v1: adapter answer to q01: format 1, citations 0.2" in result.output  # one-line excerpts of both answers
    assert "v2: adapter answer to q01: format 0, citations 0.4" in result.output

    md = _invoke("diff", repo_id, "v1", "v2", "--examples", "--md")
    assert md.exit_code == 0, md.output
    assert "| format_compliance | 0.625 | 0.875 | +0.250 | within noise (n = 8) | 3 | 1 | 4 | p = 0.625 |" in md.output
    assert "#### format_compliance: 3 fixed, 1 broken" in md.output
    broken = (
        r"^\| broken \| q01 \| refusal \| adapter answer to q01: format 1, citations 0.2 \| adapter answer to q01: "
    )
    assert re.search(broken, md.output, re.M)

    plain = _invoke("diff", repo_id, "v1", "v2")
    assert plain.exit_code == 0 and "exact sign test" in plain.output
    table = {line.split()[1]: line for line in plain.output.splitlines() if line.startswith("│ ")}
    assert "within noise (n = 8)" in table["adapter.format_compliance"]
    assert "same" in table["base.format_compliance"]  # the paired test is the adapter's: base rows keep the direction

    v1_card = Path(HfApi().hf_hub_download(repo_id, "README.md", revision="v1")).read_text()
    assert "## Changes since the previous version" in v1_card and "none to compare" in v1_card
    card = Path(HfApi().hf_hub_download(repo_id, "README.md", revision="v2")).read_text()
    assert "## Changes since v1" in card
    assert "| format_compliance | 0.625 | 0.875 | +0.250 (within noise (n = 8)) | 3 | 1 | p = 0.625 |" in card
    assert "| citation_f1 | 0.200 | 0.214 | +0.014 (within noise (n = 7)) | 1 | 1 | 95% CI [" in card

    pulled = _invoke("pull", repo_id, "--version", "v2", "--out", str(tmp_path / "pulled"))
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "pulled/eval/predictions.jsonl").read_bytes() == (
        outputs / "eval/predictions.jsonl"
    ).read_bytes()


def _one_line_exit_2(result, says: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output


def test_each_bad_input_of_diff_exits_2_with_one_line(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    from kwanzaa_hub.hub import publish

    HfApi().create_repo(repo_id, private=True)
    # a version pushed before versions carried per-example records: headline diff only, one line saying why
    with tempfile.TemporaryDirectory() as tmp:
        files = push_stage.payload(params_for(repo_id), Path(tmp))
        files.pop("eval/predictions.jsonl")
        publish.push_version(repo_id, "v1", files, message="v1 (older kwanzaa_hub)", retry=FAST)
    receipt = push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    card = (outputs / "MODEL_CARD.md").read_text()
    assert "## Changes since v1" in card and "was pushed before versions carried per-example records" in card

    headline = _invoke("diff", repo_id, "v1", "v2")
    assert headline.exit_code == 0, headline.output
    why = [line for line in headline.output.splitlines() if "per-example records" in line]
    assert len(why) == 1 and "headline metrics only" in why[0]

    _one_line_exit_2(_invoke("diff", repo_id, "v1", "v2", "--examples"), "was pushed before versions carried")
    _one_line_exit_2(_invoke("diff", repo_id, "v2", "v9", "--examples"), "has no version 'v9'")
    _one_line_exit_2(_invoke("diff", repo_id, "v2"), "or pass --workspace")
    _one_line_exit_2(_invoke("diff", repo_id, "v1", "v2", "--workspace"), "or pass --workspace")

    # a tampered file: v3's records swapped on the server for other bytes (before anything downloaded them)
    _write(outputs, V2)
    receipt = push_stage.run(params_for(repo_id, "v3"), retry=FAST)
    with hub.store.lock:
        repo = hub.store.get(repo_id)
        entry = repo["commits"][receipt["commit"]]["files"]["eval/predictions.jsonl"]
        entry.update(hub.store.put_blob(b'{"id": "q00"}\n'))
        hub.store.put(repo_id, repo)
    _one_line_exit_2(
        _invoke("diff", repo_id, "v2", "v3", "--examples"), "v3: eval/predictions.jsonl on the Hub is not the file"
    )


def test_diff_workspace_without_eval_outputs_says_what_to_run(outputs, hub, repo_id):
    push_stage.run(params_for(repo_id), retry=FAST)
    (outputs / "eval/predictions.jsonl").unlink()
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    _one_line_exit_2(_invoke("diff", repo_id, "v1", "--workspace"), "run `dvc repro eval` first")


@pytest.mark.parametrize("bad", ["not json\n", '{"no_id": 1}\n'])
def test_a_records_file_that_is_not_records_is_refused(bad):
    from kwanzaa_hub.errors import InputError

    with pytest.raises(InputError, match=r"x\.jsonl:1: "):
        paired.parse_records(bad, "x.jsonl")


def test_the_card_labels_base_vs_adapter_by_the_paired_test(outputs):
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.hub import card

    rows = records({"format_compliance": [1, 1, 1, 1, 0, 0, 1, 0]}, {"format_compliance": [1, 1, 1, 1, 0, 0, 0, 0]})
    (outputs / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    text = str(card.build_card(card.gather(parse_params({"model": {"base": "models/base"}}))))
    row = next(line for line in text.splitlines() if line.startswith("| **format_compliance**"))
    assert row == "| **format_compliance** | 0.250 | 0.750 | +0.500 (within noise (n = 8)) |"
    assert "exact sign test (McNemar)" in text and "This is the first version: none to compare." in text


def test_diff_says_when_the_two_sides_were_scored_under_different_metric_definitions(outputs, hub, repo_id):
    """v1's eval report names no metric definitions (definitions 1: every prompt); the workspace's names 2 (text
    metrics over real references only): the diff says so in one line instead of comparing them silently."""
    _write(outputs, V1)
    push_stage.run(params_for(repo_id), retry=FAST)
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    alike = _invoke("diff", repo_id, "v1", "--workspace")
    assert alike.exit_code == 0, alike.output
    assert "metric definitions" not in alike.output
    report = json.loads((outputs / "reports/eval.json").read_text())
    (outputs / "reports/eval.json").write_text(json.dumps({**report, "metric_definitions": 2}))
    unlike = _invoke("diff", repo_id, "v1", "--workspace")
    assert unlike.exit_code == 0, unlike.output
    assert "v1 was scored under metric definitions 1 and workspace under 2" in " ".join(unlike.output.split())
