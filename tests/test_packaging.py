"""What `pip install .` ships: every package-data pattern in pyproject.toml names files that exist."""

from __future__ import annotations

import tomllib

from tests.conftest import REPO


def test_every_package_data_pattern_matches_a_file():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = config["tool"]["setuptools"]["package-data"]
    for package, patterns in package_data.items():
        root = REPO.joinpath(*package.split("."))
        for pattern in patterns:
            assert any(p.is_file() for p in root.glob(pattern)), f"{package}: {pattern!r} matches no file"
