"""A first run that explains itself: the demo's last words read whole at 80 columns, say what the figures mean
and end with one answer of the adapter it trained; library messages nobody can act on stay off the console
(``runtime.quiet``)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kwanzaa_hub.cli.app import app
from kwanzaa_hub.console import console
from kwanzaa_hub.contract.metrics import registry
from kwanzaa_hub.devtools import demo as demo_mod
from kwanzaa_hub.runtime.quiet import BNB_KERNEL_LOGGER, quiet_libraries


def test_the_demo_ends_with_whole_metric_names_at_80_columns_and_what_the_tiny_models_figures_mean(
    tmp_path, monkeypatch
):
    metrics = {f"{run}.{name}": 0.0 for run in registry.RUNS for name in registry.HEADLINE}
    result = demo_mod.DemoResult(project=tmp_path, metrics=metrics, card_file="MODEL_CARD.md")
    monkeypatch.setattr(demo_mod, "run_demo", lambda workdir, model, stages: result)  # the pipeline is tested apart
    monkeypatch.setattr(demo_mod, "ask_example", lambda project: None)  # the answer: the test below
    monkeypatch.setattr(console, "_width", 80)
    out = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "demo")])
    assert out.exit_code == 0, out.output
    assert "* " not in out.output  # the eval stage prints the table (under dvc repro); the demo does not repeat it
    assert "random" in out.output and "what it scores by design" in out.output
    assert "kwanzaa-hub demo --model smollm2" in " ".join(out.output.split())


def test_the_eval_table_shows_whole_metric_names_at_80_columns_and_explains_its_star():
    import io

    from rich.console import Console

    from kwanzaa_hub.cli.tables import metrics_table

    metrics = {f"{run}.{spec.name}": 0.0 for run in registry.RUNS for spec in registry.QUALITY}
    screen = Console(width=80, file=io.StringIO())
    screen.print(metrics_table(metrics))
    text = screen.file.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    for spec in registry.QUALITY:
        assert f"{'* ' if spec.headline else '  '}{spec.name}" in text
    assert "* a headline metric (metric definitions 3)" in " ".join(text.split())


#: A warning line: ours (``warning: ...``) or Python's (``file.py:12: UserWarning: ...``).
WARNING_LINE = re.compile(r"^warning: |Warning: ", re.M)


@pytest.mark.slow
def test_the_whole_demo_ends_with_one_answer_of_its_adapter_and_no_warning_line(outputs, monkeypatch):
    """After the table, `kwanzaa-hub ask` runs in the demo project on an eval question and its documents: the
    console names them and the adapter, says what the tiny model's answer can be BEFORE it, shows the answer in a few
    lines (the whole JSON object in demo/answer.json) and ends with a "next" block; no warning line. The project is
    what train and eval leave (a real adapter on the tiny base, its train report, the decoding schema); the pipeline
    that writes it runs in tests/test_pipeline.py."""
    from kwanzaa_hub.runtime.models import base_identity

    report = json.loads((outputs / "reports/train.json").read_text())
    base = {"name": "models/base", **base_identity("models/base")}
    (outputs / "reports/train.json").write_text(json.dumps({**report, "base_model": base}))
    (outputs / "params.yaml").write_text("model:\n  base: models/base\n")
    metrics = {f"{run}.{name}": 0.0 for run in registry.RUNS for name in registry.HEADLINE}
    result = demo_mod.DemoResult(project=outputs, metrics=metrics, card_file="MODEL_CARD.md")
    monkeypatch.setattr(demo_mod, "run_demo", lambda workdir, model, stages: result)
    out = CliRunner().invoke(app, ["demo", "--workdir", str(outputs / "demo")])
    assert out.exit_code == 0, out.output
    assert not WARNING_LINE.search(out.stderr), out.stderr
    before, ask_heading, after = out.stderr.rpartition("\nask: ")
    assert ask_heading, f"the demo does not end with an answer: {out.stderr[-600:]}"
    heading, explained, shown = after.split("\n", 2)
    question, docs = demo_mod.example_request()
    assert heading == f'"{question}" with {len(docs)} documents ({demo_mod.EXAMPLE_DOCS_FILE}), adapter models/adapter'
    assert explained.startswith("(the tiny model is random: held to the schema, its answer has the contract's shape")
    answer = json.loads((outputs / demo_mod.ANSWER_FILE).read_text())  # the whole answer, kept
    assert answer["version"] == "kwanzaa.answer.v1"
    assert {s["canonical_url"] for s in answer["sources"]} <= {d["url"] for d in docs}  # held to these documents
    shown_answer, _, closing = shown.partition("\nnext:\n")
    assert shown_answer.startswith("answer:\n") and len(shown_answer.splitlines()) <= 12, shown_answer
    assert f"(the whole JSON object: {demo_mod.shown_path(outputs / demo_mod.ANSWER_FILE)})" in shown_answer
    assert [line.split()[0] for line in closing.splitlines()] == ["curves", "Colab", "real", "your", "kwanzaa-hub"]
    assert "notebooks/kwanzaa_colab.ipynb" in closing and "dvclive/curves.svg: loss" in closing
    assert max(len(line) for line in closing.splitlines()) <= 80


def test_the_demos_question_is_an_eval_prompt_byte_for_byte(example_samples):
    """``ask`` builds, from the demo's question and documents, the user message of the eval prompt that asks it."""
    from kwanzaa_hub.contract.documents import from_dicts
    from kwanzaa_hub.serve.ask import messages

    question, docs = demo_mod.example_request()
    assert len(docs) >= 2
    held = [s["messages"][1]["content"] for s in example_samples[1]]
    assert messages(question, from_dicts(docs))[1]["content"] in held


def test_the_bitsandbytes_kernel_message_is_silenced_and_its_errors_are_not(caplog):
    logger = logging.getLogger(BNB_KERNEL_LOGGER)
    quiet_libraries()
    logger.warning("Failed to load CPU gemm_4bit_forward from kernels-community: offline")
    logger.error("a real failure")
    assert [r.getMessage() for r in caplog.records if r.name == BNB_KERNEL_LOGGER] == ["a real failure"]


def test_the_eval_stage_loads_its_model_without_a_bar(tmp_path, tiny_model_dir, capsys, monkeypatch):
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.stages.eval import load_models

    monkeypatch.chdir(tmp_path)  # no reports/train.json: nothing recorded to check the base against
    load_models(parse_params({"model": {"base": str(tiny_model_dir)}}), str(tiny_model_dir))
    assert "Loading weights" not in capsys.readouterr().err


@pytest.mark.slow
def test_rerunning_the_demo_keeps_the_users_params_even_when_it_fails(tmp_path, monkeypatch, capsys):
    """`kwanzaa-hub demo` again (here `demo nosuchstage`, which fails in dvc repro) keeps demo/params.yaml as the
    user edited it, and says so; another base model keeps the user's file beside its own."""
    from kwanzaa_hub.config.edit import apply
    from kwanzaa_hub.errors import InputError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="dvc repro failed"):
        demo_mod.run_demo(Path("demo"), stages=["nosuchstage"])
    params = tmp_path / "demo" / "params.yaml"
    apply(params, [("train.learning_rate", 0.0003)])
    edited = params.read_text()
    capsys.readouterr()
    with pytest.raises(InputError, match="dvc repro failed"):
        demo_mod.run_demo(Path("demo"), stages=["nosuchstage"])
    assert params.read_text() == edited
    assert f"demo: kept your edits to {Path('demo') / 'params.yaml'}" in capsys.readouterr().err

    monkeypatch.setattr(demo_mod, "smollm2_gguf", lambda: tmp_path / "demo" / "models" / "base")  # another base
    with pytest.raises(InputError):
        demo_mod.run_demo(Path("demo"), model="smollm2", stages=["nosuchstage"])
    assert (tmp_path / "demo" / "params.yaml.yours").read_text() == edited
    assert "learning_rate: 0.0003" not in params.read_text()


def test_a_second_switch_of_base_keeps_every_earlier_copy_of_the_users_params(tmp_path):
    """The copy kept beside another base's params is never overwritten: a later switch keeps it and writes the next
    copy under a numbered name; a link in its place is not followed."""
    project = tmp_path / "demo"
    project.mkdir()
    (project / "params.yaml").write_text("model:\n  base: models/smollm2\n")
    (project / "params.yaml.yours").write_text("model:\n  base: models/base\ntrain:\n  seed: 1\n")
    outside = tmp_path / "outside.yaml"
    outside.write_text("mine\n")
    (project / "params.yaml.yours.2").symlink_to(outside)
    edited = "model:\n  base: models/base\ntrain:\n  seed: 2\n"
    demo_mod.keep_edited_params(project, edited, "smollm2", Path("demo"))
    assert (project / "params.yaml.yours").read_text() == "model:\n  base: models/base\ntrain:\n  seed: 1\n"
    assert outside.read_text() == "mine\n" and (project / "params.yaml.yours.3").read_text() == edited
