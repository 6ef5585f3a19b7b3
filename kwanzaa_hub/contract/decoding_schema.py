"""The decoding schema: a bounded JSON Schema of ``kwanzaa.answer.v1``, derived from the contract's pydantic models.

A grammar-constrained decoder (llguidance here; vLLM ``response_format``, llama.cpp ``json_schema`` when
serving) only guarantees an answer *ends* when nothing in the schema can run away: a string without
``maxLength``, an array without ``maxItems`` or an integer without a range loops inside the grammar until the
token budget is spent. :func:`build` therefore takes every field, enum and required key from
:class:`~kwanzaa_hub.contract.answer.AnswerV1` and adds bounds measured on the reference answers (:func:`measure`):
the longest value seen x ``margin``, never above the contract's own limit and never below a floor that leaves
room for a new document's longer title. Keys keep the contract's field order, which is the order the
training targets write them in, and the separators/whitespace of the targets (:func:`json_style`) are put
in the schema's ``x-guidance`` block, so decoding never fights what the model learnt. The ``version`` pattern
``kwanzaa.answer.v[0-9]+`` becomes the one constant this project writes.

Floats keep a range (``[0, 1]`` for scores) but JSON Schema cannot bound their digits without ``multipleOf``,
which would reject the reference answers' 16-digit scores: a float's digits are left to the decoder
(:data:`kwanzaa_hub.runtime.constrained.MAX_DIGITS` digits in a row at most) or, on a server without that cap, to the
generation budget.

No torch here: the data stage, ``push`` and the tests import this module.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
from typing import Any

from kwanzaa_hub.contract.answer import CONTRACT_VERSION, AnswerV1, lift_metadata

#: Bounds never go below these, whatever the data holds: a new retrieved document may have a longer title or
#: URL than any in the training data, and a list the data left empty may still get an item.
MIN_CHARS = 64
MIN_ITEMS = 4
MIN_INT = 100
#: String formats whose values have a bounded length by construction.
BOUNDED_FORMATS = ("date-time", "uuid")
#: What a decoded URL looks like: ``format: uri`` would let ``"abc:"`` through, which the contract refuses.
URL_PATTERN = r'^https?://[^\s"\\]+$'
DROPPED_KEYWORDS = ("title", "default", "description")


def _resolve(node: Any, defs: dict[str, Any]) -> Any:
    """The pydantic schema with every ``$ref`` inlined, ``X | None`` collapsed to ``X`` and titles/defaults
    dropped (a decoder never writes ``null``: the references leave an optional key out instead)."""
    if isinstance(node, list):
        return [_resolve(n, defs) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _resolve(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return _resolve(options[0], defs)
    out = {k: _resolve(v, defs) for k, v in node.items() if k not in DROPPED_KEYWORDS and k != "$defs"}
    if out.get("type") == "object":
        out["additionalProperties"] = False  # the decoder writes only the contract's keys
    return out


def contract_schema() -> dict[str, Any]:
    """``AnswerV1`` as a self-contained JSON Schema (no ``$ref``), before any bound is added."""
    raw = AnswerV1.model_json_schema()
    return _resolve(raw, raw.get("$defs", {}))


# ----------------------------------------------------------------------------------- measuring answers


def canonical(data: dict[str, Any]) -> dict[str, Any]:
    """A reference answer in the form the decoder writes: retrieval results' ``citation_label``/``canonical_url``
    lifted out of ``metadata`` (the tolerated deviation the contract reads the same way), keys that are not
    the contract's dropped, and keys in the contract's order. Values are kept as they are."""
    data = copy.deepcopy(data)
    summary = data.get("retrieval_summary")
    if isinstance(summary, dict) and isinstance(summary.get("results"), list):
        summary["results"] = [lift_metadata(r) for r in summary["results"]]
    return _only_known(data, contract_schema())


def _only_known(value: Any, schema: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        return {k: _only_known(value[k], v) for k, v in props.items() if k in value}
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_only_known(v, schema["items"]) for v in value]
    return value


def measure(answers: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """The extent of every field over the (canonical) reference answers, by path (``sources[].tags[]``):
    ``chars`` (longest string), ``items`` (longest array), ``max`` (largest integer)."""
    found: dict[str, dict[str, int]] = {}

    def keep(path: str, kind: str, n: int) -> None:
        entry = found.setdefault(path, {})
        entry[kind] = max(entry.get(kind, 0), n)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else k)
        elif isinstance(value, list):
            keep(path, "items", len(value))
            for v in value:
                walk(v, f"{path}[]")
        elif isinstance(value, str):
            keep(path, "chars", len(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            keep(path, "max", value)

    for a in answers:
        walk(canonical(a), "")
    return dict(sorted(found.items()))


def json_style(texts: Iterable[str]) -> dict[str, Any]:
    """How the reference answers are written: ``indent`` (None for one line) and whether non-ASCII is escaped,
    the style most answers match (``matching`` of ``answers``). An answer matches a style when ``json.dumps``
    of its own data in that style gives back its exact text."""
    counts: dict[tuple, int] = {}
    total = 0
    for text in texts:
        total += 1
        data = json.loads(text)
        for indent in (None, 2, 4):
            for ascii_ in (False, True):
                if json.dumps(data, indent=indent, ensure_ascii=ascii_) == text:
                    counts[(indent, ascii_)] = counts.get((indent, ascii_), 0) + 1
                    break
            else:
                continue
            break
    if not counts:
        return {"indent": None, "ensure_ascii": False, "matching": 0, "answers": total}
    (indent, ascii_), n = max(counts.items(), key=lambda kv: kv[1])
    return {"indent": indent, "ensure_ascii": ascii_, "matching": n, "answers": total}


def guidance_options(style: dict[str, Any], depth: int = 8) -> dict[str, Any]:
    """llguidance's JSON options for a style: one-line answers get ``", "`` / ``": "`` and no other whitespace;
    indented ones get ``","`` / ``": "`` and one newline + up to ``depth`` levels of indent between tokens (a
    bounded pattern: blank lines or endless spaces cannot be written)."""
    if style.get("indent") is None:
        return {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}
    return {
        "item_separator": ",",
        "key_separator": ": ",
        "whitespace_flexible": False,
        "whitespace_pattern": f"\\n {{0,{style['indent'] * depth}}}",
    }


#: The one-line style: ``", "`` / ``": "`` between tokens, no newline or indent, non-ASCII as written.
ONE_LINE: dict[str, Any] = {"indent": None, "ensure_ascii": False}


def compact(data: dict[str, Any]) -> str:
    """A reference answer rewritten as the decoder of its one-line schema writes it (``data.answer_format:
    compact``): :func:`canonical` (so the same keys, in the contract's order) in :data:`ONE_LINE` style."""
    return dumps(canonical(data), ONE_LINE)


def dumps(data: Any, style: dict[str, Any]) -> str:
    """``data`` written in the references' style (the text a constrained decoder of this schema produces)."""
    return json.dumps(data, indent=style.get("indent"), ensure_ascii=style.get("ensure_ascii", False))


# -------------------------------------------------------------------------------------------- building


def _bound(seen: int | None, margin: float, floor: int, cap: int | None) -> int:
    value = max(floor, math.ceil((seen or 0) * margin))
    return min(value, cap) if cap is not None else value


def _apply(node: dict[str, Any], path: str, extents: dict[str, dict[str, int]], margin: float, floors: tuple) -> None:
    kind = node.get("type")
    seen = extents.get(path, {})
    if kind == "object":
        for k, v in node.get("properties", {}).items():
            _apply(v, f"{path}.{k}" if path else k, extents, margin, floors)
    elif kind == "array":
        node["maxItems"] = _bound(seen.get("items"), margin, floors[1], node.get("maxItems"))
        if isinstance(node.get("items"), dict):
            _apply(node["items"], f"{path}[]", extents, margin, floors)
    elif kind == "string" and not ({"enum", "const"} & set(node)) and node.get("format") not in BOUNDED_FORMATS:
        node["maxLength"] = _bound(seen.get("chars"), margin, floors[0], node.get("maxLength"))
    elif kind == "integer":
        node.setdefault("minimum", 0)
        if "maximum" not in node:
            node["maximum"] = _bound(seen.get("max"), margin, floors[2], None)


def build(
    extents: dict[str, dict[str, int]],
    *,
    margin: float = 1.5,
    style: dict[str, Any] | None = None,
    floors: tuple[int, int, int] = (MIN_CHARS, MIN_ITEMS, MIN_INT),
) -> dict[str, Any]:
    """The decoding schema: the contract with bounds from ``extents`` (see :func:`measure`) x ``margin`` (at least
    ``floors``: characters, items, integer maximum), and the references' ``style`` as llguidance options under
    ``x-guidance``. URLs must match :data:`URL_PATTERN` (the contract refuses a URL with no host or path)."""
    schema = contract_schema()
    props = schema["properties"]
    props["version"] = {"type": "string", "const": CONTRACT_VERSION}
    results = props["retrieval_summary"]["properties"]["results"]
    for node in (props["sources"]["items"], results["items"]):
        node["properties"]["canonical_url"]["pattern"] = URL_PATTERN
    _apply(schema, "", extents, margin, floors)
    results["items"]["properties"]["rank"]["maximum"] = results["maxItems"]  # a rank past the list cannot exist
    # the team's answer_json.schema.json asks for top_k >= 1: the contract reads a greeting's 0 as the data's
    # tolerated deviation, but what the decoder writes (a smallest answer closed by the budget too) never is one
    props["retrieval_summary"]["properties"]["top_k"]["minimum"] = 1
    style = style or {"indent": None}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": CONTRACT_VERSION,
        **schema,
        "x-guidance": guidance_options(style),
    }


def unbounded(schema: dict[str, Any], path: str = "") -> list[str]:
    """Every place in ``schema`` where a decoder could write without end: a string with no ``maxLength`` (and no
    enum/const/bounded format), an array with no ``maxItems``, an integer or number without both ends of a
    range, an object open to extra keys, or a node with no type. Empty for a schema a decoder can finish."""
    where = path or "(root)"
    kind = schema.get("type")
    if "const" in schema or "enum" in schema:
        return []
    if kind == "object":
        out = [] if schema.get("additionalProperties") is False else [f"{where}: open to any key"]
        for k, v in schema.get("properties", {}).items():
            out += unbounded(v, f"{path}.{k}" if path else k)
        return out
    if kind == "array":
        out = [] if "maxItems" in schema else [f"{where}: no maxItems"]
        return out + unbounded(schema.get("items", {}), f"{path}[]")
    if kind == "string":
        if schema.get("format") in BOUNDED_FORMATS or "maxLength" in schema:
            return []
        return [f"{where}: string without maxLength"]
    if kind in ("integer", "number"):
        return [] if "minimum" in schema and "maximum" in schema else [f"{where}: {kind} without a range"]
    if kind == "boolean":
        return []
    return [f"{where}: no type"]


def schema_text(schema: dict[str, Any]) -> str:
    """The schema as written to disk and pushed (stable bytes: the manifest hashes them)."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def from_answers(texts: list[str], *, margin: float) -> dict[str, Any]:
    """The decoding schema of a set of reference answer texts (what the data stage writes)."""
    return build(measure(json.loads(t) for t in texts), margin=margin, style=json_style(texts))
