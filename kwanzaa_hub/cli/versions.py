"""Pushed versions: download one (``pull``), list them (``versions``), compare two (``diff``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.cli.common import ParamsOpt, handled
from kwanzaa_hub.console import console, result, warn


@handled
def pull(
    repo_id: str = typer.Argument(..., help="namespace/name"),
    version: str = typer.Option("v1", help="tag to download"),
    out: Path = typer.Option(..., help="folder to write (replaced)"),
) -> None:
    """Download a version and check every file's sha256 against its manifest."""
    from kwanzaa_hub.hub.pull import pull as pull_version

    path = pull_version(repo_id, version, out)
    console.print(f"pulled {repo_id}@{version} into {path}/ ({sum(1 for _ in path.iterdir())} files, hashes checked)")


@handled
def versions(repo_id: str = typer.Argument(..., help="namespace/name")) -> None:
    """List the pushed versions with commit, date and headline metrics."""
    from kwanzaa_hub.cli.tables import versions_table
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import versions as hub_versions

    result(versions_table(repo_id, hub_versions.version_table(hub.check_repo_id(repo_id))))


@handled
def diff(
    repo_id: str = typer.Argument(..., help="namespace/name"),
    old: str = typer.Argument(..., help="older version, e.g. v1"),
    new: Optional[str] = typer.Argument(None, help="newer version, e.g. v2 (or --workspace)"),
    workspace: bool = typer.Option(False, "--workspace", help="compare the workspace's eval outputs with OLD"),
    examples: bool = typer.Option(False, "--examples", help="list the prompts whose per-example verdict changed"),
    md: bool = typer.Option(False, "--md", help="print Markdown on stdout (for a pull request or a discussion)"),
    all_metrics: bool = typer.Option(False, "--all", help="include per-category metrics"),
    params: Path = ParamsOpt,
) -> None:
    """Each quality metric of two pushed versions (or a version and the workspace), the change, and whether it is
    better, worse or within noise (a paired test on the same prompts' per-example results)."""
    from kwanzaa_hub.cli import review
    from kwanzaa_hub.cli.tables import diff_table
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics.paired import LEVEL
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import records
    from kwanzaa_hub.hub.versions import metric_rows

    if (new is None) != workspace:
        raise InputError("name the newer version (kwanzaa-hub diff REPO v1 v2) or pass --workspace, not both")
    hub.check_repo_id(repo_id)
    a = records.version_results(repo_id, old)
    b = records.workspace_results(load_params(params)) if workspace else records.version_results(repo_id, new)
    comparisons = records.compare_results(a, b, required=examples)
    note = LEVEL if comparisons else f"{(a if a.records is None else b).missing}: headline metrics only, no paired test"
    if unlike := records.definitions_note(a, b):
        warn(unlike)
        note = f"{note}\n{unlike}"
    rows = review.headline_rows(a.metrics, b.metrics, comparisons)
    if md:
        print(
            review.markdown(
                f"{repo_id}: {a.name} -> {b.name}", a.name, b.name, rows, comparisons if examples else None, note
            ),
            end="",
        )
    elif examples:
        review.print_examples(a.name, b.name, rows, comparisons)
    else:
        table = diff_table(
            repo_id,
            a.name,
            b.name,
            metric_rows(a.metrics, b.metrics),
            per_category=all_metrics,
            comparisons=comparisons,
        )
        console.print(table)
        console.print(note)
