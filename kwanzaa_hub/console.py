"""Shared terminal output: one rich console on stderr for progress, summaries, warnings and errors.

Markup is off: text that comes from data, params, the Hub or an exception is printed as it is, so a
``[bold]`` or ``[/x]`` in it can neither crash the output nor vanish from it. Styles are applied to fixed
prefixes only, through :class:`rich.text.Text` (see :func:`warn` and :func:`error`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from rich.console import Console
from rich.text import Text

from kwanzaa_hub.redact import scrub

T = TypeVar("T")
console = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def warn(message: str) -> None:
    """``warning: <message>``, the prefix in yellow, the message as plain text (scrubbed of the Hub token)."""
    console.print(Text.assemble(("warning: ", "yellow"), scrub(str(message))))


def error(message: str) -> None:
    """``error: <message>``, the prefix in bold red, the message as plain text, scrubbed of the Hub token: the CLI's
    error handler prints every failure through here, the last line of defence for a message that missed
    :func:`kwanzaa_hub.redact.scrub`."""
    console.print(Text.assemble(("error: ", "bold red"), scrub(str(message))))


def progress(description: str, total: int | None = None):
    """A function wrapping an iterable in a rich progress bar (transient, on stderr)."""
    from rich.progress import track

    def wrap(items: Iterable[T]) -> Iterable[T]:
        items = list(items)
        return track(items, description=description, total=total or len(items), console=console, transient=True)

    return wrap
