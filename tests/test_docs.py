"""The newcomer's documents stay true: the Colab notebook and the README's params reference."""

from __future__ import annotations

import re
import shlex

import nbformat
import yaml

from kwanzaa_hub.cli import app
from kwanzaa_hub.params import reference_markdown, reference_rows
from tests.conftest import REPO

NOTEBOOK = REPO / "notebooks" / "kwanzaa_colab.ipynb"


def _shell_lines(nb) -> list[str]:
    return [
        line.strip()[1:].strip()
        for cell in nb.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if line.strip().startswith("!")
    ]


def test_notebook_is_valid_and_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert nb.metadata["colab"]["gpuType"] == "T4"


def test_notebook_reads_the_token_from_colab_secrets_without_printing_it():
    source = "\n".join(c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells)
    assert 'userdata.get("HF_TOKEN")' in source
    printed = [line for line in source.splitlines() if "print(" in line and "HF_TOKEN" in line]
    assert printed and all(re.search(r"bool\(os\.environ\[\"HF_TOKEN\"\]\)", line) for line in printed)
    assert "echo $HF_TOKEN" not in source
    assert "revision=VERSION" in source or "version=VERSION" in source


def test_every_shell_command_in_the_notebook_exists_here():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    stages = set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    lines = _shell_lines(nb)
    assert lines, "the notebook runs no shell commands"
    for line in lines:
        argv = shlex.split(line)
        if argv[0] == "kwanzaa-hub":
            assert argv[1] in commands, line
        elif argv[0] == "dvc" and argv[1] == "repro":
            assert all(a in stages for a in argv[2:] if not a.startswith("-")), line
        elif argv[0] == "dvc":
            assert argv[1] in {"pull", "remote", "metrics", "plots", "params", "push", "status"}, line
            for path in argv[2:]:
                if path.endswith(".dvc") or path.endswith(".json"):
                    assert (
                        path in ("metrics.json", "reports/train.json", "reports/data.json") or (REPO / path).exists()
                    ), line
        elif argv[0] == "bash":
            assert (REPO / argv[1]).is_file(), line
        else:
            assert argv[0] in {"git", "nvidia-smi"}, line
    assert "bash scripts/setup.sh" in lines  # the README's set-up command, as is
    assert "dvc repro" in lines


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
