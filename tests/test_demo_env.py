"""``.venv/bin/kwanzaa-hub demo`` without an activated environment (issue 38.L10): DVC runs each stage's
``kwanzaa-hub ...`` from PATH, so the demo's DVC runs with this interpreter's bin folder first on PATH."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kwanzaa_hub.devtools import project
from kwanzaa_hub.errors import InputError


def test_dvc_finds_kwanzaa_hub_without_an_activated_environment(tmp_path, monkeypatch):
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "kwanzaa-hub").is_file(), "the test needs kwanzaa-hub installed beside this interpreter"
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    project.dvc("init", "-q", cwd=tmp_path)
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  which:\n    cmd: kwanzaa-hub --help > help.txt\n    outs:\n      - help.txt\n", encoding="utf-8"
    )
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # as a shell that never activated the virtual environment
    proc = project.dvc("repro", "-q", cwd=tmp_path, check=False, capture=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Usage: kwanzaa-hub" in (tmp_path / "help.txt").read_text()


def test_without_kwanzaa_hub_beside_the_interpreter_or_on_path_it_stops_with_one_line_saying_to_activate(
    tmp_path, monkeypatch
):
    real_bin = Path(sys.executable).parent
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(InputError) as exc:
        project.tool_env()
    assert str(exc.value) == (
        f"kwanzaa-hub, which dvc runs for each stage, is neither in {fake.parent} nor on PATH: activate the "
        "environment kwanzaa_hub is installed in (source .venv/bin/activate) or install it there (pip install -e .), "
        "and rerun"
    )
    monkeypatch.setenv("PATH", f"/usr/bin:{real_bin}:/bin")  # installed elsewhere on PATH (pip --user): accepted
    assert project.tool_env()["PATH"] == f"{fake.parent}:/usr/bin:{real_bin}:/bin"
