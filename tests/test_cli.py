"""The CLI behaves like one: results on stdout and everything else on stderr (so `> file` and `| less` work),
tables whole at 80 columns, ``--version``, an example in every ``--help``, and ``ask --free`` honest about what
it printed."""

from __future__ import annotations

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
    assert checked.stdout.startswith("validation\n")  # the table: the result
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
