"""The project around the pipeline: checks before a long run, params edits, data checks, the params reference."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.cli.common import ParamsOpt, handled
from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE
from kwanzaa_hub.console import console, result


@handled
def preflight(
    repo_id: Optional[str] = typer.Argument(None, help="namespace/name (default: hub.repo_id from params)"),
    params: Path = ParamsOpt,
) -> None:
    """Before a long run: the base model is readable (gated license accepted), the hardware fits, and the token
    can write to the repo's namespace. Exit 2 with what to do when one is not."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.longrun import preflight as checks

    if repo_id:
        hub.check_repo_id(repo_id)
    p = load_params(params)
    for line in checks.check_all(p, repo_id=repo_id, tokens=checks.planned_tokens(p)):
        result(f"preflight: {line}")


@handled
def set_cmd(
    assignments: list[str] = typer.Argument(..., help="KEY=VALUE pairs, e.g. hub.repo_id=me/kwanzaa hub.version=v2"),
    params: Path = ParamsOpt,
) -> None:
    """Set params keys in params.yaml, keeping its comments and order (validated before writing)."""
    from kwanzaa_hub.config.base_model import declare_local_base
    from kwanzaa_hub.config.edit import set_values

    changes = set_values(params, assignments)
    for key, old, new in changes:
        console.print(f"set {key}: {old!r} -> {new!r}")
    project = params.resolve().parent
    if any(key == "model.base" for key, _, _ in changes) and (project / "dvc.yaml").is_file():
        local = declare_local_base(project)  # a local base is a DVC dependency of the stages that load it
        console.print(
            "dvc.yaml: data, train and eval depend on ${model.base} (a local base: `dvc status` sees it rebuilt)"
            if local
            else "dvc.yaml: model.base is a Hub id (its commit is resolved and recorded by the train stage)"
        )


@handled
def validate(
    files: list[Path] = typer.Argument(..., help="JSONL files to check"),
    tokenizer: Optional[str] = typer.Option(
        None, help="base model (Hub id, dir or .gguf) to also measure token lengths"
    ),
    max_length: Optional[int] = typer.Option(None, help="with --tokenizer: count samples longer than this"),
    chat_date: str = typer.Option(DEFAULT_CHAT_DATE, help="date pinned into the chat template"),
) -> None:
    """Check files against the message format and the contract (no outputs written). Exit 2 on errors."""
    from kwanzaa_hub.cli.tables import print_validation
    from kwanzaa_hub.runtime.models import load_tokenizer
    from kwanzaa_hub.stages import data as data_stage

    tok = load_tokenizer(tokenizer) if tokenizer else None
    results = data_stage.validate([str(f) for f in files], tokenizer=tok, chat_date=chat_date, max_length=max_length)
    errors = print_validation(results)
    if errors:
        raise typer.Exit(2)


@handled
def check_params(params: Path = typer.Argument(Path("params.yaml"), help="the params file to check")) -> None:
    """Check a params file as every command reads it (strict YAML: no anchors or aliases; every key known and valid)
    in under a second: run it after a hand edit, before any `dvc` command (DVC expands YAML aliases as it parses)."""
    from kwanzaa_hub.config.check import check

    check(params)
    result(f"{params}: sound (no anchors or aliases, every key known and valid); DVC may read it")


@handled
def params_reference(
    write: bool = typer.Option(False, "--write", help="rewrite the reference block in --file instead of printing"),
    file: Optional[Path] = typer.Option(None, "--file", help="the file holding the block [default: docs/params.md]"),
) -> None:
    """Print the params reference table (generated from the params classes), or rewrite it in docs/params.md."""
    from kwanzaa_hub.config.edit import REFERENCE_FILE, write_reference
    from kwanzaa_hub.config.reference import reference_markdown

    if not write:
        result(reference_markdown(), end="")
        return
    file = file or Path(REFERENCE_FILE)
    write_reference(file, reference_markdown())
    console.print(f"updated the params reference in {file}")
