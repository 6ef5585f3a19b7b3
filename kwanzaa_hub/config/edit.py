"""Editing files in place without losing what people wrote in them.

- :func:`set_values` (``kwanzaa-hub set KEY=VALUE ...``) changes keys of ``params.yaml`` through a round-trip
  YAML parser, so every comment, blank line and the key order stay; the result is validated against the params
  schema before anything is written, and written atomically.
- :func:`write_reference` replaces the generated params reference between its markers in ``docs/params.md``
  (``kwanzaa-hub params-reference --write``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError, ParamsError
from kwanzaa_hub.fs.atomic import atomic_write_text


def parse_assignment(item: str) -> tuple[str, Any]:
    """``"train.learning_rate=1e-4"`` -> ``("train.learning_rate", Typed(1e-4, "1.0e-4"))``: the value is read as
    YAML, so ``true``, ``8`` and ``[q_proj, v_proj]`` keep their types; quote it to force a string. A key that
    holds only text keeps the text as typed (``model.revision=1234e567`` is that text, not infinity), and a number
    keeps how it was written (:class:`Typed`)."""
    import yaml

    from kwanzaa_hub.config.params import takes_only_text

    key, sep, raw = item.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise InputError(f"{item!r}: expected KEY=VALUE, e.g. hub.version=v2")
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError as exc:
        raise InputError(f"{item!r}: the value is not valid YAML ({exc})") from None
    if takes_only_text(key):
        return key, raw if not isinstance(value, str) else value
    if isinstance(value, str) and value == raw:  # YAML 1.1 reads 1e-4 as text; people mean a number
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    if isinstance(value, float) and not isinstance(value, bool):
        spelled = _float_spelling(raw, value)
        if spelled is not None:
            return key, Typed(value, spelled)
    return key, value


class Typed(float):
    """A number as the user wrote it (``2e-4``), in the spelling that YAML 1.1 (the stages) and 1.2 (DVC) both read
    as that number (``2.0e-4``: 1.1 reads ``2e-4`` as text)."""

    text: str

    def __new__(cls, value: float, text: str) -> Typed:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        return self.text


_FLOAT = re.compile(r"([-+]?)([0-9]+)(?:\.([0-9]*))?(?:([eE])([-+]?)([0-9]+))?")


def _float_spelling(raw: str, value: float) -> str | None:
    """``raw`` (a float as typed) in the nearest spelling both YAML 1.1 and 1.2 read as ``value``; None when there
    is none (``.inf``, ``1_000.5``): the number is then written as YAML writes it."""
    import yaml
    from ruamel.yaml import YAML

    m = _FLOAT.fullmatch(raw)
    if m is None:
        return None
    sign, whole, frac, e, esign, exp = m.groups()
    text = f"{sign}{whole}.{frac or '0'}" + (f"{e}{esign or '+'}{exp}" if e else "")
    if yaml.safe_load(text) == value and YAML(typ="safe", pure=True).load(text) == value:
        return text
    return None


def _scalar(value: Any) -> Any:
    """``value`` as ruamel writes it back: a :class:`Typed` number as typed; text that YAML 1.1 or 1.2 would read
    as something else (``1234e567``, ``yes``, ``null``) quoted, so the stages and DVC both read text."""
    import yaml
    from ruamel.yaml import YAML
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    if isinstance(value, str) and value and "\n" not in value:
        try:
            plain = yaml.safe_load(value) == value and YAML(typ="safe", pure=True).load(value) == value
        except Exception:  # text that no YAML reader takes plain (`@x`, `a: b`): quoted
            plain = False
        if not plain:
            return SingleQuotedScalarString(value)
    return value


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
    yaml.representer.add_representer(
        Typed, lambda rep, data: rep.represent_scalar("tag:yaml.org,2002:float", data.text)
    )
    changes = []
    for key, value in pairs:  # the comment beside a value is the user's: kept as written
        node, leaf = parent_of(doc, key, where=str(path), create=True)
        old = node.get(leaf)
        node[leaf] = _scalar(value)
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
