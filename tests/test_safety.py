"""Safe by construction: ordinary typos and ordinary Hub states never destroy work or mislabel a failure.

Each test here is a case of RELIABILITY.md's "safety" table and fails when its fix is taken out.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.params import SCHEDULERS, parse_params
from kwanzaa_hub.errors import InputError, ParamsError
from kwanzaa_hub.fs import ownership as out_mod
from kwanzaa_hub.hub import client as hub_mod
from kwanzaa_hub.hub import versions
from kwanzaa_hub.stages import push as push_stage
from tests.conftest import HUB_TOKEN, REPO, write_jsonl
from tests.helpers import FAST, params_for

COMMIT = r"^/api/models/[^/]+/[^/]+/commit/"


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and ".git/" not in str(p.relative_to(root)) + "/"
        and not str(p.relative_to(root)).startswith((".git", ".dvc/tmp"))
    }


# ------------------------------------------------------------------------------ 1. ownership of outputs


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("data", "prepared_dir", "data", "overlaps the input data.train_file"),
        ("data", "prepared_dir", ".", "is the project folder itself"),
        ("train", "checkpoint_dir", "data", "overlaps the input data.train_file"),
        ("train", "output_dir", "data/raw", "overlaps the input data.train_file"),
        ("train", "output_dir", "/etc", "is absolute"),
        ("train", "output_dir", "../../x", "climbs out of the project"),
        ("train", "output_dir", ".git/adapter", "inside .git/"),
        ("train", "checkpoint_mirror", "/", "too close to the filesystem root"),
        ("train", "checkpoint_mirror", "models/adapter", "overlaps train.checkpoint_mirror"),
        ("eval", "metrics_file", "README.md", "must end in .json"),
        ("eval", "predictions_file", "metrics.json", "must end in .jsonl"),
    ],
)
def test_a_typo_in_an_output_path_is_a_params_error_naming_the_key(section, key, value, message):
    with pytest.raises(ParamsError, match=message) as exc:
        parse_params({section: {key: value}})
    assert f"{section}.{key}" in str(exc.value) or "train.output_dir" in str(exc.value)


@pytest.mark.parametrize(
    "override",
    [
        {"data": {"prepared_dir": "data"}},
        {"data": {"prepared_dir": "."}},
        {"train": {"checkpoint_dir": "data"}},
        {"train": {"output_dir": "data/raw"}},
    ],
)
def test_from_a_project_a_bad_path_exits_2_and_every_file_is_intact(tmp_path, monkeypatch, example_samples, override):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0][:4])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1][:2])
    (tmp_path / "data/notes.txt").write_text("mine")
    Path("params.yaml").write_text(yaml.safe_dump(override))
    before = _tree(tmp_path)
    for command in ("data", "train"):
        result = CliRunner().invoke(app, [command])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and "params.yaml:" in result.output
    assert _tree(tmp_path) == before


def test_a_stage_refuses_to_replace_a_folder_it_did_not_write(tmp_path, monkeypatch, example_samples, tiny_model_dir):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "data/raw/kwanzaa_train.jsonl", example_samples[0][:4])
    write_jsonl(tmp_path / "data/raw/kwanzaa_eval.jsonl", example_samples[1][:2])
    Path("params.yaml").write_text(f"model:\n  base: {tiny_model_dir}\ndata:\n  prepared_dir: mine\n")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine/thesis.tex").write_text("three years of work")
    result = CliRunner().invoke(app, ["data"])
    assert (
        result.exit_code == 2 and "data.prepared_dir: mine/ exists and was not written by kwanzaa_hub" in result.output
    )
    assert (tmp_path / "mine/thesis.tex").read_text() == "three years of work"
    assert not Path("reports/data.json").exists()
    # an empty folder holds nothing to lose; once written, the folder carries the marker and may be replaced
    (tmp_path / "mine/thesis.tex").unlink()
    assert CliRunner().invoke(app, ["data"]).exit_code == 0
    assert out_mod.is_owned(tmp_path / "mine")
    assert CliRunner().invoke(app, ["data"]).exit_code == 0


@pytest.mark.slow
def test_dvc_repro_leaves_a_foreign_folder_at_an_output_path_alone(make_dvc_project):
    """DVC deletes a stage's outputs before its command runs unless they are `persist: true`: the stage then
    refuses, and the folder is intact."""
    project = make_dvc_project({"data.prepared_dir": "prepared"})
    (project / "prepared").mkdir()
    (project / "prepared/keep.txt").write_text("not the tool's")
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", "data"], cwd=project, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "data.prepared_dir: prepared/ exists and was not written by kwanzaa_hub" in proc.stdout + proc.stderr
    assert (project / "prepared/keep.txt").read_text() == "not the tool's"


def test_claim_accepts_only_what_the_tool_writes(tmp_path):
    own = tmp_path / "own"
    out_mod.mark(own, "k")
    (own / "x").write_text("1")
    assert out_mod.claim("k", own, "dir") == own
    assert out_mod.claim("k", tmp_path / "new", "dir")
    (tmp_path / "notes.json").write_text("not json")
    (tmp_path / "README.md").write_text("# mine")
    (tmp_path / "card.md").write_text("card\n" + out_mod.CARD_SIGNATURE)
    (tmp_path / "m.json").write_text('{"a": 1}')
    for path, kind in ((tmp_path / "notes.json", "json"), (tmp_path / "README.md", "card"), (tmp_path / "own", "json")):
        with pytest.raises(InputError, match="nothing was touched"):
            out_mod.claim("k", path, kind)
    assert out_mod.claim("k", tmp_path / "card.md", "card") and out_mod.claim("k", tmp_path / "m.json", "json")


def test_the_repo_s_own_tracked_outputs_are_ones_the_tool_may_replace():
    """A fresh clone runs `dvc repro` to the push stage: the committed card must carry the tool's signature."""
    from kwanzaa_hub.config.params import load_params

    for out in load_params(REPO / "params.yaml").outputs():
        if (REPO / out.path).is_file():
            out_mod.claim(out.key, REPO / out.path, out.kind, out.fields)


@pytest.mark.parametrize(
    "name, content",
    [
        ("eval.predictions_file", '{"messages": []}\n'),
        ("eval.metrics_file", '{"accuracy": 0.9}'),
        ("data.report", '{"train": 1}'),
        ("eval.plot_file", '[{"x": 1}]'),
        # an empty array or object holds none of the tool's fields either
        *[(k, c) for k in ("eval.metrics_file", "eval.plot_file", "data.report", "train.report") for c in ("[]", "{}")],
    ],
)
def test_a_json_file_of_another_shape_is_never_taken_for_an_output(tmp_path, monkeypatch, name, content):
    from kwanzaa_hub.config.params import parse_params

    monkeypatch.chdir(tmp_path)
    out = next(o for o in parse_params({}).outputs() if o.key == name)
    Path(out.path).parent.mkdir(parents=True, exist_ok=True)
    Path(out.path).write_text(content)
    with pytest.raises(InputError, match="does not hold what kwanzaa_hub writes there"):
        out_mod.claim(out.key, out.path, out.kind, out.fields)


@pytest.mark.parametrize(
    "mirror, message",
    [
        ("data/raw/ckpt", "overlaps the input data.train_file"),
        ("checkpoints/mirror", "overlaps train.checkpoint_mirror"),
    ],
)
def test_a_relative_mirror_folder_obeys_the_output_rules(mirror, message):
    with pytest.raises(ParamsError, match=message):
        parse_params({"train": {"checkpoint_mirror": mirror}})


def test_an_absolute_mirror_inside_the_project_or_on_an_unmounted_drive_is_refused(tmp_path, monkeypatch):
    from kwanzaa_hub.longrun.mirror import DirMirror

    monkeypatch.chdir(tmp_path)
    for root, message in (
        (tmp_path / "data/prepared", "inside it"),
        (tmp_path.parent, "a folder above it"),
        (tmp_path.parent / "no-drive" / "ckpts", "is Google Drive mounted"),
    ):
        with pytest.raises(InputError, match=message):
            DirMirror(root).check()
    assert not (tmp_path.parent / "no-drive").exists()


def test_pull_never_replaces_a_folder_it_did_not_write(outputs, hub, repo_id, tmp_path):
    from kwanzaa_hub.hub.pull import pull

    push_stage.run(params_for(repo_id), retry=FAST)
    home = tmp_path / "Documents"
    home.mkdir()
    (home / "taxes.pdf").write_text("precious")
    result = CliRunner().invoke(app, ["pull", repo_id, "--version", "v1", "--out", str(home)])
    assert result.exit_code == 2 and "was not written by kwanzaa_hub" in result.output
    assert (home / "taxes.pdf").read_text() == "precious"
    assert pull(repo_id, "v1", tmp_path / "fresh").is_dir()
    assert pull(repo_id, "v1", tmp_path / "fresh").is_dir()  # its own folder: replaced


# ------------------------------------------------------------------------------ 2. text is text


def test_markup_in_hub_names_and_data_is_printed_as_text(tmp_path, hub, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "[bold]x[red].jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "[/x] hi"}]}\n')
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "MarkupError" not in result.output
    assert "[bold]x[red].jsonl:1:" in result.output
    result = CliRunner().invoke(app, ["pull", "tester/none", "--version", "v[/x]", "--out", "o"])
    assert result.exit_code in (1, 2) and "MarkupError" not in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["preflight", "[bold]ns[red]/x"])
    assert result.exit_code == 2 and "'[bold]ns[red]/x' is not a Hub repo id" in result.output


# ------------------------------------------------------------------------------ 3. params complete before work


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train": {"lr_scheduler": "cosine_warmup"}}, "train.lr_scheduler: Input should be"),
        ({"train": {"epochs": float("inf")}}, "train.epochs: must be a finite number"),
        ({"train": {"learning_rate": float("nan")}}, "train.learning_rate: must be a finite number"),
        ({"hub": {"version": "v1\n"}}, "hub.version: must be 'v' followed"),
        ({"hub": {"repo_id": "me/x\n"}}, "hub.repo_id: must be 'namespace/name'"),
        ({"hub": {"repo_id": "me/a--b"}}, "hub.repo_id: Cannot have -- or .."),
        ({"hub": {"repo_id": "me/x.git"}}, "hub.repo_id: Repo_id cannot end by '.git'"),
        ({"eval": {"max_new_tokens": 0}}, "eval.max_new_tokens: must be 'auto' or a positive"),
    ],
)
def test_values_the_trainer_or_the_hub_would_reject_are_params_errors(raw, message):
    with pytest.raises(ParamsError, match=message):
        parse_params(raw)


def test_every_accepted_scheduler_runs_in_transformers_without_extra_arguments():
    import torch
    from transformers import get_scheduler
    from transformers.trainer_utils import SchedulerType

    assert set(SCHEDULERS) <= {s.value for s in SchedulerType}
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for name in SCHEDULERS:
        get_scheduler(name, opt, num_warmup_steps=1, num_training_steps=10).step()
    for name in {s.value for s in SchedulerType} - set(SCHEDULERS):  # the others fail late: refused up front
        with pytest.raises(ParamsError):
            parse_params({"train": {"lr_scheduler": name}})


# ------------------------------------------------------------------------------ 4. data holds what the contract knows


def test_an_extra_message_key_is_an_error_at_its_line_not_a_pyarrow_crash(
    tmp_path, monkeypatch, example_samples, tiny_tokenizer
):
    from kwanzaa_hub.errors import DataValidationError
    from kwanzaa_hub.stages import data as data_stage

    monkeypatch.chdir(tmp_path)
    extra = json.loads(json.dumps(example_samples[0][1]))
    extra["messages"][1]["name"] = "alice"
    surrogate = json.dumps(example_samples[0][2]).replace("Kwanzaa", "\\ud800", 1)
    write_jsonl(tmp_path / "train.jsonl", [example_samples[0][0], extra, surrogate])
    write_jsonl(tmp_path / "eval.jsonl", example_samples[1][:2])
    params = parse_params(
        {"data": {"train_file": str(tmp_path / "train.jsonl"), "eval_file": str(tmp_path / "eval.jsonl")}}
    )
    with pytest.raises(DataValidationError) as exc:
        data_stage.run(params, tokenizer=tiny_tokenizer)
    text = str(exc.value)
    assert f"{tmp_path / 'train.jsonl'}:2: messages[1] (user): unknown key(s) ['name']" in text
    assert f"{tmp_path / 'train.jsonl'}:3: " in text and "surrogate" in text
    assert not Path("data/prepared").exists()


# ------------------------------------------------------------------------------ 5. a push deletes only its own files


def _seed_repo(repo_id: str, files: dict[str, bytes]) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    api.create_repo(repo_id, private=True)
    api.create_commit(repo_id, [CommitOperationAdd(k, v) for k, v in files.items()], commit_message="theirs")


def test_a_repo_holding_other_files_is_refused_and_adopting_keeps_them(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    _seed_repo(repo_id, {"IMPORTANT.md": b"do not delete", "weights/other.safetensors": b"x" * 10})
    with pytest.raises(InputError, match=r"main holds files kwanzaa_hub did not write: IMPORTANT.md, weights/other"):
        push_stage.run(params_for(repo_id), retry=FAST)
    receipt = push_stage.run(params_for(repo_id, adopt_existing=True), retry=FAST)
    files = set(HfApi().list_repo_files(repo_id))
    assert {"IMPORTANT.md", "weights/other.safetensors", "adapter_model.safetensors"} <= files
    assert receipt["pushed"]


def test_a_readme_the_tool_did_not_write_is_never_replaced(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    _seed_repo(repo_id, {"README.md": b"# their card"})
    with pytest.raises(InputError, match="main holds README.md, not written by kwanzaa_hub"):
        push_stage.run(params_for(repo_id, adopt_existing=True), retry=FAST)
    assert Path(HfApi().hf_hub_download(repo_id, "README.md")).read_text() == "# their card"


def test_the_next_version_replaces_only_files_of_the_previous_manifest(outputs, hub, repo_id, tiny_model_dir):
    from huggingface_hub import CommitOperationAdd, HfApi

    from tests.helpers import write_outputs

    Path("models/adapter/extra_file.json").write_text("{}")  # v1 ships one more file than v2 will
    push_stage.run(params_for(repo_id), retry=FAST)
    api = HfApi()
    api.create_commit(repo_id, [CommitOperationAdd("NOTES.md", b"added by a person")], commit_message="theirs")
    write_outputs(outputs, tiny_model_dir, seed=1)  # a new adapter folder, without extra_file.json
    with pytest.raises(InputError, match="did not write: NOTES.md"):
        push_stage.run(params_for(repo_id, "v2"), retry=FAST)
    push_stage.run(params_for(repo_id, "v2", adopt_existing=True), retry=FAST)
    main = set(api.list_repo_files(repo_id))
    assert "NOTES.md" in main  # theirs: kept
    assert "extra_file.json" in set(api.list_repo_files(repo_id, revision="v1")) and "extra_file.json" not in main


# ------------------------------------------------------------------------------ 6. Hub failures are named truthfully


def test_an_outage_while_reading_the_remote_manifest_is_a_hub_error_not_a_conflict(outputs, hub, repo_id):
    push_stage.run(params_for(repo_id), retry=FAST)
    hub.inject("GET", r"/resolve/[^/]+/kwanzaa_manifest\.json$", status=503, times=99)
    hub.inject("HEAD", r"/resolve/[^/]+/kwanzaa_manifest\.json$", status=503, times=99)
    hub.log.clear()
    with pytest.raises(hub_mod.HubError) as exc:
        push_stage.run(params_for(repo_id), retry=FAST)
    assert not isinstance(exc.value, hub_mod.VersionConflict) and exc.value.exit_code == 1
    assert "rerun" in str(exc.value) and "bump" not in str(exc.value)
    # huggingface_hub's download: one HEAD, then (nothing cached at that commit) its backoff's 6; no GET
    manifest = [m for m, p, s in hub.log if p.endswith("/kwanzaa_manifest.json")]
    assert manifest == ["HEAD"] * 7


def test_a_503_on_the_tag_is_retried(outputs, hub, repo_id):
    hub.log.clear()
    hub.inject("POST", r"/tag/", status=503, times=2)
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert receipt["pushed"]
    assert [s for m, p, s in hub.log if "/tag/" in p] == [503, 503, 200]


def test_a_connection_reset_on_the_tag_is_a_hub_error_with_exit_1(outputs, hub, repo_id, monkeypatch):
    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    hub.inject("POST", r"/tag/", action="reset", times=99)
    Path("params.yaml").write_text(yaml.safe_dump(params_for(repo_id).model_dump(mode="json")))
    hub.log.clear()
    result = CliRunner().invoke(app, ["push"])
    assert result.exit_code == 1 and "tagging v1 failed" in result.output, result.output
    assert "Traceback" not in result.output
    assert [s for m, p, s in hub.log if "/tag/" in p] == [0] * FAST.attempts  # sent once by the library: ours


@pytest.mark.parametrize(
    "body, message",
    [(b"not json", "is not valid JSON"), (b'["adapter_model.safetensors"]', "is not a non-empty object")],
)
def test_a_malformed_remote_manifest_is_refused_with_a_message(hub, repo_id, tmp_path, body, message):
    from huggingface_hub import HfApi

    from kwanzaa_hub.hub.pull import pull

    api = HfApi()
    api.create_repo(repo_id, private=True)
    api.upload_file(path_or_fileobj=body, path_in_repo=versions.MANIFEST, repo_id=repo_id)
    api.create_tag(repo_id, tag="v1")
    with pytest.raises(hub_mod.HubError, match=message):
        pull(repo_id, "v1", tmp_path / "out")


@pytest.mark.parametrize("value", ["-1", "1e9", "nan", "Wed, 21 Oct 2015 07:28:00 GMT"])
def test_retry_after_is_clamped(outputs, hub, repo_id, value):
    import time

    hub.inject("POST", COMMIT, status=429, times=1, headers={"Retry-After": value})
    start = time.monotonic()
    assert push_stage.run(params_for(repo_id), retry=FAST)["pushed"]
    assert time.monotonic() - start < 30


# ------------------------------------------------------------------------------ 7. the checkpoint mirror is loud


def test_a_failed_mirror_fingerprint_read_warns_and_odd_folders_are_ignored(hub, repo_id, tmp_path, monkeypatch):
    from kwanzaa_hub.console import console
    from kwanzaa_hub.longrun import mirror as checkpoints

    monkeypatch.setattr(hub_mod, "DEFAULT_RETRY", FAST)
    mirror = checkpoints.HubMirror(repo_id, private=True, allow_public=False)
    hub.inject("HEAD", r"/resolve/checkpoints/fingerprint\.txt$", status=500, times=99)
    hub.inject("GET", r"/resolve/checkpoints/fingerprint\.txt$", status=500, times=99)
    hub.log.clear()
    with console.capture() as cap:
        assert mirror.remote_stamp() is None
    assert "could not read the checkpoint mirror's fingerprint" in cap.get()
    assert [m for m, p, s in hub.log if p.endswith("/fingerprint.txt")] == ["HEAD"] * 7  # 1, then the library's 6
    folder = tmp_path / "ckpts"
    for name in ("checkpoint-2", "checkpoint-2 (1)", "checkpoint-x", "checkpoint-10"):
        (folder / name).mkdir(parents=True)
        (folder / name / "trainer_state.json").write_text("{}")
    assert checkpoints.newest_complete(folder).name == "checkpoint-10"
    assert checkpoints.named(p.name for p in folder.iterdir()) == ["checkpoint-2", "checkpoint-10"]


# ------------------------------------------------------------------------------ 9. load() returns what it verified


def test_load_uses_exactly_the_verified_files_at_the_tags_commit(outputs, hub, repo_id):
    import kwanzaa_hub

    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    hub.log.clear()
    kwanzaa_hub.load(repo_id, "v1", base_model="models/base")
    fetched = [p for m, p, s in hub.log if "/resolve/" in p and p.endswith("adapter_model.safetensors") and m == "GET"]
    assert len(fetched) == 1 and f"/resolve/{receipt['commit']}/" in fetched[0]
    assert not [p for m, p, s in hub.log if "/resolve/v1/" in p]


# ------------------------------------------------------------------------------ 10. no machine paths in the card


def test_the_card_and_pushed_params_hold_no_machine_paths(outputs, hub, repo_id, tmp_path):
    from huggingface_hub import HfApi

    raw = params_for(repo_id).model_dump(mode="json")
    raw["model"]["base"] = str(tmp_path / "models/base")
    raw["train"]["checkpoint_mirror"] = "/content/drive/MyDrive/kwanzaa-ckpts"
    push_stage.run(parse_params(raw), retry=FAST)
    card = Path("MODEL_CARD.md").read_text()
    pushed = Path(HfApi().hf_hub_download(repo_id, "params.yaml", revision="v1")).read_text()
    for text in (card, pushed):
        assert str(tmp_path) not in text and "/content/drive" not in text
        assert "<local>/base" in text


# ------------------------------------------------------------------------------ 11. tests that can fail


def test_a_commit_that_lost_a_race_is_rebased_and_retried(outputs, hub, repo_id):
    from huggingface_hub import HfApi

    HfApi().create_repo(repo_id, private=True)
    hub.log.clear()
    hub.inject("POST", COMMIT, action="race", race=repo_id, times=1)  # someone commits just before ours lands
    receipt = push_stage.run(params_for(repo_id), retry=FAST)
    assert [s for m, p, s in hub.log if m == "POST" and "/commit/" in p] == [412, 200]
    assert receipt["pushed"] and {t.name for t in HfApi().list_repo_refs(repo_id).tags} == {"v1"}


def test_the_token_quoted_back_by_the_server_is_scrubbed(outputs, hub, repo_id):
    hub.inject("POST", COMMIT, action="echo_auth", times=1)
    with pytest.raises(hub_mod.HubError) as exc:
        push_stage.run(params_for(repo_id), retry=FAST)
    assert HUB_TOKEN not in str(exc.value) and "Bearer ***" in str(exc.value)  # it was there, and was scrubbed


@pytest.mark.slow
def test_a_server_quoting_the_token_back_never_gets_it_printed_or_written(
    make_dvc_project, hub, tiny_model_dir, tmp_path
):
    """model.base a Hub id whose every request answers with the Authorization header quoted in the error: each
    command that reaches the Hub for the base fails, and neither its output (the libraries' logging included) nor
    any file written holds the token."""
    import uuid

    from tests.helpers import write_outputs
    from tests.hub_base import cli, upload_base

    base = upload_base(f"tester/base-{uuid.uuid4().hex[:8]}", tiny_model_dir)
    project = make_dvc_project({"model.base": base})
    home = tmp_path / "hf-home"
    ready = cli("data", cwd=project, HF_HOME=str(home))  # data/prepared for eval, the tokenizer in the cache
    assert ready.returncode == 0, ready.stderr[-3000:]
    write_outputs(project, tiny_model_dir)  # an adapter for eval to load on the base
    for method in ("GET", "HEAD", "POST"):
        hub.inject(method, rf"/{base}/", action="echo_auth", times=10**6)
    hub.log.clear()
    for command in ("preflight", "data", "train", "eval"):
        proc = cli(command, cwd=project, HF_HOME=str(home))
        said = proc.stdout + proc.stderr
        assert proc.returncode in (1, 2), (command, said[-3000:])
        assert HUB_TOKEN not in said, (command, said[-3000:])
        assert "Traceback" not in said, (command, said[-3000:])
    assert [s for m, p, s in hub.log if base in p] and {s for m, p, s in hub.log if base in p} == {400}
    for root in (project, home):
        for path in root.rglob("*"):
            if path.is_file():
                assert HUB_TOKEN.encode() not in path.read_bytes(), path


def test_the_scrubber_removes_every_form_of_the_token(hub, monkeypatch):
    from kwanzaa_hub.redact import describe, scrub

    assert scrub(f"Authorization: Bearer {HUB_TOKEN}") == "Authorization: Bearer ***"
    assert scrub("Authorization: Bearer hf_someoneelse0token") == "Authorization: Bearer ***"
    assert scrub("saved hf_abcdefghijklmnopqrstuvwxyz0123456789 here") == "saved *** here"
    assert scrub("hf_hub_download failed: hf_short") == "hf_hub_download failed: hf_short"  # names stay
    monkeypatch.setenv("HF_TOKEN", "plain-secret")
    assert scrub("it was plain-secret") == "it was ***"
    assert describe(OSError(f"line one\n  Bearer {HUB_TOKEN}")) == "line one Bearer ***"


def test_the_cli_error_handler_scrubs_what_reaches_it(hub, monkeypatch):
    from kwanzaa_hub.cli.common import handled
    from kwanzaa_hub.console import console
    from kwanzaa_hub.errors import KwanzaaError

    @handled
    def leaky():
        raise KwanzaaError(f"a message built without the scrubber: {HUB_TOKEN}")

    with console.capture() as cap, pytest.raises(Exception):  # noqa: B017 - typer.Exit
        leaky()
    assert HUB_TOKEN not in cap.get() and "scrubber: ***" in cap.get()


def test_no_call_in_the_package_passes_trust_remote_code_true():
    for path in (REPO / "kwanzaa_hub").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "trust_remote_code":
                        assert isinstance(kw.value, ast.Constant) and kw.value.value is False, f"{path}:{node.lineno}"
                    assert kw.arg is not None or not _may_hold_trust_remote_code(kw.value), f"{path}:{node.lineno}"


def _may_hold_trust_remote_code(value: ast.AST) -> bool:
    """A ``**kwargs`` whose literal dict names trust_remote_code."""
    return isinstance(value, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == "trust_remote_code" for k in value.keys
    )
