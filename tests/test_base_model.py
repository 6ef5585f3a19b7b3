"""One answer to "what does model.base name?" in every consumer (issue 28): params, runtime, card, preflight, `set`;
and a local base that DVC does not follow stops the stage that loads it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.base_model import base_ref, check_declared, declare_local_base
from kwanzaa_hub.config.params import load_params, with_overrides
from kwanzaa_hub.errors import InputError, KwanzaaError

REPO = Path(__file__).resolve().parents[1]
HUB_ID = "meta-llama/Llama-3.2-1B-Instruct"


@pytest.fixture
def forms(tmp_path, monkeypatch, tiny_model_dir):
    """A project folder (the working directory, as under `dvc repro`) and each way to name a base, with the kind
    it must be read as."""
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, project / name)
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(home))
    shutil.copytree(tiny_model_dir, project / "m")
    shutil.copytree(tiny_model_dir, home / "m")
    shutil.copytree(tiny_model_dir, tmp_path / "abs")
    (project / "m.gguf").write_bytes(b"GGUF")
    return project, {
        HUB_ID: "hub",
        "./m": "local",
        "m": "local",  # exists in the project
        "~/m": "local",
        str(tmp_path / "abs"): "local",
        "m.gguf": "gguf",
        "./missing": "local",
        "missing/folder/deeper": "local",  # not an id, not there
    }


def test_every_consumer_reads_each_form_of_model_base_the_same_way(forms, monkeypatch):
    from kwanzaa_hub.hub.card import base_display, base_load_args
    from kwanzaa_hub.runtime import models

    project, cases = forms
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: a Hub check fails, never hangs
    defaults = load_params(project / "params.yaml")
    for text, kind in cases.items():
        ref = base_ref(text)
        assert ref.kind == kind, text
        hub = kind == "hub"
        # params: a local base is an input (never an output's target), a Hub id is not
        inputs = dict(with_overrides(defaults, {"model.base": text}).inputs())
        assert (inputs.get("model.base") == text) is not hub, text
        # `set`: the stages that load it depend on it exactly when it is local
        result = CliRunner().invoke(app, ["set", f"model.base={text}", "-p", str(project / "params.yaml")])
        assert result.exit_code == 0, result.output
        stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
        assert ("${model.base}" in stages["train"]["deps"]) is not hub, text
        # card: a Hub id in the metadata and the load code, a local one by its name only (no machine path)
        assert (base_display(text) == text) is hub, text
        assert (base_load_args(text) == f'"{text}"') is hub, text
        assert str(project.parent) not in base_display(text) + base_load_args(text), text
        # runtime and preflight: a Hub id is checked on the Hub (and fails here: nothing listens), a local one is not
        if hub:
            with pytest.raises(KwanzaaError):
                models.check_access(text)
            assert models.resolve_base(text) == text
            continue
        models.check_access(text)  # no Hub request for a local base
        if not ref.exists:
            with pytest.raises(InputError, match="not found"):
                models.resolve_base(text)
            with pytest.raises(InputError, match="not found"):
                models.base_identity(text)
            continue
        assert models.base_identity(text)["kind"] == kind, text
        if kind == "local":
            assert Path(models.resolve_base(text)).resolve() == ref.path == Path(os.path.expanduser(text)).resolve()


def test_a_folder_named_like_a_hub_id_that_exists_in_the_project_is_local(tmp_path):
    assert base_ref("org/name", tmp_path).kind == "hub"
    (tmp_path / "org" / "name").mkdir(parents=True)
    assert base_ref("org/name", tmp_path).kind == "local"  # the folder wins, as from_pretrained decides
    assert base_ref("org/name", tmp_path).path == (tmp_path / "org" / "name").resolve()


def test_set_writes_a_base_named_with_a_tilde_as_its_full_path(forms):
    project, _ = forms
    result = CliRunner().invoke(app, ["set", "model.base=~/m", "-p", str(project / "params.yaml")])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((project / "params.yaml").read_text())["model"]["base"]
    assert written == os.path.join(os.environ["HOME"], "m")  # DVC does not expand '~' in a dependency


def test_a_stage_stops_on_a_local_base_its_dvc_yaml_does_not_follow(forms):
    project, _ = forms
    declare_local_base(project)  # params.yaml's default: a Hub id, no dep
    check_declared(HUB_ID, "train", project)
    with pytest.raises(InputError, match=r"does not list it among the deps of the train stage.*kwanzaa-hub set"):
        check_declared("m", "train", project)  # edited into params.yaml by hand
    with pytest.raises(InputError, match="does not expand '~'"):
        check_declared("~/m", "data", project)
    text = (project / "params.yaml").read_text().replace(f"base: {HUB_ID}", "base: m")
    (project / "params.yaml").write_text(text)
    assert declare_local_base(project)
    for stage in ("data", "train", "eval"):
        check_declared("m", stage, project)
    check_declared("m", "train", project / "elsewhere")  # no dvc.yaml: not run by DVC, nothing to check


@pytest.mark.slow
def test_dvc_repro_stops_on_a_base_edited_into_params_by_hand_until_it_is_declared(make_dvc_project):
    project = make_dvc_project({"model.base": HUB_ID}, name="p")  # the team's default: no base dep
    assert "${model.base}" not in yaml.safe_load((project / "dvc.yaml").read_text())["stages"]["data"]["deps"]
    params = project / "params.yaml"
    params.write_text(params.read_text().replace(f"base: {HUB_ID}", "base: models/base"))  # as the notebook invites
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def dvc(*args):
        cmd = [sys.executable, "-m", "dvc", *args]
        return subprocess.run(cmd, cwd=project, capture_output=True, text=True, env=env)

    stopped = dvc("repro", "data")
    assert stopped.returncode != 0
    assert "does not list it among the deps of the data stage" in stopped.stdout + stopped.stderr
    assert not (project / "data" / "prepared").exists()
    result = CliRunner().invoke(app, ["set", "model.base=models/base", "-p", str(params)])
    assert result.exit_code == 0, result.output
    done = dvc("repro", "data")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _one_error_line(output: str) -> str:
    """The error a command ended with, checked to be one line and the last."""
    lines = output.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in output, output
    return errors[0]


def test_a_declared_local_base_that_is_missing_is_never_fetched_from_the_hub(
    make_dvc_project, hub, tiny_model_dir, tmp_path, monkeypatch
):
    """models/base moved away while the Hub holds a repo named models/base: every command that loads the base stops
    with exit 2 and one line, and no request for models/base reaches the Hub."""
    from tests.hub_base import seed_repo

    seed_repo(hub, "models/base", tiny_model_dir)
    project = make_dvc_project()  # model.base: models/base, a declared local base
    shutil.move(project / "models" / "base", tmp_path / "moved-away")
    monkeypatch.chdir(project)
    hub.log.clear()
    for command in ("data", "train", "preflight"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 2, (command, result.output)
        line = _one_error_line(result.output)
        assert "'models/base' is a local model folder" in line and "not found" in line, line
    assert base_ref("models/base", project).kind == "local"
    assert not [p for m, p, s in hub.log if "models/base" in p]
    # the declaration follows params.yaml: once `set` names a Hub id, that id is read as one
    result = CliRunner().invoke(app, ["set", "model.base=tester/some-model"])
    assert result.exit_code == 0, result.output
    assert base_ref("tester/some-model", project).kind == "hub"


@pytest.mark.parametrize(
    "value, says",
    [
        ("hf://meta-llama/Llama-3.2-1B-Instruct", "write the Hub id alone: kwanzaa-hub set model.base=meta-llama/"),
        ("https://huggingface.co/org/name", "write the Hub id alone: kwanzaa-hub set model.base=org/name"),
        ("s3://bucket/a/b/c", "is a URL; write a Hub id (org/name), a local model folder or a .gguf file"),
        ("C:\\models\\base", "is a Windows path"),
        ("D:/models/base", "is a Windows path"),
    ],
)
def test_a_url_or_a_windows_path_is_refused_as_a_base_with_a_hint(forms, value, says):
    project, _ = forms
    params = project / "params.yaml"
    before = params.read_text()
    result = CliRunner().invoke(app, ["set", f"model.base={value}", "-p", str(params)])
    assert result.exit_code == 2, result.output
    assert says in _one_error_line(result.output)
    assert params.read_text() == before
    with pytest.raises(InputError, match=re.escape(says.split(":")[0])):
        base_ref(value)


def test_offline_the_commit_of_a_hub_base_comes_from_the_cache_through_the_public_api(hub, tiny_model_dir, monkeypatch):
    import uuid

    from huggingface_hub import HfApi, constants, hf_hub_download

    from kwanzaa_hub.runtime import models
    from tests.hub_base import upload_base

    base = upload_base(f"tester/base-{uuid.uuid4().hex[:8]}", tiny_model_dir)
    commit = HfApi().model_info(base).sha
    hf_hub_download(base, "config.json")  # the cache now records main -> commit
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert models.hub_commit(base, "main") == commit
    assert models.cached_commit(base, "v9") is None
    with pytest.raises(InputError, match="offline mode is on"):
        models.hub_commit(base, "v9")


def test_the_base_models_hub_checks_follow_the_one_fault_policy(hub, tiny_model_dir, monkeypatch):
    """auth_check and model_info for the base are sent once by the library: a 503 on each is retried by the same
    policy as the adapter repo's requests (runtime.hubhttp.retrying), and a 404 is not."""
    import uuid

    from huggingface_hub import HfApi

    from kwanzaa_hub.runtime import hubhttp, models
    from tests.helpers import FAST
    from tests.hub_base import upload_base

    monkeypatch.setattr(hubhttp, "DEFAULT_RETRY", FAST)
    base = upload_base(f"tester/base-{uuid.uuid4().hex[:8]}", tiny_model_dir)
    hub.inject("GET", rf"/api/models/{base}/auth-check$", status=503, times=1)
    hub.inject("GET", rf"/api/models/{base}/revision/main$", status=503, times=1)
    hub.log.clear()
    models.check_access(base)
    assert models.hub_commit(base, "main") == HfApi().model_info(base).sha
    assert [s for m, p, s in hub.log if p.endswith(f"{base}/auth-check")] == [503, 200]
    assert [s for m, p, s in hub.log if p.endswith(f"{base}/revision/main")][:2] == [503, 200]
    hub.log.clear()
    with pytest.raises(InputError, match="was not found or needs a token"):
        models.check_access("tester/no-such-base")
    assert len([p for m, p, s in hub.log if "no-such-base" in p]) == 1
