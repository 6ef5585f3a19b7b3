"""Pushed versions: download one (``pull``), list them (``versions``), compare two (``diff``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from kwanzaa_hub.cli.common import ParamsOpt, handled
from kwanzaa_hub.console import console, result


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
    repo_id: Optional[str] = typer.Argument(None, help="namespace/name (for pushed versions)"),
    old: Optional[str] = typer.Argument(None, help="older version, e.g. v1 (or --from FOLDER)"),
    new: Optional[str] = typer.Argument(None, help="newer version, e.g. v2 (or --workspace, or --to FOLDER)"),
    workspace: bool = typer.Option(False, "--workspace", help="the newer side is this workspace's eval outputs"),
    from_folder: Optional[Path] = typer.Option(
        None, "--from", help="the older side is a folder: a pulled version (kwanzaa-hub pull) or eval outputs"
    ),
    to_folder: Optional[Path] = typer.Option(None, "--to", help="the newer side is such a folder"),
    examples: bool = typer.Option(False, "--examples", help="list the prompts whose per-example value changed"),
    md: bool = typer.Option(False, "--md", help="print Markdown on stdout (for a pull request or a discussion)"),
    all_metrics: bool = typer.Option(
        False,
        "--all",
        help="every run (base too) and every metric, not only the served run's and the adapter's headline",
    ),
    params: Path = ParamsOpt,
) -> None:
    """The headline metrics of the served run (adapter_constrained) and the adapter in two versions, per split,
    the change, and whether it is better, worse or within noise (a paired test of the printed figures on the same
    prompts). A side is a pushed version (REPO OLD [NEW]), the workspace (--workspace) or a folder (--from / --to:
    a version `kwanzaa-hub pull` wrote, or another project's eval outputs), so no Hub repo is needed to review."""
    from kwanzaa_hub.cli import review as show
    from kwanzaa_hub.cli.tables import diff_table
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.hub import client as hub
    from kwanzaa_hub.hub import records

    if from_folder is not None and (repo_id or old or new):
        raise InputError(
            "--from FOLDER is the older side: pass it without REPO OLD (kwanzaa-hub diff --from F --workspace)"
        )
    if from_folder is None and not old:
        raise InputError(
            "name the older side: REPO OLD (a pushed version, e.g. kwanzaa-hub diff REPO v1 v2) or --from FOLDER"
        )
    if sum([new is not None, workspace, to_folder is not None]) != 1:
        raise InputError(
            "name one newer side: a version (kwanzaa-hub diff REPO v1 v2), --to FOLDER, or pass --workspace"
        )
    if repo_id:
        hub.check_repo_id(repo_id)
    a = records.folder_results(from_folder) if from_folder is not None else records.version_results(repo_id, old)
    if workspace:
        b = records.workspace_results(load_params(params))
    elif to_folder is not None:
        b = records.folder_results(to_folder)
    else:
        b = records.version_results(repo_id, new)
    reviewed = records.review(a, b, everything=all_metrics, required=examples)
    title = f"{repo_id}: {a.name} -> {b.name}" if repo_id else f"{a.name} -> {b.name}"
    if md:
        print(show.markdown(title, a.name, b.name, reviewed, examples), end="")
        return
    if examples:
        show.print_examples(a.name, b.name, reviewed)
        return
    result(diff_table(title, a.name, b.name, reviewed.rows))
    for note in reviewed.notes:
        result(note)
