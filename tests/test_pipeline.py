"""The DVC pipeline run for real in a temp git + DVC project (the same path as `kwanzaa-hub demo`)."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kwanzaa_hub.devtools import example_data
from kwanzaa_hub.devtools.project import dvc
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


@pytest.mark.slow
def test_dvc_repro_data_then_metrics_show(make_dvc_project):
    project = make_dvc_project()
    proc = dvc("repro", "data", cwd=project, capture=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (project / "data/prepared/dataset_dict.json").is_file()
    data = json.loads((project / "reports/data.json").read_text())  # a report, not a DVC metric (the eval's headline)
    assert data["train"]["samples"] == 66 and data["eval"]["samples"] == 24
    # nothing changed: a second repro runs nothing
    again = dvc("repro", "data", cwd=project, capture=True)
    assert "didn't change, skipping" in again.stdout


def _run(project, *args):
    proc = subprocess.run(list(args), cwd=project, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


TEAM_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "kwanzaa-data" / "answer_json.schema.json"


@pytest.mark.slow
def test_dvc_repro_whole_pipeline_pushes_versions_that_load_back(make_dvc_project, hub, repo_id):
    """data -> train -> eval -> push v1; changed params -> v2; diff; immutability; privacy; no token anywhere."""
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import kwanzaa_hub
    from tests.conftest import HUB_TOKEN
    from tests.helpers import greedy, listed_prompts, moved_prompts

    project = make_dvc_project(
        {
            "train.max_steps": 2,
            "train.gradient_accumulation_steps": 1,
            "eval.max_new_tokens": 8,
            "eval.allow_truncation": True,
            "eval.batch_size": 8,
            "eval.team_schema": str(TEAM_SCHEMA) if TEAM_SCHEMA.is_file() else "",
            "hub.repo_id": repo_id,
        }
    )
    logs = []
    rc, out = _run(project, sys.executable, "-m", "dvc", "repro")
    logs.append(out)
    assert rc == 0, out[-4000:]
    # the console as a log file holds it (stderr not a terminal): lines, never `\r` frames, and one line a person
    # reads per logged step, not the trainer's raw keys
    assert "\r" not in out
    assert re.search(
        r"^step 1/\d+  loss \d+\.\d{4}  lr (\S+|0 \(warm-up\))  [\d,]+ tokens/s  eta \d+:\d\d$", out, re.M
    ), out[-4000:]
    assert "num_input_tokens_seen" not in out and "entropy" not in out
    assert (project / "models/adapter/adapter_model.safetensors").is_file()
    metrics = json.loads(dvc("metrics", "show", "--json", cwd=project, capture=True).stdout)
    files = next(iter(metrics.values()))["data"]
    from kwanzaa_hub.stages.eval import HEADLINE_FILES

    assert set(files) == set(HEADLINE_FILES.values())  # the DVC metrics: the headline a person compares
    assert json.loads((project / "reports/train.json").read_text())["optimizer_steps"] == 2
    plots = dvc("plots", "show", "--json", cwd=project, capture=True, check=False)
    assert plots.returncode == 0, plots.stderr
    # what a person reads: loss (train and eval) and learning rate, their offline picture, the eval chart; not
    # DVCLive's 16 curves (total_flos, epoch, num_tokens, ...)
    shown = json.loads(plots.stdout)["data"]
    assert set(shown) == {"loss", "learning_rate", "dvclive/curves.svg", "eval/plot.json"}
    loss_files = {row["filename"] for row in shown["loss"][0]["content"]["data"]["values"]}
    assert loss_files == {"train/loss.tsv", "eval/loss.tsv"}
    svg = (project / "dvclive/curves.svg").read_text()
    assert svg.startswith("<svg") and "train loss" in svg and "eval loss" in svg and "(none logged)" not in svg
    # metrics.json: the headline set of every run (base, adapter, free and constrained) and of the best floor
    from kwanzaa_hub.contract.metrics import registry

    headline = json.loads((project / "metrics.json").read_text())
    assert files[HEADLINE_FILES["served"]]["data"] == {
        k: headline[f"adapter_constrained.{k}"] for k in registry.HEADLINE
    }
    assert files[HEADLINE_FILES["base"]]["data"] == {k: headline[f"base_constrained.{k}"] for k in registry.HEADLINE}
    assert files[HEADLINE_FILES["floor"]]["data"] == {k: headline[f"floor.{k}"] for k in registry.HEADLINE}
    assert set(headline) == {f"{r}.{k}" for r in (*registry.RUNS, registry.FLOOR) for k in registry.HEADLINE}
    details = json.loads((project / "eval/details.json").read_text())
    m = details["metrics"]
    assert {k: m[k] for k in headline if not k.startswith("floor.")} == {
        k: v for k, v in headline.items() if not k.startswith("floor.")
    }
    for run in registry.RUNS:
        for key in ("format_compliance", "json_valid_rate", "citation_validity", "refusal_accuracy", "answer_rate"):
            assert 0.0 <= m[f"{run}.{key}"] <= 1.0, (run, key)
        assert f"{run}.refusal.refusal_accuracy" in m  # per-category breakdown
    rows = [json.loads(line) for line in (project / "eval/predictions.jsonl").read_text().splitlines()]
    assert [r["split"] for r in rows] == ["plain"] * 24 + ["distractors"] * 24  # eval.distractors: 2 by default
    assert set(rows[0]) == {"key", "id", "category", "split", "mapping", "reference", "runs", "floors", "prompt_sha256"}
    assert set(rows[0]["runs"]) == set(registry.RUNS)
    # truncation is counted per generation and reported: metrics, predictions and the eval report agree
    report = json.loads((project / "reports/eval.json").read_text())
    assert report["max_new_tokens"] == 8 and report["max_new_tokens_auto"] is False
    for run in registry.RUNS:
        cut = sum(r["runs"][run]["stop_reason"] == "length" for r in rows if r["split"] == "plain")
        assert m[f"{run}.truncated_rate"] == round(cut / 24, 4) and report[run]["stop_reasons"]["length"] == cut
        assert report[run]["ms_per_token"] > 0 and report[run]["ms_per_step"] > 0
    assert set(report["constrained_cost"]) == set(report["constrained_cost_per_step"]) == {"base", "adapter"}
    # the metric definitions, the n behind each metric and what each constrained run's request schemas cost
    from kwanzaa_hub.contract.metrics import suite

    assert report["metric_definitions"] == details["metric_definitions"] == suite.DEFINITIONS == 3
    assert report["n"]["adapter.refusal_accuracy"] == 24 and report["splits"]["plain"]["yardstick_failures"] == []
    assert set(report["request_schema"]) == {"base_constrained", "adapter_constrained"}
    assert all(c["requests"] == 24 and c["ms_per_request"] > 0 for c in report["request_schema"].values())
    if TEAM_SCHEMA.is_file():  # scored beside format_compliance for every run
        assert all(0.0 <= m[f"{run}.team_schema_valid"] <= 1.0 for run in registry.RUNS)
        assert report["team_schema"]["sha256"]
    assert list(headline)[:3] == [f"adapter.{k}" for k in ("citation_f1", "reference_overlap", "refusal_accuracy")]

    # v1 is on the Hub, private, and loads back to the same generations as the local adapter
    receipt = json.loads((project / "reports/push.json").read_text())
    api = HfApi()
    assert receipt["pushed"] and api.model_info(repo_id).private
    assert {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags} == {"v1": receipt["commit"]}
    base = str(project / "models/base")
    tok = AutoTokenizer.from_pretrained(project / "models/adapter")
    local = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(project / "models/adapter"))
    remote, remote_tok = kwanzaa_hub.load(repo_id, "v1", base_model=base)
    assert greedy(remote, remote_tok) == greedy(local, tok)
    card = (project / "MODEL_CARD.md").read_text()
    assert "| **citation_f1** |" in card and 'revision="v1"' in card
    assert "adapter, schema-constrained" in card and '"type": "json_schema"' in card

    # v2: changed params (another adapter), evaluated and reviewed against v1 before it is pushed, then pushed
    v1_rows = rows
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["learning_rate"] = 2.0e-4
    params["hub"]["version"] = "v2"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rc, out = _run(project, sys.executable, "-m", "dvc", "repro", "eval")
    logs.append(out)
    assert rc == 0, out[-4000:]
    v2_rows = [json.loads(line) for line in (project / "eval/predictions.jsonl").read_text().splitlines()]
    rc, workspace = _run(project, "kwanzaa-hub", "diff", repo_id, "v1", "--workspace", "--examples")
    assert rc == 0, workspace
    assert listed_prompts(workspace) == moved_prompts(v1_rows, v2_rows)
    rc, out = _run(project, sys.executable, "-m", "dvc", "repro")
    logs.append(out)
    assert rc == 0, out[-4000:]
    assert sorted(t.name for t in api.list_repo_refs(repo_id).tags) == ["v1", "v2"]
    rc, out = _run(project, "kwanzaa-hub", "diff", repo_id, "v1", "v2")
    logs.append(out)
    assert rc == 0 and "adapter_constrained.citation_f1" in out and "v1" in out and "v2" in out, out
    rc, out = _run(project, "kwanzaa-hub", "diff", repo_id, "v1", "v2", "--examples")
    logs.append(out)
    assert rc == 0 and listed_prompts(out) == moved_prompts(v1_rows, v2_rows), out
    assert "## Changes since v1" in (project / "MODEL_CARD.md").read_text()
    rc, out = _run(project, "kwanzaa-hub", "versions", repo_id)
    assert rc == 0 and "v1" in out and "v2" in out, out

    # the same files again: a no-op; v2's files under the v1 tag: refused, v1 untouched
    rc, out = _run(project, "kwanzaa-hub", "push")
    logs.append(out)
    assert rc == 0 and "nothing to do" in out, out
    params["hub"]["version"] = "v1"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rc, out = _run(project, "kwanzaa-hub", "push")
    logs.append(out)
    assert rc == 2 and "bump hub.version" in out, out
    assert {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags}["v1"] == receipt["commit"]

    # private: anonymous reads fail
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "metrics.json", revision="v1", token=False, cache_dir=project / ".anon-cache")

    # the token is in no output, log, lock, report, card or dvclive file
    for text in logs:
        assert HUB_TOKEN not in text
    for path in project.rglob("*"):
        if path.is_file():
            assert HUB_TOKEN.encode() not in path.read_bytes(), path
