"""Metric definitions 3: one spec per metric, per-example values, one aggregation for every view.

Every figure the project shows (the headline, per category, ``metrics.json``, the card, the floors, ``diff`` and
its paired tests) is computed from the same per-example rows (``eval/predictions.jsonl``) by the same
:func:`aggregate`, so a label can never be about a different number than the one printed. Adding a metric is one
:class:`Metric` in :data:`SPECS` and its test; the eval, the floors, the registry's tables and the paired tests
pick it up from here.

A row (one prompt of one split; written by the eval, read by ``diff`` and the card)::

    {
      "key": "<sha256 of the prompt's content: system + user messages>",   # pairs prompts across versions
      "id": "eval-00001", "category": "grounded", "split": "plain" | "distractors",
      "mapping": {...} | null,                     # distractor split: old -> new document numbers
      "reference": {"text": "<assistant message>", "values": {metric: value | null}},
      "runs": {"adapter_constrained": {"generation": "...", "stop_reason": "eot", "new_tokens": 312,
                                       "values": {metric: value | null}}, ...},
      "floors": {"cite_all": {"generation": "...", "values": {...}}, ...}
    }

A value is a float in [0, 1] (most are 0 or 1), or ``null`` where the metric does not cover the prompt (e.g.
citation metrics on a prompt whose reference is an authoring template).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

#: The version of the metric definitions. 1: every metric over every prompt. 2: text metrics over prompts with a
#: real (non-template) reference; ``team_schema_valid`` added. 3: per-example specs (this module): citation
#: correctness against the reference's citations, support judged against the cited documents, overlap with the
#: reference, refusals judged by their text too; every aggregate the mean over the prompts a metric covers.
DEFINITIONS = 3

#: How two versions' rows are compared on a metric: ``sign``: an exact sign test on the prompts whose 0/1 value
#: changed (the aggregate is a mean of 0/1 values); ``bootstrap``: a paired bootstrap of the difference of the
#: aggregate itself (prompts resampled with replacement, the aggregate recomputed on each side).
Comparison = Literal["sign", "bootstrap"]


@dataclass(frozen=True)
class Metric:
    """One metric: its per-example function and everything every view needs to show and compare it.

    ``value(example, answer)`` returns the metric's value on one prompt, or None when the metric does not cover
    that prompt; ``answer`` is what is scored (a generation, a floor's answer or the reference itself)."""

    name: str
    higher_is_better: bool
    headline: bool
    meaning: str
    value: Callable[..., float | None]
    compare: Comparison = "bootstrap"


@dataclass(frozen=True)
class Aggregate:
    """A metric over a set of rows: the mean of the values that are not None, and how many there were."""

    mean: float | None
    n: int


def aggregate(values: Sequence[float | None]) -> Aggregate:
    """The one aggregation of every view: the mean over the prompts the metric covers (None values left out)."""
    kept = [float(v) for v in values if v is not None]
    return Aggregate(round(sum(kept) / len(kept), 4) if kept else None, len(kept))
