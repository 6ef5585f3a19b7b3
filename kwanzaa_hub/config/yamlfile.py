"""Reading params.yaml strictly: one mapping, no duplicate keys or sections, no anchors or aliases (a small file
cannot expand into gigabytes), every problem an exit-2 error naming the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kwanzaa_hub.errors import ParamsError


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that a params file may not hold."""


class _StrictLoader(yaml.SafeLoader):
    """YAML as params files are written: no anchors or aliases (a few bytes of aliases can expand to gigabytes),
    no key written twice in a mapping (YAML would keep the last silently; DVC refuses such a file)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise _Refused(
                None, None, "anchors and aliases (&name, *name) are not accepted in a params file", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise _Refused(None, None, "a key must be a plain name", key_node.start_mark)
            if key in seen:
                raise _Refused(
                    None, None, f"{key!r} is written twice in the same section; keep one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_params_file(path: str | Path) -> dict[str, Any]:
    """The params file at ``path`` as a mapping; any file that is not one (not YAML, a list, a scalar, a key or
    section written twice, anchors and aliases) is a one-line ``ParamsError`` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: not found. Run from the project root or pass --params PATH.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParamsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return read_params_text(text, path)


def read_params_text(text: str, path: str | Path) -> dict[str, Any]:
    """Params text (of the file at ``path``) as a mapping, read the one way every command reads params (YAML 1.1,
    as DVC and the stages read it: ``yes`` is true); problems as in :func:`read_params_file`."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        what = " ".join(str(exc.problem or exc.context or "").split())
        kind = "not a valid params file" if isinstance(exc, _Refused) else "not valid YAML"
        raise ParamsError(f"{where}: {kind}: {what}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ParamsError(
            f"{path}: expected a mapping of sections (model, data, train, eval, hub), found {type(raw).__name__}"
        )
    return raw


def parent_of(doc: Any, key: str, *, where: str, create: bool = False) -> tuple[Any, str]:
    """The mapping that holds the dotted ``key`` (``"train.lora.r"`` -> ``(doc["train"]["lora"], "r")``); with
    ``create``, missing sections are made (a value in the way is a ``ParamsError``), without it a key that is not
    there is one. One walk for ``kwanzaa-hub set`` (on the round-trip document) and params overrides (on plain
    data)."""
    *parents, leaf = key.split(".")
    node = doc
    for part in parents:
        if create and isinstance(node, dict):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"{where}: {key}: {part!r} is a value, not a section of params")
        else:
            node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or (not create and leaf not in node):
        raise ParamsError(f"{where}: {key}: unknown key")
    return node, leaf
