"""Shared terminal output: one rich console on stderr for progress and summaries."""

from __future__ import annotations

from typing import Iterable, TypeVar

from rich.console import Console

T = TypeVar("T")
console = Console(stderr=True, highlight=False)


def progress(description: str, total: int | None = None):
    """A function wrapping an iterable in a rich progress bar (transient, on stderr)."""
    from rich.progress import track

    def wrap(items: Iterable[T]) -> Iterable[T]:
        items = list(items)
        return track(items, description=description, total=total or len(items), console=console, transient=True)

    return wrap
