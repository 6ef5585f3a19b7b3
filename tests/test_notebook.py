"""The Colab notebook runs: cell by cell in a real Jupyter kernel, on the tiny model and the loopback Hub, with
Colab's own pieces stubbed (tests/colab_stub) and the clone-and-install cell skipped. It also stays in step with
the README, and its first-run checks stop with one line."""

from __future__ import annotations

import ast
import os
import re
import shlex
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from kwanzaa_hub import colab
from kwanzaa_hub.cli.app import app
from tests.conftest import HUB_TOKEN, REPO

NOTEBOOK = REPO / "notebooks" / "kwanzaa_colab.ipynb"
STUB = Path(__file__).parent / "colab_stub"


def _cells(nb, tag: str | None = None) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and (tag is None or tag in c.metadata.get("tags", []))]


def notebook_commands(nb) -> list[str]:
    """Every shell command the notebook runs: ``!`` lines and ``sh(...)`` calls, ``{NAME}`` kept as ``NAME``."""
    commands = []
    for cell in _cells(nb):
        lines = cell.source.splitlines()
        commands += [line.strip()[1:].split("  #")[0].strip() for line in lines if line.strip().startswith("!")]
        python = "\n".join("pass" if line.strip().startswith(("!", "%")) else line for line in lines)
        for node in ast.walk(ast.parse(python)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "sh":
                arg = node.args[0]
                parts = arg.values if isinstance(arg, ast.JoinedStr) else [arg]
                commands.append(
                    "".join(p.value if isinstance(p, ast.Constant) else ast.unparse(p.value) for p in parts)
                )
    return [re.sub(r"[{}]", "", c) for c in commands]


def readme_colab_commands() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Colab quickstart", 1)[1].split("\n## ", 1)[0]
    return re.sub(r"[<>{}$]", "", section)


def test_notebook_is_valid_has_no_outputs_and_targets_a_t4():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in _cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.metadata["colab"]["gpuType"] == "T4"
    assert len(_cells(nb, "parameters")) == 1 and len(_cells(nb, "colab-setup")) == 1


def test_every_notebook_command_exists_here_and_is_in_the_readme():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    commands = notebook_commands(nb)
    assert any(c.startswith("dvc repro") for c in commands) and any("preflight" in c for c in commands)
    known = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    readme = readme_colab_commands()
    for command in commands:
        argv = shlex.split(command.split("||")[0])
        if argv[0] == "kwanzaa-hub":
            assert argv[1] in known, command
        if argv[0] == "dvc" and argv[1] == "repro":
            stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
            assert all(a in stages for a in argv[2:] if not a.startswith("-")), command
        assert command in readme, f"the README's Colab section does not show `{command}`"


def test_the_token_comes_from_colab_secrets_and_is_never_printed():
    source = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert 'token_from_secrets("HF_TOKEN")' in source
    assert not re.search(r"print\([^)]*(os\.environ|token)", source) and "echo $HF_TOKEN" not in source


@pytest.mark.parametrize(
    "url, repo, version, message",
    [
        ("https://github.com/YOUR-ORG/kwanzaa_hub.git", "me/x", "v1", "Set REPO_URL"),
        ("https://github.com/me/kwanzaa_hub.git", "your-namespace/x", "v1", "Set REPO_ID"),
        ("https://github.com/me/kwanzaa_hub.git", "me/x", "1", "Set VERSION"),
    ],
)
def test_settings_left_at_their_placeholder_stop_with_one_line(url, repo, version, message):
    with pytest.raises(colab.Stop, match=message) as exc:
        colab.check_settings(url, repo, version)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "key, value",
    [("hub.version", "v0"), ("hub.version", "v01"), ("hub.repo_id", "me/x--y"), ("hub.repo_id", "me/x.git")]
    + [("hub.version", "v12"), ("hub.repo_id", "me/x-y")],
)
def test_the_first_cell_refuses_exactly_what_the_params_refuse(key, value):
    """The notebook stops at its first cell on a repo id or version the params would refuse after the long install,
    and accepts what they accept: one rule each (config/names.py)."""
    from kwanzaa_hub.config.params import Params, with_overrides
    from kwanzaa_hub.errors import ParamsError

    try:
        with_overrides(Params(), {key: value})
        params_ok = True
    except ParamsError:
        params_ok = False
    repo, version = ("me/x", value) if key == "hub.version" else (value, "v1")
    try:
        colab.check_settings("https://github.com/me/kwanzaa_hub.git", repo, version)
        colab_ok = True
    except colab.Stop:
        colab_ok = False
    assert colab_ok == params_ok
    assert params_ok == (value in ("v12", "me/x-y"))


def test_the_clone_cell_refuses_the_placeholder_url_before_cloning():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = _cells(nb, "colab-setup")[0].source
    check = "\n".join(line for line in setup.splitlines() if not line.strip().startswith(("!", "%")))
    with pytest.raises(SystemExit, match="Set REPO_URL"):
        exec(check, {"REPO_URL": "https://github.com/YOUR-ORG/kwanzaa_hub.git", "CLONE_DIR": str(REPO)})
    exec(check, {"REPO_URL": "https://github.com/me/kwanzaa_hub.git", "CLONE_DIR": str(REPO)})
    with pytest.raises(SystemExit, match="Could not clone"):  # the clone failed: stop here, not at the next import
        exec(check, {"REPO_URL": "https://github.com/me/kwanzaa_hub.git", "CLONE_DIR": "/nonexistent/kwanzaa_hub"})


def _settings_cell(**values: str):
    return nbformat.v4.new_code_cell(
        "\n".join(f"{k} = {v!r}" for k, v in values.items()), metadata={"tags": ["injected"]}
    )


@pytest.fixture
def setup_sh_without_pip(tmp_path, monkeypatch) -> Path:
    """``scripts/setup.sh`` runs for real (``dvc pull``, the version line) with this environment's Python, except
    its ``pip install``s, which are logged (with the folder they ran in) instead: the shared environment is not
    reinstalled from a temporary clone. Returns the log."""
    log = tmp_path / "pip.log"
    wrapper = tmp_path / "python-without-pip"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$PWD: $*" >> {shlex.quote(str(log))}; exit 0; fi\n'
        f'exec {shlex.quote(sys.executable)} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PYTHON", str(wrapper))
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    return log


@pytest.mark.slow
def test_the_setup_cell_clones_once_and_runs_again_from_inside_the_clone(tmp_path, setup_sh_without_pip):
    """Run all after a first-run stop: the kernel is then inside the clone (which holds the package folder
    ``kwanzaa_hub/``); the set-up cell must reuse the clone and run its set-up again, from any folder."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    setup = _cells(nb, "colab-setup")[0]
    clone = tmp_path / "content" / "kwanzaa_hub"
    nb.cells = [
        _cells(nb, "parameters")[0],
        _settings_cell(REPO_URL=REPO.as_uri(), CLONE_DIR=str(clone)),
        setup,
        nbformat.v4.new_code_cell("%cd kwanzaa_hub"),  # the package folder inside the clone: the old cell's trap
        nbformat.from_dict(dict(setup)),
        nbformat.v4.new_code_cell("import os; print(os.getcwd())"),
    ]
    (tmp_path / "elsewhere").mkdir()
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path / "elsewhere")}}
    ).execute()

    assert (clone / "scripts" / "setup.sh").is_file() and (clone / "data" / "raw").is_dir()  # cloned, data pulled
    assert nb.cells[-1].outputs[0]["text"].strip() == str(clone)
    pip_runs = setup_sh_without_pip.read_text().splitlines()
    assert len(pip_runs) == 2 and all(
        line.startswith(f"{clone}: -m pip install -q -c constraints.txt -e .[dev]") for line in pip_runs
    )
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert printed.count("set-up done: torch") == 2 and printed.count("Cloning into") == 1
    assert "No such file" not in printed


@pytest.mark.parametrize(
    "secret, message",
    [(None, "No Colab secret named HF_TOKEN"), ("<no-access>", "switch on 'Notebook access'"), ("", "is empty")],
)
def test_a_missing_or_unshared_colab_secret_stops_with_what_to_do(monkeypatch, secret, message):
    monkeypatch.syspath_prepend(str(STUB))
    monkeypatch.delenv("COLAB_STUB_SECRET_HF_TOKEN", raising=False)
    if secret is not None:
        monkeypatch.setenv("COLAB_STUB_SECRET_HF_TOKEN", secret)
    with pytest.raises(colab.Stop, match=message):
        colab.token_from_secrets("HF_TOKEN")


def test_an_unmounted_drive_remote_stops_with_what_to_do(tmp_path):
    with pytest.raises(colab.Stop, match="Google Drive is not mounted"):
        colab.check_drive_remote(str(tmp_path / "drive/MyDrive/kwanzaa-dvc"), mount_point=str(tmp_path / "drive"))
    (tmp_path / "drive/MyDrive").mkdir(parents=True)
    with pytest.raises(colab.Stop, match="TEAM_REMOTE .* does not exist"):
        colab.check_drive_remote(str(tmp_path / "drive/MyDrive/kwanzaa-dvc"), mount_point=str(tmp_path / "drive"))


@pytest.mark.slow
def test_the_notebook_runs_cell_by_cell_and_ends_answering(
    make_dvc_project, hub, repo_id, monkeypatch, setup_sh_without_pip
):
    import shutil
    import subprocess

    from nbclient import NotebookClient

    project = make_dvc_project(
        {
            "train.max_steps": 2,
            "train.gradient_accumulation_steps": 1,
            "eval.max_new_tokens": 8,
            "eval.allow_truncation": True,
        }
    )
    shutil.copy2(REPO / "data.dvc", project / "data.dvc")  # as in a clone: the data versioned by DVC, and its remote
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "-d", "example", str(REPO / "example_remote")],
        cwd=project,
        check=True,
        capture_output=True,
    )
    shutil.copytree(REPO / "scripts", project / "scripts")  # as in a clone: the set-up cell finds it there
    nb = nbformat.read(NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    settings = _settings_cell(REPO_URL=REPO.as_uri(), REPO_ID=repo_id, VERSION="v1", CLONE_DIR=str(project))
    setup = _cells(nb, "colab-setup")[0]
    # Run all twice: the second time from inside the project (its package folder), after a first-run stop
    again = [nbformat.v4.new_code_cell("%cd kwanzaa_hub"), nbformat.from_dict(dict(setup))]
    nb.cells[at + 1 : at + 1] = [settings]
    where = nb.cells.index(setup)
    nb.cells[where + 1 : where + 1] = again
    monkeypatch.delenv("HF_TOKEN", raising=False)  # the token must come from the (stub) Colab secret
    monkeypatch.setenv("COLAB_STUB_SECRET_HF_TOKEN", HUB_TOKEN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(STUB), os.environ.get("PYTHONPATH", "")]))
    # the kernel's `!dvc` / `!kwanzaa-hub` (and dvc's stage commands) are this environment's, activated or not
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(project)}})
    client.execute()  # a cell that raises fails the test (CellExecutionError)

    params = yaml.safe_load((project / "params.yaml").read_text())
    assert (
        params["hub"]["repo_id"] == repo_id and "# Every knob of the pipeline" in (project / "params.yaml").read_text()
    )
    from huggingface_hub import HfApi

    assert [t.name for t in HfApi(token=HUB_TOKEN).list_repo_refs(repo_id).tags] == ["v1"]

    def printed(tag: str) -> str:
        cell = _cells(nb, tag)[0]
        return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")

    assert printed("answer").startswith("question: When was Kwanzaa first celebrated?\n(1 retrieved document)\n")
    assert "\nsources" in printed("answer"), "the answer was not shown as kwanzaa.answer.v1 fields"
    assert printed("review").startswith(f"review: {repo_id} has no version before v1, nothing to compare yet")
    assert len(setup_sh_without_pip.read_text().splitlines()) == 2  # the set-up ran twice, in the project
    everything = "".join(str(o) for c in nb.cells for o in c.get("outputs", []))
    assert HUB_TOKEN not in everything
