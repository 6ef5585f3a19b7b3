"""Placeholder answers: an ``answer.text`` that is an authoring template, not an answer.

The team's data holds three shapes, written by the generator it was authored with instead of a real answer;
a model trained on them learns to write them. :func:`placeholder_kind` names the shape of a text (None for a
real answer); the data stage counts them per split with file:line and ``data.placeholders`` decides what
happens to them, and the eval counts how many generated answers are placeholders.
"""

from __future__ import annotations

import re

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
