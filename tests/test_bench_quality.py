"""bench/bench_quality.py read as metric definitions 3, without a model: ``collect`` and ``write_result`` on a project
folder made by hand (rows with chosen values, so every figure is known exactly; texts chosen so each failure class
occurs once), and ``--help``. The real run (SmolLM2 on the team's data, hours) is for a later session."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.floors import contract_answer
from kwanzaa_hub.contract.metrics import rows as evalrows
from kwanzaa_hub.contract.prompt import user_message
from tests import rows as handmade

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "bench_quality.py"
_spec = importlib.util.spec_from_file_location("bench_quality", SCRIPT)
bq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bq)

SERVED, FREE = "adapter_constrained", "adapter"
USER = user_message(
    "How many principles does Kwanzaa have?",
    [
        Document("Kwanzaa", "Kwanzaa has seven principles.", "https://example.org/a", "Org", 1998, 0.9),
        Document("Karenga", "Maulana Karenga created Kwanzaa in 1966.", "https://example.org/b", "Org", 2001, 0.8),
    ],
)


def answer(text: str, cited: list[int], refuse: bool = False) -> str:
    return contract_answer(USER, text, cited, refuse=refuse)


# Per prompt of the plain split: the reference, the served run's generation and stop reason, its failure class.
PLAIN = [
    (answer("Seven [1].", [1]), answer("Seven [1].", [1]), "eot", "ok"),
    (answer("Not in the documents.", [], True), answer("Seven [1].", [1]), "eot", "wrong_refusal"),
    (answer("Seven [1], since 1966 [2].", [1, 2]), answer("Seven [1].", [1]), "eot", "missing_citation"),
    (answer("Seven [1].", [1]), answer("Seven [1].", [1])[:40], "length", "truncated"),
    (answer("Seven [1].", [1]), "Seven [1].", "eot", "invalid_json"),
    (answer("Seven [1].", [1]), json.dumps({"answer": "Seven [1]."}), "eot", "contract_violation"),
]
# Chosen values of the headline metrics per prompt (None: not covered); prompt i's category is grounded/refusal by i.
VALUES = {
    SERVED: {
        "citation_f1": [1, 0, 0.5, 0, 0, None],
        "reference_overlap": [0.5, 0.25, 0.5, 0.25, None, None],
        "refusal_accuracy": [1, 0, 1, 1, 0, 1],
    },
    FREE: {"citation_f1": [0] * 6, "reference_overlap": [0.1] * 6, "refusal_accuracy": [1] * 6},
}
FLOORS = {
    "cite_all": {"citation_f1": 0.5, "reference_overlap": 0.2, "refusal_accuracy": [1, 0, 1, 0, 1, 0]},
    "refuse_all": {"citation_f1": 0.0, "reference_overlap": None, "refusal_accuracy": [0, 1, 0, 1, 0, 1]},
}


def plain_rows() -> list[dict]:
    made = handmade.rows(VALUES)
    for i, (row, (ref, gen, stop, _)) in enumerate(zip(made, PLAIN, strict=True)):
        row["reference"] = {
            "text": ref,
            "values": {"citation_f1": 1.0, "reference_overlap": 1.0, "refusal_accuracy": 1},
        }
        row["runs"][SERVED].update(generation=gen, stop_reason=stop)
        row["runs"][FREE]["generation"] = ref
        row["floors"] = {
            f: {
                "generation": "floor",
                "values": {m: (v[i] if isinstance(v, list) else v) for m, v in per.items()},
            }
            for f, per in FLOORS.items()
        }
    return made


def distractor_rows() -> list[dict]:
    made = handmade.rows({SERVED: {"citation_f1": [0, 1]}, FREE: {"citation_f1": [0, 0]}}, split="distractors")
    for row in made:
        row["reference"]["text"] = row["runs"][SERVED]["generation"] = answer("Seven [1].", [1])
    return made


def make_project(folder: Path) -> Path:
    """A project folder as the eval and train stages leave it (default params)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    all_rows = plain_rows() + distractor_rows()
    for sub in ("eval", "reports", "dvclive/plots/metrics/eval"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in all_rows))
    metrics = evalrows.headline_metrics(plain_rows(), [FREE, SERVED])  # what the eval stage writes
    (folder / "metrics.json").write_text(json.dumps(metrics))
    speed = {"seconds": 12.5, "new_tokens": 300, "tokens_per_s": 24.0, "ms_per_token": 41.7, "steps": 80}
    report = {
        "max_new_tokens": 1792,
        "max_new_tokens_auto": True,
        "longest_reference_tokens": 1527,
        SERVED: {**speed, "ms_per_step": 150.0},
        FREE: {**speed, "ms_per_step": 140.0},
        "constrained_cost": {"adapter": 1.2},
        "metric_definitions": 3,
        "splits": {"distractors": {"generation": {SERVED: {"seconds": 7.5, "new_tokens": 90}}}},
    }
    (folder / "reports/eval.json").write_text(json.dumps(report))
    train = {"optimizer_steps": 42, "train_loss": 1.5, "eval_loss": 1.25, "train_tokens": 469464, "other": 1}
    (folder / "reports/train.json").write_text(json.dumps(train))
    (folder / "dvclive/plots/metrics/loss.tsv").write_text("step\tloss\n1\t2.123456\n2\t1.5\n")
    (folder / "dvclive/plots/metrics/eval/loss.tsv").write_text("step\tloss\n14\t1.25\n")
    return folder


STATE = {"git_commit": "abc123", "machine": "test", "data_md5": {"kwanzaa_train.jsonl": "x"}, "wall_s": 10.04}


def test_collect_reads_every_figure_from_the_rows(tmp_path):
    r = bq.collect(make_project(tmp_path), STATE, "distractors2")

    assert r["metric_definitions"] == 3 and r["runs"] == [FREE, SERVED] and r["served_run"] == SERVED
    plain, distractors = r["splits"]["plain"], r["splits"]["distractors"]
    assert r["split_cost"] == {"plain": None, "distractors": {SERVED: {"seconds": 7.5, "new_tokens": 90}}}
    assert plain["prompts"] == 6 and distractors["prompts"] == 2
    served = plain["runs"][SERVED]
    assert served["headline"] == {
        "citation_f1": {"value": 0.3, "n": 5},
        "reference_overlap": {"value": 0.375, "n": 4},
        "refusal_accuracy": {"value": 0.6667, "n": 6},
    }
    assert served["metrics"] == served["headline"]  # no other metric has a value in these rows
    assert served["by_category"]["grounded"]["citation_f1"] == {"value": 0.5, "n": 3}
    assert served["by_category"]["refusal"]["refusal_accuracy"] == {"value": 0.6667, "n": 3}
    assert plain["runs"][FREE]["headline"]["reference_overlap"] == {"value": 0.1, "n": 6}
    assert plain["reference"]["metrics"]["citation_f1"] == {"value": 1.0, "n": 6}
    assert plain["floors"]["refuse_all"] == {
        "citation_f1": {"value": 0.0, "n": 6},
        "refusal_accuracy": {"value": 0.5, "n": 6},
    }
    # the best floor per headline metric (a tie goes to the first floor) and the verdicts, in words
    assert plain["best_floor"] == {
        "citation_f1": {"floor": "cite_all", "value": 0.5, "n": 6},
        "reference_overlap": {"floor": "cite_all", "value": 0.2, "n": 6},
        "refusal_accuracy": {"floor": "cite_all", "value": 0.5, "n": 6},
    }
    assert plain["verdicts"][0] == (
        "citation_f1: adapter_constrained 0.300 does NOT beat the best floor (cite_all 0.500), an answer built from "
        "the prompt alone"
    )
    # "beats" only where the paired test of the two figures says better; a higher figure within noise is not a win
    assert plain["verdicts"][1:] == [
        "reference_overlap: adapter_constrained 0.375 beats the best floor (cite_all 0.200): 95% CI [+0.050, +0.300], "
        "n = 6",
        "refusal_accuracy: adapter_constrained 0.667 does NOT beat the best floor (cite_all 0.500) beyond noise "
        "(p = 1, n = 6): no better than an answer built from the prompt alone",
    ]
    assert distractors["runs"][SERVED]["headline"] == {"citation_f1": {"value": 0.5, "n": 2}}
    # the served run's failure classes, each from its generation and the row's reference
    assert plain["failures"] == {"run": SERVED, **{c: 1 for c in bq.CLASSES}}
    assert distractors["failures"] == {"run": SERVED, "ok": 2, **{c: 0 for c in bq.CLASSES[1:]}}
    assert [e["id"] for e in plain["failure_excerpts"]["truncated"]] == ["eval-00004"]
    assert plain["stop_reasons"] == {SERVED: {"eot": 5, "length": 1}, FREE: {"eot": 6}}
    # the headline is metrics.json; speed from the eval report; the train report; DVCLive's curves
    assert r["headline"]["adapter_constrained.citation_f1"] == 0.3 and r["headline"]["floor.citation_f1"] == 0.5
    assert r["speed"][SERVED]["ms_per_step"] == 150.0 and r["speed"]["constrained_cost"] == {"adapter": 1.2}
    assert r["budget"] == {"max_new_tokens": 1792, "max_new_tokens_auto": True, "longest_reference_tokens": 1527}
    assert r["train"]["optimizer_steps"] == 42 and "other" not in r["train"]
    assert r["loss_curve"] == {"train": [[1, 2.1235], [2, 1.5]], "eval": [[14, 1.25]]}
    assert r["records"]["file"] == "quality-d3-distractors2.records.jsonl" and r["records"]["rows"] == 8
    assert r["wall_s"] == 10.0


def test_the_result_names_its_records_copied_beside_it(tmp_path):
    project = make_project(tmp_path / "project")
    result = bq.collect(project, STATE, "default")
    out = bq.write_result(project, result, tmp_path / "results")

    assert out == tmp_path / "results/quality-d3.json" and json.loads(out.read_text()) == result
    records = tmp_path / "results/quality-d3.records.jsonl"
    assert records.read_bytes() == (project / "eval/predictions.jsonl").read_bytes()
    assert hashlib.sha256(records.read_bytes()).hexdigest() == result["records"]["sha256"]
    # anyone can rescore them: the project's aggregation of the records gives the result's figures
    rescored = evalrows.split_report([json.loads(x) for x in records.read_text().splitlines()][:6])
    assert rescored["metrics"]["adapter_constrained.citation_f1"] == 0.3
    assert "| **citation_f1** | 0.000 (6) | 0.300 (5) | 0.500 (cite_all) | 1.000 (6) |" in bq.markdown(result)


def test_outputs_of_other_definitions_or_another_eval_are_refused(tmp_path):
    project = make_project(tmp_path)
    metrics = json.loads((project / "metrics.json").read_text())
    (project / "metrics.json").write_text(json.dumps({**metrics, "adapter_constrained.citation_f1": 0.31}))
    with pytest.raises(bq.BenchInputError, match="adapter_constrained.citation_f1"):
        bq.collect(project, STATE, "x")
    report = json.loads((project / "reports/eval.json").read_text())
    (project / "reports/eval.json").write_text(json.dumps({**report, "metric_definitions": 2}))
    with pytest.raises(bq.BenchInputError, match="metric_definitions 2, expected 3; rerun with --refresh-code"):
        bq.collect(project, STATE, "x")


def test_help_runs_without_the_model():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--refresh-code" in proc.stdout
