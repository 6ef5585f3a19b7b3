"""The CLI behaves like one: results on stdout and everything else on stderr (so `> file` and `| less` work),
tables whole at 80 columns, ``--version``, an example in every ``--help``, and ``ask --free`` honest about what
it printed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kwanzaa_hub import console as console_mod
from kwanzaa_hub.cli.app import app
from kwanzaa_hub.stages import push as push_stage
from tests.conftest import write_jsonl
from tests.helpers import FAST, params_for


def test_params_reference_is_a_result_on_stdout_and_its_write_note_is_on_stderr(tmp_path):
    shown = CliRunner().invoke(app, ["params-reference"])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith("| key | default | what it changes |\n") and "`train.learning_rate`" in shown.stdout
    assert shown.stderr == ""
    doc = tmp_path / "params.md"
    doc.write_text("<!-- params-reference:start -->\n<!-- params-reference:end -->\n")
    written = CliRunner().invoke(app, ["params-reference", "--write", "--file", str(doc)])
    assert written.exit_code == 0, written.output
    assert written.stdout == "" and "updated the params reference" in written.stderr


def test_versions_lists_on_stdout(outputs, hub, repo_id):
    push_stage.run(params_for(repo_id), retry=FAST)
    listed = CliRunner().invoke(app, ["versions", repo_id])
    assert listed.exit_code == 0, listed.output
    assert "v1" in listed.stdout and "0.750" in listed.stdout
    assert listed.stderr == ""


def test_validate_reports_on_stdout_and_errors_on_stderr(tmp_path, example_samples):
    good = write_jsonl(tmp_path / "good.jsonl", example_samples[0][:3])
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    checked = CliRunner().invoke(app, ["validate", str(good), str(bad)])
    assert checked.exit_code == 2, checked.output
    assert checked.stdout.split()[0] == "validation"  # the table: the result
    assert "error: " in checked.stderr and "error: " not in checked.stdout


def test_an_action_leaves_stdout_empty(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("hub:\n  version: v1\n")
    changed = CliRunner().invoke(app, ["set", "hub.version=v2", "--params", str(params)])
    assert changed.exit_code == 0, changed.output
    assert changed.stdout == "" and "set hub.version: 'v1' -> 'v2'" in changed.stderr


def test_a_result_is_printed_as_written_never_as_markup(capsys):
    console_mod.result("[bold]x[/bold] [/y]")
    assert capsys.readouterr().out == "[bold]x[/bold] [/y]\n"


def test_versions_at_80_columns_cuts_no_name_and_no_number(outputs, hub, repo_id, monkeypatch):
    from kwanzaa_hub.contract.metrics import registry

    push_stage.run(params_for(repo_id), retry=FAST)
    monkeypatch.setattr(console_mod.stdout, "_width", 80)
    listed = CliRunner().invoke(app, ["versions", repo_id])
    assert listed.exit_code == 0, listed.output
    assert "…" not in listed.stdout and max(map(len, listed.stdout.splitlines())) <= 80
    header = next(line for line in listed.stdout.splitlines() if line.startswith("version "))
    assert header.split() == ["version", "commit", "date", *(registry.spec(n).header for n in registry.HEADLINE)]
    row = next(line for line in listed.stdout.splitlines() if line.startswith("v1 "))
    assert row.split()[3:] == ["0.500", "0.600", "0.750"]  # tests/helpers.py METRICS: cite, overlap, refusal
    legend = " ".join(listed.stdout.split())
    for name in registry.HEADLINE:  # each short header's whole name, in the legend
        better = "higher" if registry.spec(name).higher_is_better else "lower"
        assert f"{registry.spec(name).header} = {name} ({better} is better)" in legend


def test_validate_at_80_columns_folds_a_long_path_whole(tmp_path, example_samples, monkeypatch):
    folder = tmp_path / "a-folder-with-a-rather-long-name" / "data" / "raw"
    files = [write_jsonl(folder / f"kwanzaa_{split}.jsonl", example_samples[0][:3]) for split in ("train", "eval")]
    monkeypatch.setattr(console_mod.stdout, "_width", 80)
    checked = CliRunner().invoke(app, ["validate", *map(str, files)])
    assert checked.exit_code == 0, checked.output
    assert "…" not in checked.stdout and max(map(len, checked.stdout.splitlines())) <= 80
    lines = checked.stdout.splitlines()
    body = lines[lines.index(next(x for x in lines if x.startswith("──"))) + 1 :]
    column = "".join(line.split()[0] for line in body if line.strip())  # the file column, its folds joined
    assert column == "".join(str(f) for f in files)


def test_every_table_is_built_by_new_table():
    """A table built any other way would cut its cells with "…" again at 80 columns."""
    import ast
    from pathlib import Path

    import kwanzaa_hub

    built_apart = set()
    for path in Path(kwanzaa_hub.__file__).parent.rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(fn, ast.FunctionDef) and fn.name != "new_table":
                calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
                if any(c.func.id == "Table" for c in calls):
                    built_apart.add(fn.name)
    assert built_apart == set()


def test_version_prints_the_installed_version_on_stdout():
    from importlib.metadata import version

    shown = CliRunner().invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.stdout == f"kwanzaa-hub {version('kwanzaa-hub')}\n" and shown.stderr == ""


def test_the_command_list_shows_each_line_whole_at_80_columns():
    from kwanzaa_hub.cli.app import ABOUT, COMMANDS

    listed = CliRunner().invoke(app, ["--help"], terminal_width=80)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    for name, _ in COMMANDS:
        assert any(line.split() == [name, *ABOUT[name][0].split()] for line in lines), name


def test_every_command_help_ends_with_an_example_of_itself_that_fits_80_columns():
    from kwanzaa_hub.cli.app import COMMANDS

    for name, _ in COMMANDS:
        shown = CliRunner().invoke(app, [name, "--help"], terminal_width=80)
        assert shown.exit_code == 0, shown.output
        heading, example = shown.stdout.rstrip().splitlines()[-2:]
        assert heading.strip() == "Example:" and f"{example} ".startswith(f"    kwanzaa-hub {name} "), (name, example)
        assert len(example) <= 80, example


def test_the_offline_examples_run_as_written(tmp_path, monkeypatch):
    """The examples that need no Hub and no model, run in order in an empty folder: each exits 0."""
    import shlex
    import shutil
    from pathlib import Path

    import yaml

    from kwanzaa_hub.cli.app import ABOUT

    monkeypatch.chdir(tmp_path)
    shutil.copy(Path(__file__).parents[1] / "params.yaml", tmp_path / "params.yaml")
    for name in ("example-data", "validate", "params-reference", "set"):
        command = ABOUT[name][1].split(" > ")[0].split(" | ")[0]
        ran = CliRunner().invoke(app, shlex.split(command)[1:])
        assert ran.exit_code == 0, (command, ran.output)
    assert Path("data/raw/kwanzaa_eval.jsonl").is_file()
    assert yaml.safe_load(Path("params.yaml").read_text())["hub"]["repo_id"] == "your-namespace/kwanzaa-adapter"


def _ask_answering(monkeypatch, tmp_path, text: str) -> list[str]:
    """``ask``'s model answers ``text`` (load and generation are tested in test_ask.py); returns the command line."""
    from kwanzaa_hub.serve import ask as ask_mod

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs.json").write_text(json.dumps([{"title": "t", "content": "Kwanzaa began in 1966.", "url": ""}]))
    (tmp_path / "params.yaml").write_text("model:\n  base: models/base\n")
    monkeypatch.setattr(ask_mod, "load_model", lambda **kwargs: None)
    monkeypatch.setattr(ask_mod, "answer", lambda *args, **kwargs: text)
    return ["ask", "When did Kwanzaa begin?", "--docs", "docs.json", "--free"]


def test_ask_free_says_it_is_not_held_to_the_schema_and_passes_a_contract_answer(
    monkeypatch, tmp_path, example_samples
):
    text = example_samples[1][0]["messages"][-1]["content"]
    done = CliRunner().invoke(app, _ask_answering(monkeypatch, tmp_path, text))
    assert done.exit_code == 0, done.output
    assert done.stdout == text + "\n"
    assert "--free: free decoding is not held to the decoding schema" in " ".join(done.stderr.split())
    assert "error:" not in done.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Kwanzaa began in 1966 [1]. " * 40, "not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        ('{"version": "kwanzaa.answer.v1"}', "required field is missing (and "),
    ],
)
def test_ask_free_exits_1_with_one_line_when_the_text_is_not_a_contract_answer(monkeypatch, tmp_path, text, reason):
    done = CliRunner().invoke(app, _ask_answering(monkeypatch, tmp_path, text))
    assert done.exit_code == 1, done.output
    assert done.stdout == text + "\n"  # nothing lost
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: --free: the text is not a kwanzaa.answer.v1 answer: ") and reason in line
    assert line.endswith("; stdout holds the text as the model wrote it")


@pytest.mark.slow
def test_ask_free_on_the_tiny_model_keeps_its_text_and_exits_1(outputs):
    """The random tiny model decoding freely writes no answer: its text on stdout, exit 1, the reason on stderr."""
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    (outputs / "docs.json").write_text(json.dumps([{"title": "t", "content": "Kwanzaa began in 1966.", "url": ""}]))
    done = CliRunner().invoke(app, ["ask", "When?", "--docs", "docs.json", "--free", "--max-new-tokens", "16"])
    assert done.exit_code == 1, done.output
    assert len(done.stdout) > 1  # its text (this one: blank lines) and the newline
    assert "error: --free: the text is not a kwanzaa.answer.v1 answer: " in done.stderr


def test_the_eval_summary_says_how_generations_stopped_in_words():
    from kwanzaa_hub.cli.tables import STOPPED, generation_summary
    from kwanzaa_hub.runtime.generate import STOP_REASONS

    assert set(STOPPED) == set(STOP_REASONS)  # every stop reason has its words
    run = {"stop_reasons": {"eot": 20, "json_end": 0, "length": 3, "budget": 1}, "new_tokens": 9, "seconds": 1.0}
    line = generation_summary({"adapter": {**run, "tokens_per_s": 9.0}}).splitlines()[0]
    assert line.startswith(
        "adapter: 20 ended their turn, 0 stopped after a closed JSON object, 3 cut by max_new_tokens, 1 closed early "
        "to fit max_new_tokens; 9 new tokens"
    )
