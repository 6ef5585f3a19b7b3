"""The whole metric suite on one set of generations: which prompts each metric is averaged over, and its ``n``.

A reference whose ``answer.text`` is an authoring template (:mod:`kwanzaa_hub.contract.placeholders`) has no
citations to recall and no sentences to ground, so the *text* metrics (citation precision, recall and F1, grounding,
unsupported numbers) are averaged over the prompts with a real reference only; format, JSON validity, the team's
schema, source URLs, refusals, truncation and loops use every prompt. :func:`metric_n` gives the number of prompts
behind each metric, and :data:`DEFINITIONS` numbers this set of definitions, so two results scored under different
definitions are never compared as if alike (the eval report records it; ``kwanzaa-hub diff`` says when it differs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kwanzaa_hub.contract.answer import parse_answer
from kwanzaa_hub.contract.metrics import load, scoring
from kwanzaa_hub.contract.placeholders import placeholder_kind

#: The version of the metric definitions. 1: every metric over every prompt. 2: text metrics over prompts with a
#: real (non-template) reference; ``team_schema_valid`` added.
DEFINITIONS = 2
#: Metrics averaged over the prompts whose reference is a real answer (:func:`real_references`).
TEXT_METRICS = (
    "citation_precision",
    "citation_recall",
    "citation_f1",
    "grounded_sentence_rate",
    "unsupported_number_rate",
)


def real_references(references: Sequence[str]) -> list[int]:
    """Indices of the references whose answer text is a real answer, not an authoring template."""
    return [i for i, ref in enumerate(references) if placeholder_kind(scoring.answer_text(ref)) is None]


def metric_n(references: Sequence[str]) -> dict[str, int]:
    """The number of prompts behind each metric: the real references for :data:`TEXT_METRICS`, the refusing
    references for ``refusal_recall``, the answerable ones for ``false_refusal_rate``, every prompt otherwise."""
    refusing = sum(parse_answer(r).is_refusal for r in references)
    real = len(real_references(references))
    n = {m: real for m in TEXT_METRICS}
    n.update(
        {"refusal_recall": refusing, "false_refusal_rate": len(references) - refusing, "all_prompts": len(references)}
    )
    return n


def score(
    predictions: Sequence[str],
    references: Sequence[str],
    prompts: Sequence[str],
    *,
    threshold: float,
    stop_reasons: Sequence[str] | None = None,
    team_schema: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Every quality metric on one set of generations; one flat dict. Text metrics are left out when no reference
    is a real answer (n = 0). Without ``stop_reasons`` (texts that were not generated here, such as references)
    nothing counts as truncated; without ``team_schema`` there is no ``team_schema_valid``."""
    out: dict[str, float] = {}
    out.update(load("format_compliance").compute(predictions=predictions, references=references))
    if team_schema is not None:
        out.update(scoring.team_schema_validity(predictions, team_schema))
    every = load("citation_accuracy").compute(predictions=predictions, references=references, prompts=prompts)
    out["source_url_valid"] = every["source_url_valid"]
    real = real_references(references)
    if real:
        pick = [predictions[i] for i in real], [references[i] for i in real], [prompts[i] for i in real]
        cited = load("citation_accuracy").compute(predictions=pick[0], references=pick[1], prompts=pick[2])
        out.update({k: v for k, v in cited.items() if k in TEXT_METRICS})
        out.update(
            load("grounding").compute(predictions=pick[0], references=pick[1], prompts=pick[2], threshold=threshold)
        )
    out.update(load("refusal").compute(predictions=predictions, references=references))
    out.update(scoring.generation_health(predictions, stop_reasons or ["eot"] * len(predictions)))
    return {k: round(float(v), 4) for k, v in out.items()}


def score_by_category(
    predictions: Sequence[str],
    references: Sequence[str],
    prompts: Sequence[str],
    categories: Sequence[str],
    *,
    threshold: float,
    stop_reasons: Sequence[str] | None = None,
    team_schema: dict[str, Any] | None = None,
) -> dict[str, float]:
    """:func:`score` overall plus ``<category>.<metric>`` for every category present."""
    stop_reasons = stop_reasons or ["eot"] * len(predictions)
    flat = score(
        predictions, references, prompts, threshold=threshold, stop_reasons=stop_reasons, team_schema=team_schema
    )
    for cat in sorted(set(categories)):
        idx = [i for i, c in enumerate(categories) if c == cat]
        part = score(
            [predictions[i] for i in idx],
            [references[i] for i in idx],
            [prompts[i] for i in idx],
            threshold=threshold,
            stop_reasons=[stop_reasons[i] for i in idx],
            team_schema=team_schema,
        )
        flat.update({f"{cat}.{k}": v for k, v in part.items()})
    return flat
