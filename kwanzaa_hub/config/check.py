"""``kwanzaa-hub check-params [params.yaml]``: the params file checked as every command reads it, in
a fraction of a second and a few MB, before DVC reads it.

DVC parses ``params.yaml`` itself (to fill ``${...}`` in ``dvc.yaml`` and to compare params) before it runs any
stage, and offers no hook to check the file first: a YAML alias bomb (a few lines of ``&a``/``*a``) is expanded
by ``dvc status``/``dvc repro`` for minutes and gigabytes until the process dies. This check reads the file with
the strict loader (:mod:`kwanzaa_hub.config.yamlfile`: anchors and aliases refused before they expand, no key
twice) and validates it against the params schema: exit 0 and one line on stdout when the file is sound, exit 2
and one line naming the file and line when not (the CLI command prints them). Run it after editing ``params.yaml``
by hand, before any ``dvc`` command; ``kwanzaa-hub set`` (which the notebook runs before ``dvc repro``) checks the
same on every edit."""

from __future__ import annotations

from pathlib import Path

from kwanzaa_hub.config.params import DEFAULT_PARAMS, Params, load_params


def check(path: str | Path = DEFAULT_PARAMS) -> Params:
    """The params at ``path``, read strictly and validated; a one-line ``ParamsError`` when they are not."""
    return load_params(path)
