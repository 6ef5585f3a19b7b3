"""Typed errors. The CLI turns each into a one-paragraph message and an exit code."""

from __future__ import annotations


class KwanzaaError(Exception):
    """Base error; ``exit_code`` 2 means bad input the user can fix, 1 means a failure."""

    exit_code = 1


class InputError(KwanzaaError):
    """Bad input: a params key, a data line, a path. Exit code 2."""

    exit_code = 2


class ParamsError(InputError):
    """params.yaml is missing, malformed or holds unknown or mistyped keys."""


class DataValidationError(InputError):
    """One or more dataset lines cannot be used. ``problems`` lists each one as ``file:line: message``."""

    def __init__(self, problems: list[str], *, limit: int = 25):
        self.problems = problems
        shown = problems[:limit]
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        super().__init__(
            f"{len(problems)} problem(s) in the dataset; nothing was written:\n  " + "\n  ".join(shown) + more
        )
