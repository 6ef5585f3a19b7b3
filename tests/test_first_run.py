"""A first run that explains itself: the demo's last words read whole at 80 columns and say what the figures
mean; library messages nobody can act on stay off the console (``runtime.quiet``)."""

from __future__ import annotations

import logging

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
    monkeypatch.setattr(console, "_width", 80)
    out = CliRunner().invoke(app, ["demo", "--workdir", str(tmp_path / "demo")])
    assert out.exit_code == 0, out.output
    assert "…" not in out.output
    for name in registry.HEADLINE:
        assert f"* {name} " in out.output
    assert "random" in out.output and "what it scores by design" in out.output
    assert "kwanzaa-hub demo --model smollm2" in " ".join(out.output.split())


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
