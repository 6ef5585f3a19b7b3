"""What every command shares: the ``--params`` option and the turn of a library error into a message and exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import typer

from kwanzaa_hub.console import error
from kwanzaa_hub.errors import KwanzaaError

ParamsOpt = typer.Option(Path("params.yaml"), "--params", "-p", help="params file")


def handled(fn: Callable) -> Callable:
    """Turn KwanzaaError into a message on stderr and its exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KwanzaaError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # disk full, permissions: the stage wrote nothing (outputs are atomic)
            error(f"{exc}; nothing was written. Free space or fix the path and rerun.")
            raise typer.Exit(1) from None

    return wrapper
