"""The package layout is the architecture: the README's map names exactly the subpackages, and the import
rules (import-linter contracts in pyproject.toml, run by `.ci/run` as `lint-imports`) hold and can fail."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "kwanzaa_hub"
LINT = Path(sys.executable).with_name("lint-imports")


def test_readme_map_names_exactly_the_subpackages():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    mapped = set(re.findall(r"^- `kwanzaa_hub/(\w+)/`:", readme, re.M))
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert mapped == folders, f"README map: missing {sorted(folders - mapped)}, stale {sorted(mapped - folders)}"


def test_no_module_over_400_lines_without_a_reason_at_its_top():
    for path in PACKAGE.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > 400:
            head = "\n".join(lines[:15])
            assert "Why this module is long" in head, f"{path.relative_to(REPO)}: {len(lines)} lines, no reason given"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PATH": str(LINT.parent), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
    )


@pytest.mark.skipif(not LINT.is_file(), reason="import-linter is not installed (pip install -e '.[dev]')")
def test_import_rules_hold_and_a_forbidden_import_breaks_them(tmp_path):
    assert _lint(REPO).returncode == 0, _lint(REPO).stdout[-2000:]
    copy = tmp_path / "repo"
    shutil.copytree(PACKAGE, copy / "kwanzaa_hub", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    eval_stage = copy / "kwanzaa_hub/stages/eval.py"
    eval_stage.write_text(eval_stage.read_text(encoding="utf-8") + "\nfrom kwanzaa_hub.stages import train  # noqa\n")
    contract = copy / "kwanzaa_hub/contract/answer.py"
    contract.write_text(contract.read_text(encoding="utf-8") + "\nimport torch  # noqa\n")
    proc = _lint(copy)
    assert proc.returncode != 0
    assert "stages never import each other BROKEN" in proc.stdout
    assert "the eval stage imports nothing from training BROKEN" in proc.stdout
    assert "the contract imports no torch and no Hub client BROKEN" in proc.stdout
