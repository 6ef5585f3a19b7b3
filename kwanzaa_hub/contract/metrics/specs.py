"""Metric definitions 3: one spec per metric, per-example values, one aggregation for every view.

Every figure the project shows (the headline, per category, ``metrics.json``, the card, the floors, ``diff`` and
its paired tests) is computed from the same per-example rows (``eval/predictions.jsonl``) by the same
:func:`aggregate`, so a label can never be about a different number than the one printed. Adding a metric is one
:class:`Metric` in :data:`SPECS` and its test; the eval, the floors, the registry's tables and the paired tests
pick it up from here.

Why this module is long: it is the one table of every metric (:data:`SPECS`: name, direction, headline, meaning,
per-example function, comparison, coverage) with the one-prompt types those functions read; split, each metric
would again have two homes.

A row (one prompt of one split; written by the eval, read by ``diff`` and the card)::

    {
      "key": "<sha256 of the prompt's content: system + user messages>",   # rows.prompt_key; pairs prompts
      "id": "eval-00001", "category": "grounded", "split": "plain" | "distractors",
      "mapping": {...} | null,                     # distractor split: old -> new document numbers
      "reference": {"text": "<assistant message>", "values": {metric: value | null}},
      "runs": {"adapter_constrained": {"generation": "...", "stop_reason": "eot", "new_tokens": 312,
                                       "values": {metric: value | null}}, ...},
      "floors": {"cite_all": {"generation": "...", "values": {...}}, ...},
      "prompt_sha256": "<sha256 of the prompt's messages>"   # written by the eval stage, as before definitions 3
    }

A value is a float in [0, 1] (most are 0 or 1), or ``null`` where the metric does not cover the prompt (e.g.
citation metrics on a prompt whose reference is an authoring template).

"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kwanzaa_hub.contract.answer import ParsedAnswer, extract_citations, parse_answer
from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.metrics import scoring
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.contract.prompt import parse_documents, parse_query

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
    #: Which prompts the metric covers, in words (the rest get None).
    covers: str = "every prompt"
    #: A short column header for narrow tables (``versions``), explained in the table's legend; the name by default.
    short: str = ""

    @property
    def header(self) -> str:
        return self.short or self.name


@dataclass(frozen=True)
class Aggregate:
    """A metric over a set of rows: the mean of the values that are not None, and how many there were."""

    mean: float | None
    n: int


def aggregate(values: Sequence[float | None]) -> Aggregate:
    """The one aggregation of every view: the mean over the prompts the metric covers (None values left out)."""
    kept = [float(v) for v in values if v is not None]
    return Aggregate(round(sum(kept) / len(kept), 4) if kept else None, len(kept))


# ------------------------------------------------------------------------------------------ one prompt, one answer


@dataclass(frozen=True)
class Response:
    """One answer as the metrics read it: the raw assistant message, parsed once, its answer text and citations,
    and how its generation stopped (``eot`` for texts that were not generated here: references, floors)."""

    raw: str
    parsed: ParsedAnswer
    text: str
    citations: frozenset[int]
    stop_reason: str = "eot"

    @property
    def refuses(self) -> bool:
        return self.parsed.is_refusal


def response(raw: str, stop_reason: str = "eot") -> Response:
    """``raw`` parsed once for every metric."""
    parsed = parse_answer(raw)
    text = scoring._answer_text(parsed, raw)
    return Response(raw, parsed, text, frozenset(extract_citations(text)), stop_reason)


@dataclass(frozen=True)
class Example:
    """One prompt as every metric reads it, built once per prompt (and split) by :func:`example`: its documents and
    query parsed out of the user message, the reference parsed, whether the reference is a real answer (not an
    authoring template) and whether it refuses; plus the eval's settings a metric needs (the support threshold, the
    team's schema validator or None)."""

    documents: tuple[Document, ...]
    query: str | None
    reference: Response
    real_reference: bool
    refusing: bool
    threshold: float = 0.5
    team_validator: Any = None


def example(user_text: str, reference: str, *, threshold: float = 0.5, team_validator: Any = None) -> Example:
    """The :class:`Example` of one prompt (its user message and reference assistant message)."""
    ref = response(reference)
    return Example(
        documents=tuple(parse_documents(user_text)),
        query=parse_query(user_text),
        reference=ref,
        real_reference=placeholder_kind(ref.text) is None,
        refusing=ref.refuses,
        threshold=threshold,
        team_validator=team_validator,
    )


def team_validator(schema: dict[str, Any] | None) -> Any:
    """The validator of the team's ``answer_json.schema.json`` (the one its ``$schema`` names), or None."""
    if schema is None:
        return None
    from jsonschema.validators import validator_for

    return validator_for(schema)(schema)


# ----------------------------------------------------------------------------------- the per-example functions


def _flag(ok: bool) -> float:
    return 1.0 if ok else 0.0


def _clean_refusal(e: Example, a: Response) -> bool:
    """A refusal that states no number that no document (nor the query) holds: "insufficient data" followed by
    invented figures is not a good refusal."""
    return a.refuses and not scoring.unsupported_numbers(a.text, e.documents, e.query)


def _citation_precision(e: Example, a: Response) -> float | None:
    if not e.real_reference:
        return None
    if not a.citations:
        return None if e.reference.citations else 1.0
    return len(a.citations & e.reference.citations) / len(a.citations)


def _citation_recall(e: Example, a: Response) -> float | None:
    if not e.real_reference or not e.reference.citations:
        return None
    return len(a.citations & e.reference.citations) / len(e.reference.citations)


def _citation_f1(e: Example, a: Response) -> float | None:
    return scoring.set_f1(set(a.citations), set(e.reference.citations)) if e.real_reference else None


def _citation_validity(e: Example, a: Response) -> float:
    return _flag(a.citations <= set(range(1, len(e.documents) + 1)))


def _source_url_valid(e: Example, a: Response) -> float | None:
    data = a.parsed.data
    sources = data.get("sources") if isinstance(data, dict) else None
    if not isinstance(sources, list) or not sources:
        return None
    urls = {d.url for d in e.documents}
    return sum(isinstance(s, dict) and s.get("canonical_url") in urls for s in sources) / len(sources)


def _citation_support(e: Example, a: Response) -> float | None:
    return scoring.support(a.text, e.documents, threshold=e.threshold) if e.real_reference else None


def _reference_overlap(e: Example, a: Response) -> float | None:
    return scoring.token_f1(a.text, e.reference.text) if e.real_reference else None


def _unsupported_number(e: Example, a: Response) -> float:
    return _flag(bool(scoring.unsupported_numbers(a.text, e.documents, e.query)))


def _refusal_accuracy(e: Example, a: Response) -> float:
    return _flag(_clean_refusal(e, a) if e.refusing else not a.refuses)


def _refusal_recall(e: Example, a: Response) -> float | None:
    return _flag(_clean_refusal(e, a)) if e.refusing else None


def _answer_rate(e: Example, a: Response) -> float | None:
    return None if e.refusing else _flag(not a.refuses)


def _refusal_unsupported(e: Example, a: Response) -> float | None:
    return _flag(not _clean_refusal(e, a)) if a.refuses else None


def _team_schema_valid(e: Example, a: Response) -> float | None:
    if e.team_validator is None:
        return None
    return _flag(a.parsed.json_valid and e.team_validator.is_valid(a.parsed.data))


REAL = "prompts whose reference is a real answer (not an authoring template)"

#: Every metric, in reading order (headline first). The registry, the eval, the floors, the tables and the paired
#: tests read this table; a new metric is one entry here and its test.
SPECS: tuple[Metric, ...] = (
    Metric(
        "citation_f1",
        True,
        True,
        "F1 of the [n] the answer cites against those the reference cites, per prompt (citing where the reference "
        "cites nothing, a refusal mostly, scores 0)",
        _citation_f1,
        "bootstrap",
        REAL,
        "cite",
    ),
    Metric(
        "reference_overlap",
        True,
        True,
        "token F1 of the answer text against the reference's (SQuAD normalisation, [n] markers left out)",
        _reference_overlap,
        "bootstrap",
        REAL,
        "overlap",
    ),
    Metric(
        "refusal_accuracy",
        True,
        True,
        "refuses exactly where the reference does, a refusal stating a number no document holds counting as wrong "
        "(majority-class prone: read it beside its best floor)",
        _refusal_accuracy,
        "sign",
        short="refusal",
    ),
    Metric(
        "citation_support",
        True,
        False,
        "answer sentences carrying [n] that the documents they cite support (uncited sentences not judged; a copy "
        "of the documents passes it, so it is not a headline)",
        _citation_support,
        "bootstrap",
        REAL + " and answers with a cited sentence",
    ),
    Metric(
        "citation_precision",
        True,
        False,
        "cited [n] that the reference also cites",
        _citation_precision,
        "bootstrap",
        REAL + " and answers that cite (or references that cite nothing)",
    ),
    Metric(
        "citation_recall",
        True,
        False,
        "the reference's [n] that the answer also cites",
        _citation_recall,
        "bootstrap",
        REAL + " and references that cite",
    ),
    Metric(
        "refusal_recall",
        True,
        False,
        "clean refusals (no number no document holds) where the reference refuses",
        _refusal_recall,
        "sign",
        "prompts whose reference refuses",
    ),
    Metric(
        "answer_rate",
        True,
        False,
        "answered (not refused) where the reference answers: 1 - the false refusal rate",
        _answer_rate,
        "sign",
        "prompts whose reference answers",
    ),
    Metric(
        "refusal_unsupported_rate",
        False,
        False,
        "refusals that state a number no document (nor the query) holds",
        _refusal_unsupported,
        "sign",
        "answers that refuse",
    ),
    Metric(
        "unsupported_number_rate",
        False,
        False,
        "answers stating a number no document (nor the query) holds",
        _unsupported_number,
        "sign",
    ),
    Metric(
        "citation_validity",
        True,
        False,
        "answers whose every [n] names a retrieved document (the request schema makes it 1 by construction)",
        _citation_validity,
        "sign",
    ),
    Metric(
        "source_url_valid",
        True,
        False,
        "listed sources whose URL is a retrieved document's",
        _source_url_valid,
        "bootstrap",
        "answers that list sources",
    ),
    Metric(
        "format_compliance",
        True,
        False,
        "valid JSON that validates against kwanzaa.answer.v1",
        lambda e, a: _flag(a.parsed.compliant),
        "sign",
    ),
    Metric(
        "json_valid_rate", True, False, "answers that are valid JSON", lambda e, a: _flag(a.parsed.json_valid), "sign"
    ),
    Metric(
        "team_schema_valid",
        True,
        False,
        "answers that pass the team's answer_json.schema.json",
        _team_schema_valid,
        "sign",
        "every prompt, when eval.team_schema is set",
    ),
    Metric(
        "truncated_rate",
        False,
        False,
        "generations cut off by eval.max_new_tokens (stop reason length)",
        lambda e, a: _flag(a.stop_reason == "length"),
        "sign",
    ),
    Metric(
        "budget_closed_rate",
        False,
        False,
        "constrained generations closed early to fit eval.max_new_tokens (whole JSON, text cut short)",
        lambda e, a: _flag(a.stop_reason == "budget"),
        "sign",
    ),
    Metric(
        "repetition_rate",
        False,
        False,
        "generations that fall into a repeated loop of words",
        lambda e, a: _flag(scoring.is_looping(a.raw)),
        "sign",
    ),
    Metric(
        "answer_repetition_rate",
        False,
        False,
        "answer texts that fall into a repeated loop of words (the loop measure that still means something under "
        "constrained decoding)",
        lambda e, a: _flag(scoring.is_looping(a.text)),
        "sign",
    ),
    Metric(
        "placeholder_rate",
        False,
        False,
        "answer texts that are an authoring template, not an answer",
        lambda e, a: _flag(placeholder_kind(a.text) is not None),
        "sign",
    ),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in SPECS}
HEADLINE: tuple[str, ...] = tuple(m.name for m in SPECS if m.headline)


def values(e: Example, answer: Response, specs: Sequence[Metric] = SPECS) -> dict[str, float | None]:
    """Every metric's value on one prompt and one answer (a row's ``values``), rounded to 4 places."""
    out: dict[str, float | None] = {}
    for m in specs:
        v = m.value(e, answer)
        out[m.name] = None if v is None else round(float(v), 4)
    return out


def means(rows_values: Sequence[dict[str, float | None]], specs: Sequence[Metric] = SPECS) -> dict[str, Aggregate]:
    """:func:`aggregate` of every metric over a list of ``values`` dicts (one per prompt)."""
    return {m.name: aggregate([v.get(m.name) for v in rows_values]) for m in specs}
