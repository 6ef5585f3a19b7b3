"""``python -m kwanzaa_hub.config.check [params.yaml]``: the params file checked as every command reads it, in
a fraction of a second and a few MB, before DVC reads it.

DVC parses ``params.yaml`` itself (to fill ``${...}`` in ``dvc.yaml`` and to compare params) before it runs any
stage, and offers no hook to check the file first: a YAML alias bomb (a few lines of ``&a``/``*a``) is expanded
by ``dvc status``/``dvc repro`` for minutes and gigabytes until the process dies. This check reads the file with
the strict loader (:mod:`kwanzaa_hub.config.yamlfile`: anchors and aliases refused before they expand, no key
twice) and validates it against the params schema: exit 0 and one line on stdout when the file is sound, exit 2
and one line naming the file and line when not. Run it after editing ``params.yaml`` by hand, before any ``dvc``
command; ``kwanzaa-hub set`` (which the notebook runs before ``dvc repro``) checks the same on every edit."""

from __future__ import annotations

import sys
from pathlib import Path

from kwanzaa_hub.config.params import DEFAULT_PARAMS, Params, load_params
from kwanzaa_hub.console import error
from kwanzaa_hub.errors import KwanzaaError


def check(path: str | Path = DEFAULT_PARAMS) -> Params:
    """The params at ``path``, read strictly and validated; a one-line ``ParamsError`` when they are not."""
    return load_params(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0].startswith("-")):
        error("usage: python -m kwanzaa_hub.config.check [PARAMS_FILE]  (default: params.yaml)")
        return 2
    path = Path(args[0]) if args else Path(DEFAULT_PARAMS)
    try:
        check(path)
    except KwanzaaError as exc:
        error(str(exc))
        return exc.exit_code
    sys.stdout.write(f"{path}: sound (no anchors or aliases, every key known and valid); DVC may read it\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a module
    sys.exit(main())
