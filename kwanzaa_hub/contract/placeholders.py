"""Placeholder answers: an ``answer.text`` that is an authoring template, not an answer.

The team's data holds three shapes, written by the generator it was authored with instead of a real answer;
a model trained on them learns to write them. :func:`placeholder_kind` names the shape of a text (None for a
real answer); the data stage counts them per split with file:line and ``data.placeholders`` decides what
happens to them, and the eval counts how many generated answers are placeholders. Under ``data.placeholders:
mask`` such a sample is trained on everything but its text: :func:`answer_text_span` finds where the text's
value stands in the answer as written, and the train stage takes the tokens over it out of the loss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from json.decoder import scanstring

SHAPES = {
    # "[Generated answer for: <query>] This answer would cite sources: [1], [2]"
    "generated_for": re.compile(r"^\s*\[Generated answer for: .*\]\s*This answer would cite sources:", re.S),
    # "[This answer would synthesize multiple sources to provide ...]"
    "would_synthesize": re.compile(r"^\s*\[This answer would ", re.S),
    # "[This answer demonstrates proper answer_json formatting for the edge case: ...]"
    "demonstrates_format": re.compile(r"^\s*\[This answer demonstrates ", re.S),
}


def placeholder_kind(text: str) -> str | None:
    """The placeholder shape ``text`` has (a key of :data:`SHAPES`), or None when it is a real answer."""
    for name, pattern in SHAPES.items():
        if pattern.match(text):
            return name
    return None


_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
_VALUE = json.JSONDecoder().scan_once  # the json module's own scanner: (value, end) of the value at an index


def _members(text: str, at: int) -> Iterator[tuple[str, int, int]]:
    """(key, start, end) of each member of the JSON object whose ``{`` is at ``at``: the value's span in
    ``text``, as written (escapes and all)."""
    pos = _WS.match(text, at + 1).end()
    if text[pos] == "}":
        return
    while True:
        if text[pos] != '"':
            raise ValueError(f"a key expected at character {pos}")
        key, pos = scanstring(text, pos + 1)
        pos = _WS.match(text, pos).end()
        if text[pos] != ":":
            raise ValueError(f"':' expected at character {pos}")
        start = _WS.match(text, pos + 1).end()
        _, end = _VALUE(text, start)
        yield key, start, end
        pos = _WS.match(text, end).end()
        if text[pos] == "}":
            return
        if text[pos] != ",":
            raise ValueError(f"',' or '}}' expected at character {pos}")
        pos = _WS.match(text, pos + 1).end()


def _last(text: str, at: int, key: str, opener: str) -> tuple[int, int]:
    """The span of the value of ``key`` in the object at ``at`` (the last one, as json.loads takes duplicates),
    when it opens with ``opener``."""
    spans = [(start, end) for k, start, end in _members(text, at) if k == key and text[start] == opener]
    if not spans:
        raise ValueError(f"no {key!r} member that opens with {opener!r}")
    return spans[-1]


def answer_text_span(message: str) -> tuple[int, int]:
    """The character span ``[start, end)`` of ``answer.text``'s string value inside the quotes, in the answer
    JSON as written (``message[start:end]`` is the encoded value, escapes and all). A walk over the JSON's
    structure, so the ``"text"`` of the top-level ``answer`` object is found, never a source's or a string's
    that happens to hold the same characters; any layout (pretty-printed or compact) and any key order. Raises
    ValueError when the message is not such an object."""
    try:
        top = _WS.match(message).end()
        if message[top] != "{":
            raise ValueError("the answer is not a JSON object")
        answer, _ = _last(message, top, "answer", "{")
        start, end = _last(message, answer, "text", '"')
    except (IndexError, StopIteration, json.JSONDecodeError) as exc:
        raise ValueError(f"not a complete JSON object: {exc!r}") from exc
    return start + 1, end - 1
