"""The newcomer's documents stay true: the README's params reference (the notebook: tests/test_notebook.py)."""

from __future__ import annotations

import yaml

from kwanzaa_hub.params import reference_markdown, reference_rows
from tests.conftest import REPO


def test_readme_params_reference_is_generated_from_the_params_classes():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- params-reference:start -->\n", 1)[1].split("<!-- params-reference:end -->", 1)[0]
    assert block == reference_markdown(), "regenerate with `kwanzaa-hub params-reference --write README.md`"


def test_every_key_in_params_yaml_is_documented_and_the_defaults_agree():
    def leaves(d, prefix=""):
        for k, v in d.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]

    in_file = dict(leaves(yaml.safe_load((REPO / "params.yaml").read_text())))
    documented = {k: d for k, d, _ in reference_rows()}
    assert set(in_file) == set(documented)
    for key, value in in_file.items():
        assert yaml.safe_load(documented[key]) == value or key == "hub.repo_id", key


def test_readme_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    for command in ("bash scripts/setup.sh", "python -m pytest -q"):
        assert command in readme and command in ci
    assert "kwanzaa-hub demo" in readme
