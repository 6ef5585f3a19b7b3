"""The README's version loop, as written, in the demo project: commit v1 and v2 with the README's lines, `dvc metrics
diff v1 v2` reads both, and an experiment applied with `dvc exp apply` leaves the example data in place so the next
`dvc repro` runs. The Hub lines (`kwanzaa-hub versions/diff REPO`) and `dvc push` need a Hub repo and a DVC remote,
which the demo has not: they are tested elsewhere (tests/test_pipeline.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kwanzaa_hub.devtools import demo as demo_mod
from tests.conftest import REPO


def readme_loop() -> list[str]:
    """The shell lines of the README's "Versions" block, comments dropped."""
    section = (REPO / "README.md").read_text().split("\n## Versions\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("  #")[0].strip() for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _sh(project: Path, line: str) -> str:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@localhost", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@l")
    proc = subprocess.run(["bash", "-c", line], cwd=project, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"`{line}` failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_readmes_version_loop_runs_as_written_in_the_demo(tmp_path, monkeypatch):
    lines = readme_loop()
    commit = [line for line in lines if line.startswith("git ")]
    assert len(commit) == 1 and "eval/headline" in commit[0] and "'*.gitignore'" in commit[0]
    experiments = [line for line in lines if line.startswith("dvc exp")]
    assert [line.split()[2] for line in experiments] == ["run", "show", "apply"]

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(demo_mod.TINY_OVERRIDES, "train.max_steps", 2)  # as short as the loop allows
    monkeypatch.setitem(demo_mod.TINY_OVERRIDES, "eval.max_new_tokens", 4)
    project = demo_mod.run_demo(Path("demo"), stages=[]).project  # v1, as `kwanzaa-hub demo` leaves it
    # an experiment straight after the demo, nothing committed yet: applying it keeps the example data
    _sh(project, "dvc exp run eval -S train.lora.r=4 --name first && dvc exp apply first")
    assert (project / "data" / "raw" / "kwanzaa_train.jsonl").is_file()
    for line in commit:  # v1 committed and tagged with the README's lines
        _sh(project, line.replace("v2", "v1"))
    _sh(project, "kwanzaa-hub set train.learning_rate=0.002 hub.version=v2")  # "change params.yaml, bump"
    assert lines[:2] == ["kwanzaa-hub check-params", "dvc repro"]
    for line in [*lines[:2], *commit]:
        _sh(project, line)
    diff = _sh(project, next(line for line in lines if line.startswith("dvc metrics diff")))
    for path in ("eval/headline/served.json", "eval/headline/base.json", "eval/headline/floor.json"):
        assert path in diff, diff
    assert "ERROR" not in diff and "Unable" not in diff, diff

    for line in experiments:  # run, show, then apply the experiment and repro its push
        _sh(project, line)
    assert (project / "data" / "raw" / "kwanzaa_train.jsonl").is_file()  # `dvc exp apply` kept the example data
    _sh(project, "dvc repro")
