"""The pipeline's stages, one command each: ``dvc.yaml`` runs ``kwanzaa-hub data|train|eval|push``."""

from __future__ import annotations

from pathlib import Path

import typer

from kwanzaa_hub.cli.common import ParamsOpt, handled
from kwanzaa_hub.console import console


@handled
def data(params: Path = ParamsOpt) -> None:
    """Stage `data`: validate both splits, measure tokens, check leakage, write data/prepared + reports/data.json."""
    from kwanzaa_hub.cli.tables import print_data_summary
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.console import progress
    from kwanzaa_hub.stages import data as data_stage

    p = load_params(params)
    console.print(
        f"data: validating {p.data.train_file} + {p.data.eval_file} against kwanzaa.answer.v1, "
        f"tokenizing with {p.model.base} (date pinned to {p.model.chat_date}), max_length {p.data.max_length}, "
        f"overflow={p.data.overflow}"
    )
    result = data_stage.run(p, progress=progress("tokenizing"))
    print_data_summary(result.report, result.warnings)
    console.print(f"wrote {p.data.prepared_dir}/ and {p.data.report}")


@handled
def train(params: Path = ParamsOpt) -> None:
    """Stage `train`: QLoRA fine-tuning on the prepared data; writes models/adapter + reports/train.json."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import launch
    from kwanzaa_hub.stages import train as train_stage

    p = load_params(params)
    code = train_stage.relaunch(p, params)  # under `accelerate launch` when train.num_processes > 1
    if code is not None:
        raise typer.Exit(code)
    result = train_stage.run(p)
    if launch.is_main_process():
        console.print(train_stage.closing_line(result.report, p))


@handled
def eval_cmd(params: Path = ParamsOpt) -> None:
    """Stage `eval`: generate for every eval prompt (base and adapter), score them and the floors, write
    metrics.json."""
    from kwanzaa_hub.cli.tables import generation_summary, metrics_table
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics.paired import parse_records
    from kwanzaa_hub.stages import eval as evaluation

    p = load_params(params)
    result = evaluation.run(p)
    records = parse_records(Path(p.eval.predictions_file).read_text(encoding="utf-8"), p.eval.predictions_file)
    title = f"eval (metric definitions {result.report.get('metric_definitions')}, plain split)"
    console.print(metrics_table(result.metrics, title=title, records=records))
    console.print(generation_summary(result.report))
    console.print(f"wrote {p.eval.metrics_file}, {p.eval.predictions_file}, {p.eval.report}")


@handled
def push(params: Path = ParamsOpt) -> None:
    """Stage `push`: model card, commit + immutable tag hub.version on the private repo, reports/push.json."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.stages import push as push_stage

    push_stage.run(load_params(params))
