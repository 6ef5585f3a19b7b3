"""The DVC pipeline run for real in a temp git + DVC project (the same path as `kwanzaa-hub demo`)."""

import hashlib
import json

import yaml

from kwanzaa_hub import example_data
from kwanzaa_hub.project import dvc
from tests.conftest import REPO


def test_bundled_remote_holds_exactly_the_generated_example_data(tmp_path):
    """data.dvc + example_remote/ serve the files the generator writes, so `dvc pull` works offline."""
    for path in example_data.write(tmp_path):
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        assert (REPO / "example_remote/files/md5" / md5[:2] / md5[2:]).is_file(), path.name
    out = yaml.safe_load((REPO / "data.dvc").read_text())["outs"][0]
    assert out["path"] == "data/raw" and out["nfiles"] == 2


def test_example_data_is_deterministic_and_big_enough(tmp_path):
    a = [p.read_bytes() for p in example_data.write(tmp_path / "a")]
    b = [p.read_bytes() for p in example_data.write(tmp_path / "b")]
    assert a == b
    train, held = example_data.build()
    assert len(train) >= 40 and len(held) >= 12
    kinds = {json.loads(s["messages"][-1]["content"])["answer"]["completeness"] for s in held}
    assert kinds == {"complete", "partial", "insufficient_data"}


def test_dvc_repro_data_then_metrics_show(make_dvc_project):
    project = make_dvc_project()
    proc = dvc("repro", "data", cwd=project, capture=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "data/prepared/dataset_dict.json").is_file()
    shown = dvc("metrics", "show", "--json", cwd=project, capture=True)
    metrics = json.loads(shown.stdout)
    data = next(iter(metrics.values()))["data"]["reports/data.json"]["data"]
    assert data["train"]["samples"] == 66 and data["eval"]["samples"] == 24
    # nothing changed: a second repro runs nothing
    again = dvc("repro", "data", cwd=project, capture=True)
    assert "didn't change, skipping" in again.stdout


def test_dvc_repro_whole_pipeline_on_the_tiny_model(make_dvc_project):
    project = make_dvc_project({"train.max_steps": 2, "train.gradient_accumulation_steps": 1,
                                "eval.max_new_tokens": 8, "eval.batch_size": 8})
    proc = dvc("repro", cwd=project, capture=True, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (project / "models/adapter/adapter_model.safetensors").is_file()
    metrics = json.loads(dvc("metrics", "show", "--json", cwd=project, capture=True).stdout)
    files = next(iter(metrics.values()))["data"]
    assert files["reports/train.json"]["data"]["optimizer_steps"] == 2
    plots = dvc("plots", "show", "--json", cwd=project, capture=True, check=False)
    assert plots.returncode == 0 and "loss" in plots.stdout and "eval/plot.json" in plots.stdout
    m = files["metrics.json"]["data"]
    for run in ("base", "adapter"):
        for key in ("format_compliance", "json_valid_rate", "citation_precision", "citation_recall", "citation_f1",
                    "source_url_valid", "grounded_sentence_rate", "unsupported_number_rate", "refusal_recall",
                    "false_refusal_rate", "refusal_accuracy"):
            assert 0.0 <= m[f"{run}.{key}"] <= 1.0, (run, key)
        assert f"{run}.refusal.refusal_accuracy" in m  # per-category breakdown
    rows = [json.loads(l) for l in (project / "eval/predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 24
    assert set(rows[0]) == {"id", "category", "prompt_sha256", "reference", "base", "adapter"}
    assert rows[0]["adapter"]["parse_status"] in ("ok", "invalid_json", "contract_violation")
    diff = dvc("metrics", "diff", cwd=project, capture=True, check=False)
    assert diff.returncode == 0
