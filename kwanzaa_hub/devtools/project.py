"""A self-contained copy of the pipeline in another folder: the offline demo and the tests run there.

``make_project(dest, overrides)`` copies ``dvc.yaml``, the package source (the stages' code deps) and
``params.yaml`` with overrides applied, writes the example data, and initialises git + DVC, so that
``dvc repro`` there runs the real pipeline without touching this checkout's params or outputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent


def tool_env() -> dict[str, str]:
    """The environment for DVC and the stage commands it runs (``kwanzaa-hub data``, found on PATH): this
    interpreter's bin folder first on PATH, so ``.venv/bin/kwanzaa-hub demo`` works without an activated
    environment. An ``InputError`` saying to activate it when no ``kwanzaa-hub`` is found there or on PATH."""
    bin_dir = str(Path(sys.executable).parent)  # not resolved: a venv's python is a link out of its bin folder
    path = os.pathsep.join([bin_dir, *(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != bin_dir)])
    if shutil.which("kwanzaa-hub", path=path) is None:
        raise InputError(
            f"kwanzaa-hub, which dvc runs for each stage, is neither in {bin_dir} nor on PATH: activate the "
            "environment kwanzaa_hub "
            "is installed in (source .venv/bin/activate) or install it there (pip install -e .), and rerun"
        )
    return {**os.environ, "PATH": path}


def dvc(*args: str, cwd: Path, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """``dvc ARGS`` in ``cwd`` with this interpreter's DVC, its stage commands found as :func:`tool_env` says."""
    return subprocess.run(
        [sys.executable, "-m", "dvc", *args], cwd=cwd, check=check, text=True, capture_output=capture, env=tool_env()
    )


def make_project(
    dest: str | Path, overrides: dict[str, Any] | None = None, *, source: Path = REPO_ROOT, raw_data: Path | None = None
) -> Path:
    """Create (or refresh) a git + DVC project at ``dest`` running this repo's pipeline, on the example data
    or on the ``kwanzaa_train.jsonl`` / ``kwanzaa_eval.jsonl`` files in ``raw_data``."""
    from kwanzaa_hub.config.base_model import declare_local_base
    from kwanzaa_hub.config.edit import apply
    from kwanzaa_hub.devtools import example_data
    from kwanzaa_hub.fs.ownership import claim, mark

    if not (source / "dvc.yaml").is_file():
        raise InputError(f"{source}/dvc.yaml not found: run from a checkout of kwanzaa_hub (pip install -e .)")
    dest = claim("demo", dest, "dir")  # refreshed only when `demo` made it ('..' refused, judged resolved)
    mark(dest, "demo")
    shutil.copy2(source / "dvc.yaml", dest / "dvc.yaml")
    pkg = dest / "kwanzaa_hub"
    if pkg.exists():
        shutil.rmtree(pkg)
    shutil.copytree(PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy2(source / "params.yaml", dest / "params.yaml")
    apply(dest / "params.yaml", list((overrides or {}).items()))  # the documented file, comments kept
    declare_local_base(dest)
    if raw_data is None:
        example_data.write(dest / "data" / "raw")
    else:
        (dest / "data" / "raw").mkdir(parents=True, exist_ok=True)
        for name in ("kwanzaa_train.jsonl", "kwanzaa_eval.jsonl"):
            shutil.copy2(Path(raw_data) / name, dest / "data" / "raw" / name)
    if not (dest / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        (dest / ".gitignore").write_text("/data/raw\n/models\n/checkpoints\n", encoding="utf-8")
    if not (dest / ".dvc").exists():
        dvc("init", "-q", cwd=dest)
        dvc("config", "core.analytics", "false", cwd=dest)
        dvc("config", "core.autostage", "false", cwd=dest)
    if subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=dest, capture_output=True).returncode:
        # DVCLive needs a commit to compare against.
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=kwanzaa-hub",
                "-c",
                "user.email=kwanzaa-hub@localhost",
                "commit",
                "-q",
                "-m",
                "pipeline copy",
            ],
            cwd=dest,
            check=True,
        )
    return dest
