"""Dependencies that cannot move under the code: constraints.txt holds the tested versions, scripts/setup.sh (hence
CI, the README's set-up and the notebook) installs with it, pyproject.toml's ranges admit them, and they are what
is installed."""

from __future__ import annotations

import re
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import REPO

try:
    import tomllib
except ImportError:  # Python 3.10: huggingface_hub brings tomli there
    import tomli as tomllib


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line).groups()
            pins[canonicalize_name(name)] = version
    return pins


def _declared() -> dict[str, Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def test_setup_installs_with_the_constraints_and_ci_runs_setup():
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert re.search(r'pip install -q -c constraints\.txt -e "\.\[dev\]"', setup)
    assert "bash scripts/setup.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")


def test_every_declared_dependency_but_torch_and_ipykernel_is_pinned_within_its_range():
    pins, declared = _pins(), _declared()
    assert set(declared) - set(pins) == {"torch", "ipykernel"}  # Colab's CUDA torch and its kernel stay
    for name, version in pins.items():
        assert name in declared, f"constraints.txt pins {name}, which pyproject.toml does not declare"
        assert declared[name].specifier.contains(version, prereleases=True), (name, version, declared[name])


def test_the_installed_versions_are_the_tested_ones():
    """Fails on a machine whose versions drifted from constraints.txt: rerun `bash scripts/setup.sh`, or move the
    pin there after running the tests on the new version."""
    drift = {
        name: (version, metadata.version(name))
        for name, version in _pins().items()
        if metadata.version(name) != version
    }
    assert not drift, f"installed versions differ from constraints.txt (pinned, installed): {drift}"
