"""params.yaml's values from the params classes' defaults, its comments kept: ``python -m tests.params_defaults``.

The classes (kwanzaa_hub/config/params.py) are the one declaration of every key and its default; params.yaml is the
documented copy users edit. This writes each default that differs into params.yaml through ``config.edit.apply``
(round-trip: comments, order and the untouched values stay as written), so a default changed in the classes reaches
the file with one command; ``tests/test_docs.py`` checks that running it would change nothing.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from kwanzaa_hub.config.edit import apply
from kwanzaa_hub.config.reference import reference_rows

REPO = Path(__file__).resolve().parents[1]


def leaves(d: dict, prefix: str = "") -> dict[str, object]:
    """A params mapping as ``{dotted key: value}`` (``{"train": {"seed": 42}}`` -> ``{"train.seed": 42}``)."""
    out: dict[str, object] = {}
    for k, v in d.items():
        out.update(leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def stale_keys(path: Path) -> list[tuple[str, object]]:
    """``(key, default)`` for every key whose value in ``path`` is not the classes' default (or is missing)."""
    in_file = leaves(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    defaults = {key: yaml.safe_load(default) for key, default, _ in reference_rows()}
    return [(k, v) for k, v in defaults.items() if k not in in_file or in_file[k] != v]


def write_defaults(path: Path = REPO / "params.yaml") -> list[str]:
    """Write the stale keys' defaults into ``path``; returns the keys written."""
    stale = stale_keys(path)
    if stale:
        apply(path, stale)
    return [k for k, _ in stale]


if __name__ == "__main__":
    written = write_defaults()
    print(f"params.yaml: wrote {', '.join(written)}" if written else "params.yaml: every value is the default")
