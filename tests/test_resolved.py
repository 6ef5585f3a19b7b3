"""Paths judged as the filesystem resolves them, markers that name their output, the base model as an input,
params edits that keep the file whole, Hub errors named by what happened (issue 19).

Each test is a row of RELIABILITY.md's "Paths resolved, markers named" table and fails when its fix is taken out.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.errors import InputError, ParamsError
from kwanzaa_hub.fs import ownership as out_mod
from kwanzaa_hub.hub import client as hub_mod
from kwanzaa_hub.hub import versions
from kwanzaa_hub.stages import push as push_stage
from tests.helpers import FAST, params_for


def _mine(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("my model")
    (folder / "notes.txt").write_text("my notes")
    return {p.name: p.read_text() for p in folder.iterdir()}


def _same(folder: Path, before: dict[str, str]) -> bool:
    return {p.name: p.read_text() for p in folder.iterdir()} == before


# ------------------------------------------------------------------------------ High: '..' through a new folder


def test_pull_out_through_a_folder_that_does_not_exist_leaves_the_users_folder(outputs, hub, repo_id, tmp_path):
    push_stage.run(params_for(repo_id), retry=FAST)
    before = _mine(tmp_path / "mine")
    result = CliRunner().invoke(app, ["pull", repo_id, "--out", str(tmp_path / "nx" / ".." / "mine")])
    assert result.exit_code == 2, result.output
    assert "contains '..'" in result.output
    assert _same(tmp_path / "mine", before) and not (tmp_path / "nx").exists()


def test_tiny_model_through_a_folder_that_does_not_exist_leaves_the_users_model(tmp_path):
    before = _mine(tmp_path / "mybase")
    result = CliRunner().invoke(app, ["tiny-model", str(tmp_path / "nx" / ".." / "mybase")])
    assert result.exit_code == 2, result.output
    assert "contains '..'" in result.output
    assert _same(tmp_path / "mybase", before) and not (tmp_path / "nx").exists()


@pytest.mark.parametrize("mirror", ["/tmp/nx/../mine", "/tmp/x/../../home"])
def test_an_absolute_mirror_with_dotdot_is_a_params_error(mirror):
    with pytest.raises(ParamsError, match=r"train.checkpoint_mirror: .* contains '\.\.'"):
        parse_params({"train": {"checkpoint_mirror": mirror}})


def test_a_mirror_folder_is_judged_resolved_when_training_starts(tmp_path, monkeypatch):
    from kwanzaa_hub.longrun.mirror import DirMirror

    monkeypatch.chdir(tmp_path)
    before = _mine(tmp_path / "mine")
    with pytest.raises(InputError, match="contains '..'"):
        DirMirror(tmp_path / "nx" / ".." / "mine").check()
    assert _same(tmp_path / "mine", before) and not (tmp_path / "nx").exists()


def test_demo_and_example_data_refuse_dotdot(tmp_path):
    from kwanzaa_hub.devtools import example_data
    from kwanzaa_hub.devtools.project import make_project

    with pytest.raises(InputError, match="contains '..'"):
        make_project(tmp_path / "nx" / ".." / "proj")
    with pytest.raises(InputError, match="contains '..'"):
        example_data.write(tmp_path / "nx" / ".." / "raw")
    assert not (tmp_path / "nx").exists() and not (tmp_path / "proj").exists()


# ------------------------------------------------------------------------------ Medium: markers name their output


def test_pull_refuses_a_project_folder_made_by_demo(outputs, hub, repo_id, tmp_path):
    push_stage.run(params_for(repo_id), retry=FAST)
    project = tmp_path / "demo"
    out_mod.mark(project, "demo")
    (project / "params.yaml").write_text("train: {}\n")
    result = CliRunner().invoke(app, ["pull", repo_id, "--out", str(project)])
    assert result.exit_code == 2, result.output
    assert "was written by kwanzaa_hub for 'demo', not for 'pull'" in result.output
    assert (project / "params.yaml").read_text() == "train: {}\n"


def test_a_marker_that_names_no_output_is_refused_with_how_to_fix(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / out_mod.MARKER).write_text("")
    (folder / "x").write_text("1")
    with pytest.raises(InputError, match=r"for no output \(its marker names none\).* delete its \.kwanzaa-hub file"):
        out_mod.claim("pull", folder, "dir")
    out_mod.mark(folder, "demo")  # a marker naming its output: only that output may replace the folder
    assert out_mod.claim("demo", folder, "dir") == folder


# ------------------------------------------------------------------------------ Medium: the base model is an input


def test_a_base_rebuilt_in_place_changes_the_fingerprint(tmp_path, tiny_model_dir):
    import shutil

    from kwanzaa_hub.devtools.tiny import build_tiny_llama
    from kwanzaa_hub.runtime.models import base_identity
    from kwanzaa_hub.stages.train import fingerprint

    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    params = parse_params({"model": {"base": str(base)}})
    first = base_identity(str(base))
    build_tiny_llama(base, seed=1)  # same path, new weights
    second = base_identity(str(base))
    assert first["kind"] == second["kind"] == "local" and first["sha256"] != second["sha256"]
    assert fingerprint(params, tmp_path, first) != fingerprint(params, tmp_path, second)


def test_a_hub_base_is_resolved_to_its_commit(hub, repo_id, tmp_path):
    from huggingface_hub import HfApi

    from kwanzaa_hub.runtime.models import base_identity

    api = HfApi()
    api.create_repo(repo_id, private=True)
    first = api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id).oid
    assert base_identity(repo_id, "main") == {"kind": "hub", "revision": "main", "commit": first}
    second = api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=repo_id).oid
    assert base_identity(repo_id, "main")["commit"] == second != first


def test_eval_loads_a_hub_base_at_the_commit_train_trained_on(hub, repo_id, tmp_path, tiny_model_dir, monkeypatch):
    """main moves between train and eval (new weights pushed to the base's repo): eval still loads the commit the
    train stage recorded, and refuses a report of another base."""
    import torch
    from huggingface_hub import HfApi
    from transformers import AutoModelForCausalLM

    from kwanzaa_hub.stages.eval import load_models

    api = HfApi()
    api.create_repo(repo_id, private=True)
    first = api.upload_folder(folder_path=tiny_model_dir, repo_id=repo_id).oid
    trained = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    moved = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for weight in moved.parameters():
            weight.add_(1.0)
    moved.save_pretrained(tmp_path / "moved")
    api.upload_folder(folder_path=tmp_path / "moved", repo_id=repo_id)  # main now points at other weights
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "reports/train.json"
    report.parent.mkdir()
    report.write_text(json.dumps({"base_model": {"name": repo_id, "kind": "hub", "revision": "main", "commit": first}}))
    params = parse_params({"model": {"base": repo_id}})

    base, _, _ = load_models(params, str(tiny_model_dir))
    name = "model.embed_tokens.weight"
    assert torch.equal(base.state_dict()[name], trained[name])

    report.write_text(json.dumps({"base_model": {"name": "someone/else", "kind": "hub", "commit": first}}))
    with pytest.raises(InputError, match="trained on someone/else"):
        load_models(params, str(tiny_model_dir))


@pytest.mark.slow
def test_dvc_sees_a_local_base_rebuilt_in_place_and_train_trains_again(make_dvc_project):
    from kwanzaa_hub.devtools.tiny import build_tiny_llama

    project = make_dvc_project(
        {"train.max_steps": 1, "train.gradient_accumulation_steps": 1, "train.save_steps": 1}, name="p"
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def dvc(*args):
        cmd = [sys.executable, "-m", "dvc", *args]
        return subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)

    done = dvc("repro", "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first = json.loads((project / "reports/train.json").read_text())
    assert first["base_model"]["kind"] == "local" and first["restored"] is False
    build_tiny_llama(project / "models/base", seed=7)  # rebuilt in place: same path, new weights
    status = json.loads(dvc("status", "--json").stdout or "{}")
    assert "train" in {k.split(":")[-1] for k in status}
    done = dvc("repro", "-f", "train")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    second = json.loads((project / "reports/train.json").read_text())
    assert second["restored"] is False and second["base_model"]["sha256"] != first["base_model"]["sha256"]


# ------------------------------------------------------------------------------ Medium: Hub errors by what happened


def test_a_403_while_reading_a_file_is_named_and_not_retried(outputs, hub, repo_id, tmp_path, monkeypatch):
    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    faults = [
        hub.inject(m, r"/resolve/[0-9a-f]{40}/adapter_model.safetensors", status=403, times=10) for m in ("GET", "HEAD")
    ]
    result = CliRunner().invoke(app, ["pull", repo_id, "--out", str(tmp_path / "p")])
    assert result.exit_code == 1, result.output
    assert "(403)" in result.output and "refused this token read access" in result.output
    assert "could not be reached" not in result.output and "retrying" not in result.output
    assert sum(10 - f.times for f in faults) == 1  # asked once


def test_offline_mode_and_a_wrong_token_say_so(outputs, hub, repo_id, tmp_path, monkeypatch):
    from huggingface_hub import constants

    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    result = CliRunner().invoke(app, ["pull", repo_id, "--out", str(tmp_path / "a")])
    assert result.exit_code == 1 and "offline mode is on (HF_HUB_OFFLINE=1)" in result.output, result.output
    assert "retrying" not in result.output and "check the network" not in result.output
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    result = CliRunner().invoke(app, ["pull", repo_id, "--out", str(tmp_path / "b")])
    assert result.exit_code == 1 and "the token was rejected" in result.output, result.output


@pytest.mark.parametrize("name", ["/etc/hostname", "../../x", "a/../../x", "C:/x", "a\\..\\x"])
def test_a_manifest_path_outside_the_download_folder_is_refused(name):
    with pytest.raises(hub_mod.HubError, match="outside the download folder"):
        versions.check_manifest({name: "0" * 64, "adapter_model.safetensors": "1" * 64}, "r@v1")


# ------------------------------------------------------------------------------ Low: resolved overlap with inputs


def test_an_output_through_a_symlinked_parent_into_the_data_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "reports2").symlink_to(tmp_path / "data/raw")
    with pytest.raises(ParamsError, match=r"data.report: 'reports2/data.json' overlaps the input data.train_file"):
        parse_params({"data": {"report": "reports2/data.json"}})


@pytest.mark.parametrize("spelled", ["{root}/data/raw/kwanzaa_train.jsonl", "data/../data/raw/kwanzaa_train.jsonl"])
def test_overlap_with_an_absolute_or_dotdot_input_is_seen(tmp_path, monkeypatch, spelled):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match="train.output_dir: 'data/raw' overlaps the input data.train_file"):
        parse_params({"data": {"train_file": spelled.format(root=tmp_path)}, "train": {"output_dir": "data/raw"}})


# ------------------------------------------------------------------------------ Low: params parsed whole


@pytest.mark.parametrize("value", ["None", "Hub", "NONE", "null", "HUB"])
def test_mirror_keywords_are_exact(value):
    with pytest.raises(ParamsError, match="exactly 'hub' and 'none'"):
        parse_params({"train": {"checkpoint_mirror": value}})


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_seed_out_of_range_fails_at_parse_time(seed):
    with pytest.raises(ParamsError, match="train.seed"):
        parse_params({"train": {"seed": seed}})


def test_set_keeps_the_mode_and_writes_through_a_symlink(tmp_path):
    real = tmp_path / "shared" / "params.yaml"
    real.parent.mkdir()
    real.write_text("train:\n  seed: 1  # mine\n")
    real.chmod(0o640)
    link = tmp_path / "params.yaml"
    link.symlink_to(real)
    result = CliRunner().invoke(app, ["set", "train.seed=2", "--params", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text() == "train:\n  seed: 2  # mine\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_a_new_file_written_atomically_has_the_umasks_mode(tmp_path):
    from kwanzaa_hub.fs.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "metrics.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)
)


@pytest.mark.parametrize(
    "text, says",
    [
        ("train: [unclosed\n", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping of sections"),
        ("just text\n", "expected a mapping of sections"),
        ("train:\n  seed: 1\n  seed: 2\n", "'seed' is written twice"),
        ("data:\n  max_length: 10\ntrain:\n  seed: 1\ndata:\n  overflow: drop\n", "'data' is written twice"),
        (BOMB, "anchors and aliases"),
    ],
)
@pytest.mark.parametrize("command", [["set", "train.seed=3"], ["data"], ["train"], ["preflight"]])
def test_a_malformed_params_file_is_exit_2_with_one_line(tmp_path, monkeypatch, text, says, command):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(text)
    tracemalloc.start()
    result = CliRunner().invoke(app, command)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert peak < 20 * 2**20  # the alias bomb (9**7 items) is refused before it expands
    assert Path("params.yaml").read_text() == text


def test_the_alias_bomb_is_not_an_error_for_valid_params_without_aliases(tmp_path):
    """The strict loader accepts an ordinary params file, comments and all."""
    from kwanzaa_hub.config.params import load_params

    (tmp_path / "p.yaml").write_text("# c\ntrain:\n  seed: 7  # s\n")
    assert load_params(tmp_path / "p.yaml").train.seed == 7


def test_set_model_base_keeps_dvc_yaml_deps_in_step(tmp_path):
    """`kwanzaa-hub set model.base=<a local folder>` makes it a DVC dependency of data, train and eval (so a base
    rebuilt in place is seen by `dvc status`); setting a Hub id again removes that dependency."""
    import yaml

    repo = Path(__file__).resolve().parents[1]
    project = tmp_path / "project"
    project.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(repo / name, project / name)
    base = tmp_path / "base"
    base.mkdir()
    params = str(project / "params.yaml")

    def base_deps() -> dict[str, bool]:
        stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
        return {name: "${model.base}" in stage.get("deps", []) for name, stage in stages.items()}

    result = CliRunner().invoke(app, ["set", f"model.base={base}", "-p", params])
    assert result.exit_code == 0, result.output
    assert base_deps() == {"data": True, "train": True, "eval": True, "push": False}
    result = CliRunner().invoke(app, ["set", "model.base=meta-llama/Llama-3.2-1B-Instruct", "-p", params])
    assert result.exit_code == 0, result.output
    assert base_deps() == {"data": False, "train": False, "eval": False, "push": False}
