"""DVC is the source of truth: each stage's deps and params are exactly what its code uses, each path is
written once, and the experiments loop works."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from tests.conftest import REPO
from tests.dvc_deps import command_modules

STAGES = ("data", "train", "eval", "push")
TEMPLATE = re.compile(r"\$\{([^}]+)\}")


def stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _path(entry) -> str:
    return next(iter(entry)) if isinstance(entry, dict) else entry


def declared_modules(stage: dict) -> set[Path]:
    """The project .py files a stage's deps cover (a folder dep covers every file under it)."""
    files = set()
    for dep in stage["deps"]:
        path = REPO / _path(dep)
        if "${" in str(dep) or not str(_path(dep)).startswith("kwanzaa_hub"):
            continue
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        files |= {p.relative_to(REPO) for p in found if "__pycache__" not in p.parts and p.suffix == ".py"}
    return files


@pytest.mark.parametrize("name", STAGES)
def test_stage_deps_are_exactly_the_modules_its_command_imports(name):
    stage = stages()[name]
    used = command_modules(REPO, name)
    if name == "eval":  # the metric modules are loaded by `evaluate` from their folders, not imported
        metrics = REPO / "kwanzaa_hub/contract/metrics"
        used |= {p.relative_to(REPO) for p in metrics.glob("*/*.py")}
    declared = declared_modules(stage)
    listed = [str(d) for d in stage["deps"]]
    twice = sorted({d for d in listed if listed.count(d) > 1})
    assert not twice, f"{name}: deps listed twice: {twice}"
    assert not used - declared, f"{name}: add to dvc.yaml deps: {sorted(map(str, used - declared))}"
    assert not declared - used, (
        f"{name}: not imported by the command, drop from deps: {sorted(map(str, declared - used))}"
    )


def test_no_path_is_written_in_both_params_and_dvc_yaml():
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    paths = set()

    def walk(node):
        for value in node.values():
            if isinstance(value, dict):
                walk(value)
            elif isinstance(value, str) and "/" in value or str(value).endswith((".json", ".jsonl", ".md")):
                paths.add(str(value))

    walk(params)
    paths -= {params["model"]["base"]}  # a Hub id, not a path
    text = (REPO / "dvc.yaml").read_text()
    literal = [p for p in paths if re.search(rf"(?<![\w/${{.]){re.escape(p)}(?![\w/])", text)]
    assert not literal, f"write these as ${{...}} in dvc.yaml: {literal}"
    # and the code reads them from params: none is a string in the package, but for the params defaults and the
    # fixed names of a version's files on the Hub (hub.REPO_LAYOUT)
    for path in (REPO / "kwanzaa_hub").rglob("*.py"):
        if path.name == "params.py":
            continue
        tree = ast.parse(path.read_text())
        layout = {
            id(n)
            for a in ast.walk(tree)
            if isinstance(a, ast.Assign) and any(getattr(t, "id", "").endswith("_LAYOUT") for t in a.targets)
            for n in ast.walk(a.value)
        }
        found = [
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and n.value in paths and id(n) not in layout
        ]
        assert not found, f"{path.name} hard-codes {found}; read them from params"


# ---------------------------------------------------------------------------------- params each stage reads


class Recorder:
    """Wraps Params and records every key read through it (a whole section when it is dumped)."""

    def __init__(self, obj: BaseModel, prefix: str, seen: set[str]):
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_seen", seen)

    def __getattr__(self, name):
        obj, prefix, seen = self._obj, self._prefix, self._seen
        value = getattr(obj, name)
        if name.startswith("model_dump"):
            seen.add(prefix.rstrip(".") or "*")
            return value
        if name in type(obj).__dict__ and callable(value):  # Params' own methods read through the recorder
            return types.MethodType(type(obj).__dict__[name], self)
        if isinstance(value, BaseModel):
            return Recorder(value, f"{prefix}{name}.", seen)
        seen.add(f"{prefix}{name}")
        return value


def _normalize(keys: set[str]) -> set[str]:
    """Drop keys under a section that was read whole."""
    if "*" in keys:
        return {"*"}
    return {k for k in keys if not any(k.startswith(f"{s}.") for s in keys if s != k)}


def declared_params(name: str) -> set[str]:
    stage = stages()[name]
    keys = set(stage.get("params", []))
    keys |= set(TEMPLATE.findall(yaml.safe_dump(stage)))
    if keys >= {"model", "data", "train", "eval", "hub"}:
        return {"*"}
    return _normalize(keys)


@pytest.mark.slow
def test_each_stage_declares_exactly_the_params_its_code_reads(make_dvc_project, hub, repo_id, monkeypatch):
    from typer.testing import CliRunner

    from kwanzaa_hub.cli.app import app
    from kwanzaa_hub.config import params as params_mod

    project = make_dvc_project(
        {
            "train.max_steps": 1,
            "train.gradient_accumulation_steps": 1,
            "eval.max_new_tokens": 4,
            "eval.allow_truncation": True,
            "hub.repo_id": repo_id,
        }
    )
    monkeypatch.chdir(project)
    real_load = params_mod.load_params
    for name in STAGES:
        seen: set[str] = set()
        monkeypatch.setattr(params_mod, "load_params", lambda path=None, seen=seen: Recorder(real_load(path), "", seen))
        result = CliRunner().invoke(app, [name])
        assert result.exit_code == 0, result.output
        operational = set(params_mod.OPERATIONAL_KEYS.get(name, {}))
        assert operational <= _normalize(seen), f"stage {name}: no longer reads {sorted(operational - seen)}"
        read = _normalize(seen) - operational
        assert read == declared_params(name), f"stage {name}: reads {sorted(read)} (operational keys left out)"


@pytest.mark.parametrize("name", STAGES)
def test_operational_keys_are_neither_dvc_params_nor_in_the_checkpoint_fingerprint(name, tmp_path):
    from kwanzaa_hub.config.params import OPERATIONAL_KEYS, parse_params
    from kwanzaa_hub.stages import train

    operational = set(OPERATIONAL_KEYS.get(name, {}))
    assert not operational & declared_params(name), f"{name}: drop from dvc.yaml params: {operational}"
    assert all(OPERATIONAL_KEYS.get(name, {}).values()), "each operational key says why it changes no output"
    if name != "train":
        return
    assert not operational & set(train.WEIGHT_KEYS)
    (tmp_path / "train.json").write_text("{}")
    base = {"train": {"checkpoint_mirror": "none"}, "hub": {"repo_id": ""}}
    moved = {
        "train": {"checkpoint_mirror": "/mnt/drive/ckpts"},
        "hub": {"repo_id": "someone/else", "private": False, "allow_public": True},
    }
    assert {f"{s}.{k}" for s, keys in moved.items() for k in keys} == operational  # every key is varied here
    fp = train.fingerprint(parse_params(base), tmp_path)
    assert train.fingerprint(parse_params(moved), tmp_path) == fp
    lr = {**base, "train": {**base["train"], "learning_rate": 1e-4}}
    assert train.fingerprint(parse_params(lr), tmp_path) != fp


# ---------------------------------------------------------------------------------- dvc status and experiments


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, capture_output=True, text=True)


@pytest.mark.slow
def test_editing_a_module_marks_exactly_the_stages_that_import_it_and_experiments_run(make_dvc_project):
    project = make_dvc_project(
        {
            "train.max_steps": 2,
            "train.gradient_accumulation_steps": 1,
            "train.save_steps": 1,
            "eval.max_new_tokens": 4,
            "eval.allow_truncation": True,
            "eval.baseline": False,
        }
    )
    done = _dvc(project, "repro")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "v1"], cwd=project, check=True)

    def stale_after_editing(module: str) -> set[str]:
        path = project / "kwanzaa_hub" / module
        original = path.read_text()
        path.write_text(original + "\n# edited\n")
        try:
            status = json.loads(_dvc(project, "status", "--json").stdout or "{}")
        finally:
            path.write_text(original)
        return {k.split(":")[-1] for k in status}

    assert stale_after_editing("contract/answer.py") == {"data", "eval", "push"}  # push: the card's comparisons
    assert "data" not in stale_after_editing("stages/train.py") and "train" in stale_after_editing("stages/train.py")

    # where a version is pushed changes no weight: a new push target leaves training up to date
    changed = subprocess.run(
        [sys.executable, "-m", "kwanzaa_hub.cli.app", "set", "hub.repo_id=kwanzaa-team/elsewhere"],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert changed.returncode == 0, changed.stdout + changed.stderr
    status = json.loads(_dvc(project, "status", "--json").stdout or "{}")
    assert {k.split(":")[-1] for k in status} == {"push"}, status
    subprocess.run(["git", "checkout", "--", "params.yaml"], cwd=project, check=True)

    # the experiments loop: try a learning rate, compare, the workspace keeps its own params
    run = _dvc(project, "exp", "run", "-S", "train.learning_rate=1e-4", "--name", "lr1e-4")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    shown = json.loads(_dvc(project, "exp", "show", "--json").stdout)
    text = json.dumps(shown)
    assert "lr1e-4" in text and "0.0001" in text
    columns = _dvc(project, "exp", "show", "--csv").stdout.splitlines()[0].split(",")
    first_metric = next(
        c for c in columns if "." in c and not c.startswith(("model.", "data.", "train.", "eval.", "hub."))
    )
    assert first_metric.startswith("eval/headline/served.json:"), columns[:12]  # the served run's headline leads


@pytest.mark.slow
def test_dvc_metrics_show_is_the_headline_in_120_columns_and_exp_show_names_it(make_dvc_project):
    """The DVC metrics are the headline a person compares (served run, base, best floor: one file per row, the
    headline names as columns): `dvc metrics show` fits 120 columns with every name whole, and the README's `dvc exp
    show` names each headline metric in full."""
    import json
    import re
    import subprocess

    from kwanzaa_hub.contract.metrics import registry
    from kwanzaa_hub.stages.eval import HEADLINE_FILES

    readme = (REPO / "README.md").read_text()
    documented = re.search(r"^(dvc exp show [^#\n]*?)\s*#", readme, re.M).group(1).split()
    project = make_dvc_project()

    def write(value: float) -> None:
        for path in HEADLINE_FILES.values():
            (project / path).parent.mkdir(parents=True, exist_ok=True)
            (project / path).write_text(json.dumps({m: value for m in registry.HEADLINE}))

    write(0.4567)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "commit", "-qm", "metrics"], cwd=project, check=True)
    shown = _in_a_terminal(["dvc", "metrics", "show"], project, columns=120)
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines[0].split() == ["Path", *sorted(registry.HEADLINE)], shown
    assert [line.split()[0] for line in lines[1:]] == list(HEADLINE_FILES.values()), shown  # in dvc.yaml's order
    assert max(map(len, lines)) <= 120 and "…" not in shown
    write(0.75)  # a changed workspace
    out = _in_a_terminal([*documented, "--no-pager"], project, columns=250)
    header = next(line for line in out.splitlines() if "Experiment" in line)
    assert [n for n in registry.HEADLINE if n not in header] == []
    assert "…" not in out


def _in_a_terminal(cmd: list[str], cwd, columns: int) -> str:
    """What ``cmd`` shows in a terminal ``columns`` wide (a pseudo-terminal: DVC sizes its table to it), escape
    codes removed."""
    import fcntl
    import os
    import re
    import struct
    import subprocess
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm"}
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
