"""Shared terminal output, one rule: **what a command was asked for goes to stdout, everything it says along the
way goes to stderr.**

- :func:`result` (stdout): the product of a command that shows something — the ``params-reference`` table, the
  ``versions`` table, ``validate``'s and ``preflight``'s report, ``schema``'s JSON, ``ask``'s answer — so that
  ``kwanzaa-hub params-reference > ref.md`` and ``kwanzaa-hub versions REPO | less`` work.
- :data:`console`, :func:`warn`, :func:`error`, :func:`progress` (stderr): progress, summaries of a command whose
  product is files or Hub state (``data``, ``train``, ``eval``, ``push``, ``pull``, ``set``, ``demo``...),
  warnings and errors. Such a command leaves stdout empty.

Markup is off on both: text that comes from data, params, the Hub or an exception is printed as it is, so a
``[bold]`` or ``[/x]`` in it can neither crash the output nor vanish from it. Styles are applied to fixed
prefixes only, through :class:`rich.text.Text` (see :func:`warn` and :func:`error`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from rich.console import Console
from rich.text import Text

from kwanzaa_hub.redact import scrub

T = TypeVar("T")
_PLAIN = {"highlight": False, "markup": False, "emoji": False, "soft_wrap": True}
console = Console(stderr=True, **_PLAIN)  # progress, summaries, diagnostics
stdout = Console(stderr=False, **_PLAIN)  # results only, through result()


def result(renderable: Any, end: str = "\n") -> None:
    """Print a command's result on stdout: a string as it is (no markup, no wrapping, byte for byte), a rich
    renderable (a table) rendered at the terminal's width (80 columns when neither stdin, stdout nor stderr is a
    terminal and ``COLUMNS`` is unset)."""
    if isinstance(renderable, str):
        stdout.file.write(renderable + end)
        stdout.file.flush()
    else:
        stdout.print(renderable, end=end)


def warn(message: str) -> None:
    """``warning: <message>`` on stderr, the prefix in yellow, the message as plain text (scrubbed of the Hub token)."""
    console.print(Text.assemble(("warning: ", "yellow"), scrub(str(message))))


def error(message: str) -> None:
    """``error: <message>`` on stderr, the prefix in bold red, the message as plain text, scrubbed of the Hub
    token: the CLI's error handler prints every failure through here, the last line of defence for a message that
    missed :func:`kwanzaa_hub.redact.scrub`."""
    console.print(Text.assemble(("error: ", "bold red"), scrub(str(message))))


def progress(description: str, total: int | None = None):
    """A function wrapping an iterable in a rich progress bar (transient, on stderr)."""
    from rich.progress import track

    def wrap(items: Iterable[T]) -> Iterable[T]:
        items = list(items)
        return track(items, description=description, total=total or len(items), console=console, transient=True)

    return wrap
