"""The whole spec table on one set of answers: per-example values, then the one :func:`~.specs.aggregate`.

Metric definitions 3 (:data:`DEFINITIONS`): each metric is a per-example function (:data:`.specs.SPECS`), and every
figure is the mean over the prompts it covers, with its n. :func:`score` is what the ``evaluate`` module
(``answer_quality``) computes; the eval stage writes the same values per prompt into ``eval/predictions.jsonl`` and
aggregates those rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kwanzaa_hub.contract.metrics import specs

DEFINITIONS = specs.DEFINITIONS


def score_values(
    predictions: Sequence[str],
    references: Sequence[str],
    prompts: Sequence[str],
    *,
    threshold: float = 0.5,
    stop_reasons: Sequence[str] | None = None,
    team_schema: dict[str, Any] | None = None,
) -> list[dict[str, float | None]]:
    """Every metric's value per prompt (the ``values`` of the eval's rows)."""
    validator = specs.team_validator(team_schema)
    stops = stop_reasons or ["eot"] * len(predictions)
    return [
        specs.values(specs.example(u, r, threshold=threshold, team_validator=validator), specs.response(p, s))
        for p, r, u, s in zip(predictions, references, prompts, stops, strict=True)
    ]


def score(
    predictions: Sequence[str],
    references: Sequence[str],
    prompts: Sequence[str],
    *,
    threshold: float = 0.5,
    stop_reasons: Sequence[str] | None = None,
    team_schema: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Every metric (metric definitions 3) over a set of answers: the mean over the prompts it covers; a metric that
    covers none is left out. ``prompts`` are the user messages holding the retrieved documents; without
    ``stop_reasons`` nothing counts as truncated; without ``team_schema`` there is no ``team_schema_valid``."""
    rows = score_values(
        predictions, references, prompts, threshold=threshold, stop_reasons=stop_reasons, team_schema=team_schema
    )
    return {name: agg.mean for name, agg in specs.means(rows).items() if agg.mean is not None}
