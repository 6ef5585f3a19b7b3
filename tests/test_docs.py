"""The newcomer's documents stay true: a short README whose links resolve and whose package map is the package,
and the generated params reference in docs/params.md (the notebook: tests/test_notebook.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.config.edit import REFERENCE_END, REFERENCE_FILE, REFERENCE_START
from kwanzaa_hub.config.reference import reference_markdown, reference_rows
from tests.conftest import REPO

README_MAX_LINES = 220
# Markdown links and images: [text](target) or ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
# One line per subpackage in the README's map: "- `kwanzaa_hub/NAME/`: what it owns".
MAP_FOLDER = re.compile(r"^- `kwanzaa_hub/(\w+)/`: \S", re.M)
MAP_MODULES = re.compile(r"^- ((?:`kwanzaa_hub/\w+\.py`(?:, )?)+): \S", re.M)


def test_the_params_reference_in_docs_is_generated_from_the_params_classes():
    assert REFERENCE_FILE == "docs/params.md"
    text = (REPO / REFERENCE_FILE).read_text()
    block = text.split(REFERENCE_START, 1)[1].split(REFERENCE_END, 1)[0]
    assert block == reference_markdown(), "regenerate with `kwanzaa-hub params-reference --write`"


def test_params_reference_write_rewrites_only_the_block_of_docs_params_md(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    head, tail = "# Params\n\nintro kept\n\n", "\n\nafter kept\n"
    (tmp_path / "docs" / "params.md").write_text(f"{head}{REFERENCE_START}| stale |\n{REFERENCE_END}{tail}")
    result = CliRunner().invoke(app, ["params-reference", "--write"])
    assert result.exit_code == 0, result.output
    assert (
        tmp_path / "docs" / "params.md"
    ).read_text() == f"{head}{REFERENCE_START}{reference_markdown()}{REFERENCE_END}{tail}"

    result = CliRunner().invoke(app, ["params-reference", "--write", "--file", "nowhere.md"])
    assert result.exit_code == 2
    assert "nowhere.md: not found. Run from the project root or pass --file PATH." in result.output
    assert not (tmp_path / "nowhere.md").exists()


def test_every_key_in_params_yaml_is_documented_and_the_defaults_agree():
    from tests.params_defaults import leaves, stale_keys

    in_file = leaves(yaml.safe_load((REPO / "params.yaml").read_text()))
    documented = {k: d for k, d, _ in reference_rows()}
    assert set(in_file) == set(documented)
    assert stale_keys(REPO / "params.yaml") == [], "run `python -m tests.params_defaults` (params.yaml is generated)"


def test_the_params_defaults_command_writes_a_changed_default_and_keeps_the_comments(tmp_path):
    from tests.params_defaults import write_defaults

    path = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text()
    path.write_text(text.replace("  seed: 42", "  seed: 7"))
    assert write_defaults(path) == ["train.seed"]
    assert path.read_text() == text  # every comment and every other value as written
    assert write_defaults(path) == []


def test_readme_commands_are_the_ones_ci_runs():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    for command in ("bash scripts/setup.sh", "python -m pytest -q"):
        assert command in readme and command in ci
    assert "kwanzaa-hub demo" in readme and 'python -m pytest -q -m "not slow"' in readme
    # a system Python refuses `pip install` (PEP 668): the one set-up command makes and enters a virtual environment
    assert "python3 -m venv .venv && . .venv/bin/activate && bash scripts/setup.sh" in readme


def test_the_readme_stays_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move reference material to docs/"


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens (code fences skipped)."""
    text = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    headings = re.findall(r"^#{1,6} (.+)$", text, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def broken_links(doc: Path) -> list[str]:
    """The relative links of ``doc`` whose file (or heading anchor in a Markdown file) does not exist."""
    broken = []
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z][a-z+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text())):
            broken.append(target)
    return broken


DOCS = [
    "README.md",
    "RELIABILITY.md",
    "BENCHMARKS.md",
    *(f"docs/{p.name}" for p in sorted((REPO / "docs").glob("*.md"))),
]


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_points_to_a_file_that_exists(doc):
    assert broken_links(REPO / doc) == []


def test_a_broken_link_or_anchor_is_found(tmp_path):
    (tmp_path / "there.md").write_text("# A heading, with punctuation\n")
    doc = tmp_path / "doc.md"
    doc.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-punctuation) [web](https://example.org/x) [self](#top)\n"
        "# Top\n[gone](missing.md) ![img](pics/none.png) [bad anchor](there.md#nope)\n"
    )
    assert broken_links(doc) == ["missing.md", "pics/none.png", "there.md#nope"]


def package_map(readme: str) -> tuple[set[str], set[str]]:
    """The subpackages and the top-level modules that the README's map names."""
    folders = set(MAP_FOLDER.findall(readme))
    modules = {m for line in MAP_MODULES.findall(readme) for m in re.findall(r"kwanzaa_hub/(\w+\.py)", line)}
    return folders, modules


def test_the_package_map_parses_into_the_planned_layout():
    folders, modules = package_map((REPO / "README.md").read_text())
    assert folders == {"config", "fs", "contract", "runtime", "hub", "longrun", "stages", "serve", "cli", "devtools"}
    assert modules == {"errors.py", "console.py", "colab.py", "redact.py"}


def test_the_package_map_is_the_folders():
    folders, modules = package_map((REPO / "README.md").read_text())
    package = REPO / "kwanzaa_hub"
    assert folders == {p.parent.name for p in package.glob("*/__init__.py")}
    assert modules == {p.name for p in package.glob("*.py")} - {"__init__.py", "__main__.py"}


# "344 of the 371 tests", "358 tests": a count that goes stale with the next test written.
TEST_COUNT = re.compile(r"\b\d[\d,]* (?:of the \d[\d,]* )?tests\b")


@pytest.mark.parametrize("doc", DOCS)
def test_no_doc_hard_codes_a_number_of_tests(doc):
    assert TEST_COUNT.findall((REPO / doc).read_text()) == [], "say what the loop leaves out, not how many tests"


def test_every_test_reliability_names_exists():
    """RELIABILITY.md's tables name the tests that prove each guarantee: a renamed or removed test is seen here."""
    defined = {
        m for f in (REPO / "tests").glob("test_*.py") for m in re.findall(r"^def (test_\w+)", f.read_text(), re.M)
    }
    named = {n for n, py in re.findall(r"\b(test_\w+\*?)(\.py)?", (REPO / "RELIABILITY.md").read_text()) if not py}
    missing = {
        n for n in named if not (any(d.startswith(n[:-1]) for d in defined) if n.endswith("*") else n in defined)
    }
    assert missing == set()
