"""Editing files in place without losing what people wrote in them.

- :func:`set_values` (``kwanzaa-hub set KEY=VALUE ...``) changes keys of ``params.yaml`` through a round-trip
  YAML parser, so every comment, blank line and the key order stay; the result is validated against the params
  schema before anything is written, and written atomically.
- :func:`write_reference` replaces the generated params reference between its markers in ``docs/params.md``
  (``kwanzaa-hub params-reference --write``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError, ParamsError
from kwanzaa_hub.fs.atomic import atomic_write_text


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"train.learning_rate=1e-4"`` -> ``("train.learning_rate", 1e-4)``: the value is read as YAML, so
    ``true``, ``8`` and ``[q_proj, v_proj]`` keep their types; quote it to force a string."""
    import yaml

    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise InputError(f"{item!r}: expected KEY=VALUE, e.g. hub.version=v2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise InputError(f"{item!r}: the value is not valid YAML ({exc})") from None
    if isinstance(value, str) and value == raw.strip():  # YAML 1.1 reads 1e-4 as text; people mean a number
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.strip(), value


def _plain(node: Any) -> Any:
    """ruamel's round-trip containers as plain dicts and lists (for validation)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def set_values(path: str | Path, assignments: list[str]) -> list[tuple[str, Any, Any]]:
    """Set each ``KEY=VALUE`` in the params file at ``path``; returns ``(key, old, new)`` per change."""
    from kwanzaa_hub.config.base_model import for_params

    return apply(path, [for_params(*parse_assignment(item)) for item in assignments])


def apply(path: str | Path, pairs: list[tuple[str, Any]]) -> list[tuple[str, Any, Any]]:
    """Set each ``(dotted key, value)`` in the params file at ``path``; returns ``(key, old, new)`` per change.

    Keys must exist in the params schema (a typo is an error naming it); the whole file is validated after the
    change, and nothing is written when any value is refused."""
    from kwanzaa_hub.config.yamlfile import read_params_file
    from kwanzaa_hub.fs.atomic import exclusive

    path = Path(path)
    read_params_file(path)  # a missing file is a ParamsError here, before its folder is locked
    with exclusive(path.parent):  # two `set`s at once: the second reads what the first wrote, no update is lost
        return _apply(path, pairs)


def _apply(path: Path, pairs: list[tuple[str, Any]]) -> list[tuple[str, Any, Any]]:
    from io import StringIO

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.config.yamlfile import parent_of, read_params_file, read_params_text

    read_params_file(path)  # a file that is not a params mapping (or holds aliases, keys twice) stops here
    yaml = YAML()  # round-trip: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.width = 4096
    try:
        doc = yaml.load(path.read_text(encoding="utf-8")) or {}
    except YAMLError as exc:  # what PyYAML accepted and ruamel does not: say so, in one line
        raise ParamsError(f"{path}: cannot be edited in place: {' '.join(str(exc).split())}") from None
    changes = []
    for key, value in pairs:
        node, leaf = parent_of(doc, key, where=str(path), create=True)
        old = node.get(leaf)
        node[leaf] = value
        changes.append((key, _plain(old), value))
    out = StringIO()
    yaml.dump(doc, out)
    # the schema decides, before anything is written, on the text as the stages will read it (ruamel reads YAML
    # 1.2, where `yes` is a string; the stages and DVC read 1.1, where it is true)
    parse_params(read_params_text(out.getvalue(), path), source=str(path))
    atomic_write_text(path, out.getvalue())
    return changes


REFERENCE_START, REFERENCE_END = "<!-- params-reference:start -->\n", "<!-- params-reference:end -->"
REFERENCE_FILE = "docs/params.md"  # relative to the project root; the README links it


def write_reference(path: str | Path, table: str) -> None:
    """Replace the block between the params-reference markers in ``path`` with ``table``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not found. Run from the project root or pass --file PATH.")
    text = path.read_text(encoding="utf-8")
    if REFERENCE_START not in text or REFERENCE_END not in text:
        raise InputError(f"{path} has no {REFERENCE_START.strip()} ... {REFERENCE_END} block to replace")
    head, rest = text.split(REFERENCE_START, 1)
    atomic_write_text(path, head + REFERENCE_START + table + REFERENCE_END + rest.split(REFERENCE_END, 1)[1])
