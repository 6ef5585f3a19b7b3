"""Faults and attacks: Hub errors and dropped connections, a killed training run, a full disk, template text in
data, the token in error messages. Each case is listed in RELIABILITY.md with what the tool does."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.hub import client as hub_mod
from kwanzaa_hub.hub import versions as hub_versions
from kwanzaa_hub.stages import push as push_stage
from tests.conftest import HUB_TOKEN
from tests.helpers import FAST, params_for

COMMIT = r"^/api/models/[^/]+/[^/]+/commit/"
PREUPLOAD = r"^/api/models/[^/]+/[^/]+/preupload/"
LIBRARY_TRIES = 6  # huggingface_hub's http_backoff: the request and its 5 retries (max_retries=5)


def statuses(hub, pattern: str) -> list[int]:
    return [s for m, p, s in hub.log if re.search(pattern, p.split("?")[0])]


def tags_of(repo_id: str) -> dict[str, str]:
    from huggingface_hub import HfApi

    return {t.name: t.target_commit for t in HfApi().list_repo_refs(repo_id).tags}


@pytest.mark.parametrize("status, headers", [(429, {"Retry-After": "0"}), (500, {}), (503, {})])
def test_transient_hub_errors_are_retried(outputs, hub, repo_id, status, headers):
    hub.log.clear()
    hub.inject("POST", COMMIT, status=status, times=2, headers=headers)
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert receipt["pushed"] and tags_of(repo_id) == {"v1": receipt["commit"]}
    assert statuses(hub, COMMIT) == [status, status, 200]


def test_a_hub_that_stays_down_fails_cleanly_with_no_tag_and_no_outputs(outputs, hub, repo_id):
    hub.inject("POST", COMMIT, status=503, times=99)
    hub.log.clear()
    with pytest.raises(hub_mod.HubError, match=r"(?s)\(503\).*rerun later"):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert statuses(hub, COMMIT) == [503] * FAST.attempts  # the commit POST is sent once by the library: ours
    assert tags_of(repo_id) == {}
    assert not Path("reports/push.json").exists() and not Path("MODEL_CARD.md").exists()
    hub.faults.clear()
    receipt = push_stage.run(params_for(repo_id), retry=FAST)  # the rerun completes the version
    assert tags_of(repo_id) == {"v1": receipt["commit"]}


@pytest.mark.parametrize(
    "method, pattern, then",
    [("GET", r"^/api/whoami-v2$", 200), ("GET", r"^/api/models/[^/]+/[^/]+$", 404)]  # 404: the repo is new
    + [("POST", r"^/api/repos/create$", 200), ("GET", r"/refs$", 200), ("POST", r"^/api/validate-yaml$", 200)],
)
def test_a_request_the_library_sends_once_is_retried_by_us(outputs, hub, repo_id, method, pattern, then):
    hub.log.clear()
    hub.inject(method, pattern, status=503, times=1)
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert tags_of(repo_id) == {"v1": receipt["commit"]}
    assert [s for m, p, s in hub.log if m == method and re.search(pattern, p.split("?")[0])][:2] == [503, then]


def test_a_transient_fault_the_library_retries_is_retried_by_it_alone(outputs, hub, repo_id):
    hub.log.clear()
    hub.inject("POST", PREUPLOAD, status=503, times=2)
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert tags_of(repo_id) == {"v1": receipt["commit"]}
    assert statuses(hub, PREUPLOAD) == [503, 503, 200] and statuses(hub, COMMIT) == [200]


def test_a_fault_the_library_retries_that_stays_is_tried_by_it_alone(outputs, hub, repo_id):
    """The preupload goes through huggingface_hub's backoff: 6 tries, not 6 per try of ours (24 with FAST)."""
    hub.log.clear()
    hub.inject("POST", PREUPLOAD, status=503, times=99)
    with pytest.raises(hub_mod.HubError, match=r"(?s)\(503\).*rerun later"):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert statuses(hub, PREUPLOAD) == [503] * LIBRARY_TRIES and statuses(hub, COMMIT) == []
    assert tags_of(repo_id) == {}


@pytest.mark.parametrize("status, message", [(413, "too large"), (403, "cannot write"), (400, "400")])
def test_permanent_hub_errors_are_not_retried(outputs, hub, repo_id, status, message):
    hub.log.clear()
    hub.inject("POST", COMMIT, status=status, times=1)
    with pytest.raises(hub_mod.HubError, match=message):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert statuses(hub, COMMIT) == [status]
    assert tags_of(repo_id) == {}


def test_a_409_on_the_tag_of_a_fresh_version_is_an_error_not_a_silent_success(outputs, hub, repo_id):
    hub.inject("POST", r"/tag/", status=409, times=1)
    with pytest.raises(hub_mod.HubError, match="409"):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert tags_of(repo_id) == {}
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert tags_of(repo_id) == {"v1": receipt["commit"]}


def test_missing_repo_and_missing_version_say_what_to_do(hub, tmp_path, outputs, repo_id):
    from kwanzaa_hub.hub.pull import pull

    with pytest.raises(hub_mod.HubError, match="does not exist or this token cannot see it"):
        pull("tester/no-such-repo", "v1", tmp_path / "a")
    push_stage.run(params_for(repo_id), retry=FAST)
    with pytest.raises(
        hub_mod.HubError, match=f"has no version 'v9' \\(versions: v1\\).*kwanzaa-hub versions {repo_id}"
    ):
        pull(repo_id, "v9", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.slow
def test_connection_reset_mid_upload_then_a_rerun_completes_the_version(outputs, hub, repo_id):
    # the LFS upload of the adapter keeps dropping: the push fails and tags nothing
    hub.inject("PUT", r"^/lfs-upload/", action="reset", times=99)
    hub.log.clear()
    with pytest.raises(hub_mod.HubError):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert statuses(hub, r"^/lfs-upload/") == [0] * LIBRARY_TRIES  # the library's backoff alone (0: dropped)
    assert tags_of(repo_id) == {}
    # one more drop, then the network is back: the rerun completes v1, exactly one tag on a full commit
    hub.faults.clear()
    hub.inject("PUT", r"^/lfs-upload/", action="reset", times=1)
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert tags_of(repo_id) == {"v1": receipt["commit"]}
    assert hub_versions.read_json(repo_id, hub_versions.MANIFEST, "v1") == receipt["manifest"]
    from huggingface_hub import HfApi

    assert set(receipt["files"]) <= set(HfApi().list_repo_files(repo_id, revision="v1"))


def test_a_truncated_download_is_retried_and_verified(outputs, hub, repo_id, tmp_path):
    from kwanzaa_hub.hub.pull import pull

    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    hub.log.clear()
    hub.inject("GET", r"/resolve/[^/]+/adapter_model\.safetensors$", action="truncate", times=1)
    out = pull(repo_id, "v1", tmp_path / "pulled")
    assert (
        hub_versions.sha256_file(out / "adapter_model.safetensors") == receipt["manifest"]["adapter_model.safetensors"]
    )
    # the library resumes the dropped transfer once; nothing retries the download around it
    assert len([s for m, p, s in hub.log if m == "GET" and p.endswith("adapter_model.safetensors")]) == 2


def test_a_5xx_on_a_downloads_get_is_retried_once_by_us(outputs, hub, repo_id, tmp_path, monkeypatch):
    """The library retries a download's GET on 408/429 only: a 503 there is ours to retry, exactly once."""
    from kwanzaa_hub.hub.pull import pull

    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    hub.log.clear()
    hub.inject("GET", r"/resolve/[^/]+/adapter_model\.safetensors$", status=503, times=1)
    out = pull(repo_id, "v1", tmp_path / "pulled")
    assert (
        hub_versions.sha256_file(out / "adapter_model.safetensors") == receipt["manifest"]["adapter_model.safetensors"]
    )
    gets = [s for m, p, s in hub.log if m == "GET" and p.endswith("adapter_model.safetensors")]
    assert gets == [503, 200]


def test_the_token_is_scrubbed_from_hub_error_messages(outputs, hub, repo_id):
    hub.inject("POST", COMMIT, status=400, times=1, headers={"X-Error-Message": f"bad header Bearer {HUB_TOKEN}"})
    with pytest.raises(hub_mod.HubError) as exc:
        push_stage.run(params_for(repo_id), retry=FAST)
    assert HUB_TOKEN not in str(exc.value)


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_and_the_adapter_loads(make_dvc_project):
    project = make_dvc_project({"train.max_steps": 24, "train.gradient_accumulation_steps": 1, "train.save_steps": 2})
    subprocess.run([sys.executable, "-m", "dvc", "repro", "data"], cwd=project, check=True, capture_output=True)
    proc = subprocess.Popen(
        ["kwanzaa-hub", "train"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = project / "checkpoints/checkpoint-4/trainer_state.json"
    deadline = time.monotonic() + 240
    while not marker.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert marker.is_file() and not (project / "models/adapter").exists()
    rerun = subprocess.run(["kwanzaa-hub", "train"], cwd=project, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    report = json.loads((project / "reports/train.json").read_text())
    assert report["resumed_from_step"] >= 4 and report["optimizer_steps"] == 24
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(project / "models/base"), str(project / "models/adapter")
    )
    assert any("lora_A" in n for n, _ in model.named_parameters())


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_leaves_no_outputs(tmp_path, monkeypatch, example_samples, tiny_model_dir):
    from tests.conftest import write_jsonl

    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0][:6])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1][:3])
    Path("params.yaml").write_text(f"model:\n  base: {tiny_model_dir}\n")
    runner = CliRunner()
    assert runner.invoke(app, ["data"]).exit_code == 0  # a good run first: outputs exist
    assert Path("data/prepared").is_dir() and Path("reports/data.json").is_file()
    monkeypatch.setattr("kwanzaa_hub.fs.atomic.os.fsync", _disk_full)  # the report write hits a full disk
    result = runner.invoke(app, ["data"])
    assert result.exit_code == 1 and "No space left on device" in result.output
    assert not Path("data/prepared").exists() and not Path("reports/data.json").exists()
    assert not [p for p in tmp_path.rglob(".*") if p.name.startswith((".data.json", ".prepared"))]


def test_template_syntax_in_data_stays_text_through_the_data_stage(
    tmp_path, monkeypatch, example_samples, tiny_tokenizer
):
    """The data stage renders every sample through the chat template: text that looks like Jinja stays text in
    the prepared dataset and in the rendered tokens (it is never evaluated by the project's rendering)."""
    from datasets import load_from_disk

    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.runtime import chat
    from kwanzaa_hub.stages import data as data_stage
    from tests.conftest import write_jsonl

    payload = "{{ 7 * 7 }} {% for x in range(3) %}loop{% endfor %} {{ raise_exception('boom') }}"
    sample = json.loads(json.dumps(example_samples[0][0]))
    sample["messages"][1]["content"] = sample["messages"][1]["content"].replace("Query:", f"{payload}\nQuery:", 1)
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "train.jsonl", [sample, *example_samples[0][1:4]])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1][:2])
    raw = {"data": {"train_file": str(tmp_path / "train.jsonl"), "eval_file": str(tmp_path / "eval.jsonl")}}
    params = parse_params(raw)
    data_stage.run(params, tokenizer=tiny_tokenizer)
    row = load_from_disk("data/prepared")["train"][0]
    assert payload in row["prompt"][-1]["content"]
    rendered = chat.render_text(tiny_tokenizer, row["prompt"], params.model.chat_date, add_generation_prompt=True)
    assert payload in rendered and "49" not in rendered and "looploop" not in rendered


def test_explain_never_repeats_the_token(hub):
    message = str(hub_mod.explain(RuntimeError(f"boom: Authorization: Bearer {HUB_TOKEN}"), "pushing", "tester/x"))
    assert HUB_TOKEN not in message and "Bearer ***" in message
