"""The ``kwanzaa.answer.v1`` contract as pydantic models, and the parsing helpers the metrics reuse.

The models follow ``answer_json.schema.json`` (draft-07): required fields, enums, ranges and lengths,
``additionalProperties: false`` at the top level. Validation is strict: ``"1958"`` is not a year.

Helpers:

- :func:`extract_citations` reads the ``[n]`` citations out of an answer text, in order.
- :func:`parse_answer` parses and validates an assistant message, returning a :class:`ParsedAnswer`
  that says which step failed (JSON or contract), so eval can score a broken generation instead of
  crashing on it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlparse
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

CONTRACT_VERSION = "kwanzaa.answer.v1"
REFUSAL = "insufficient_data"
#: What a sample teaches, from its reference answer (see :func:`categorize`); reports count each.
CATEGORIES = ("grounded", "multi_source", "partial", "refusal", "uncited")

#: Two shapes in the team's real data that the JSON Schema rejects but that carry the same information.
#: They are accepted, and :func:`deviations` names them so the data stage reports them as warnings:
#: retrieval results whose ``citation_label``/``canonical_url`` sit inside ``metadata``, and
#: ``top_k: 0`` when nothing was retrieved (a greeting).
_LIFTED = ("citation_label", "canonical_url")


def lift_metadata(result: object) -> object:
    """A retrieval result with ``citation_label``/``canonical_url`` lifted out of its ``metadata`` when it lacks them
    at the top (the tolerated deviation, read the same everywhere); anything else is returned as it is."""
    if isinstance(result, dict) and isinstance(result.get("metadata"), dict):
        lifted = {k: result["metadata"][k] for k in _LIFTED if k not in result and k in result["metadata"]}
        if lifted:
            return {**result, **lifted}
    return result


def _uri(value: str) -> str:
    parsed = urlparse(value)
    if not parsed.scheme or not (parsed.netloc or parsed.path):
        raise ValueError("must be an absolute URI such as https://example.org/doc")
    return value


Uri = Annotated[str, AfterValidator(_uri)]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class Toggles(_Strict):
    require_citations: bool
    primary_sources_only: bool
    creative_mode: bool


class Answer(_Strict):
    text: str = Field(min_length=1, max_length=10000)
    confidence: float | None = Field(None, ge=0.0, le=1.0)
    tone: Literal["neutral", "educational", "conversational", "formal", "creative"] | None = None
    completeness: Literal["complete", "partial", "insufficient_data"] | None = None


class Source(_Strict):
    citation_label: str = Field(min_length=1, max_length=500)
    canonical_url: Uri
    source_org: str = Field(min_length=1, max_length=200)
    year: int = Field(ge=1600, le=2100)
    content_type: str = Field(min_length=1, max_length=100)
    license: str = Field(min_length=1, max_length=200)
    namespace: str = Field(min_length=1, max_length=100)
    doc_id: str = Field(min_length=1, max_length=200)
    chunk_id: str = Field(min_length=1, max_length=200)
    tags: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=50)
    relevance_score: float | None = Field(None, ge=0.0, le=1.0)


class RetrievalResult(_Strict):
    """One retrieval hit. Tolerated deviation: the label and URL nested in ``metadata`` (see DEVIATIONS)."""

    rank: int = Field(ge=1)
    score: float = Field(ge=0.0, le=1.0)
    snippet: str | None = Field(None, max_length=2000)
    citation_label: str = Field(min_length=1, max_length=500)
    canonical_url: Uri
    doc_id: str = Field(min_length=1, max_length=200)
    chunk_id: str = Field(min_length=1, max_length=200)
    namespace: str = Field(min_length=1, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _lift_metadata(cls, data: object) -> object:
        return lift_metadata(data)


class Filters(_Strict):
    content_type: list[str] | None = None
    year: int | None = None
    year_gte: int | None = Field(None, ge=1600, le=2100)
    year_lte: int | None = Field(None, ge=1600, le=2100)
    source_org: list[str] | None = None
    tags: list[str] | None = None


class RetrievalSummary(_Strict):
    query: str = Field(min_length=1, max_length=1000)
    top_k: int = Field(ge=0, le=100)
    namespaces: list[Annotated[str, Field(max_length=100)]] = Field(min_length=1, max_length=20)
    filters: Filters | None = None
    results: list[RetrievalResult] = Field(max_length=100)
    execution_time_ms: int | None = Field(None, ge=0)
    embedding_model: str | None = None

    @model_validator(mode="after")
    def _top_k_zero_only_without_results(self) -> RetrievalSummary:
        if self.top_k == 0 and self.results:
            raise ValueError("top_k is 0 but results are listed; top_k must be at least 1")
        return self


class Unknowns(_Strict):
    unsupported_claims: list[Annotated[str, Field(max_length=1000)]]
    missing_context: list[Annotated[str, Field(max_length=1000)]]
    clarifying_questions: list[Annotated[str, Field(max_length=500)]]
    out_of_scope: list[Annotated[str, Field(max_length=1000)]] | None = None


class Integrity(_Strict):
    citation_required: bool | None = None
    citations_provided: bool | None = None
    retrieval_confidence: Literal["high", "medium", "low", "none"] | None = None
    fallback_behavior: Literal["not_needed", "creative_generation", "refusal", "clarification_requested"] | None = None
    safety_flags: list[Annotated[str, Field(max_length=200)]] | None = None


class Provenance(_Strict):
    generated_at: Annotated[datetime, Field(strict=False)]
    retrieval_run_id: Annotated[UUID, Field(strict=False)] | None = None
    assistant_message_id: Annotated[UUID, Field(strict=False)] | None = None
    session_id: Annotated[UUID, Field(strict=False)] | None = None
    model_version: str | None = None
    adapter_version: str | None = None


class AnswerV1(BaseModel):
    """One assistant message in the contract. Unknown top-level keys are rejected."""

    model_config = ConfigDict(strict=True, extra="forbid")

    version: Annotated[str, Field(pattern=r"^kwanzaa\.answer\.v[0-9]+$")]
    persona: Literal["educator", "researcher", "creator", "builder"] | None = None
    model_mode: Literal["base_adapter_rag", "base_only", "adapter_only", "creative"] | None = None
    toggles: Toggles | None = None
    answer: Answer
    sources: list[Source] = Field(max_length=100)
    retrieval_summary: RetrievalSummary
    unknowns: Unknowns
    integrity: Integrity | None = None
    provenance: Provenance | None = None


# --- retrieved documents in the user message: read where the prompt is written (contract/prompt.py) -----------

_CITATION = re.compile(r"\[(\d+)\]")


def extract_citations(answer_text: str) -> list[int]:
    """Every ``[n]`` in the text, in order of appearance (repeats kept): ``"a [1][2] b [1]"`` -> ``[1, 2, 1]``."""
    return [int(n) for n in _CITATION.findall(answer_text)]


# --- parsing an assistant message -------------------------------------------------------------


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of parsing one assistant message.

    ``status`` is ``"ok"``, ``"invalid_json"`` or ``"contract_violation"``; ``data`` is the decoded JSON
    when it decoded, ``answer`` the validated model when it validated, ``errors`` the reasons otherwise.
    """

    status: Literal["ok", "invalid_json", "contract_violation"]
    data: object | None = None
    answer: AnswerV1 | None = None
    errors: tuple[str, ...] = ()
    deviations: tuple[str, ...] = ()

    @property
    def json_valid(self) -> bool:
        return self.status != "invalid_json"

    @property
    def compliant(self) -> bool:
        return self.status == "ok"

    @property
    def completeness(self) -> str | None:
        """``answer.completeness`` whenever the message decoded to an object that has one (valid or not)."""
        answer = self.data.get("answer") if isinstance(self.data, dict) else None
        return answer.get("completeness") if isinstance(answer, dict) else None

    @property
    def is_refusal(self) -> bool:
        """The one definition of a refusal: ``answer.completeness == "insufficient_data"``; non-JSON never is."""
        return self.completeness == REFUSAL


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def format_validation_error(exc: ValidationError) -> list[str]:
    """One readable line per contract violation: ``answer.completeness: Input should be ... (found 'done')``."""
    lines = []
    for e in exc.errors():
        found = e.get("input")
        shown = repr(found) if not isinstance(found, (dict, list)) else type(found).__name__
        if len(shown) > 80:
            shown = shown[:77] + "..."
        msg = e["msg"]
        if e["type"] == "missing":
            lines.append(f"{_loc(e['loc'])}: required field is missing")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{_loc(e['loc'])}: not a field of {CONTRACT_VERSION}")
        else:
            lines.append(f"{_loc(e['loc'])}: {msg} (found {shown})")
    return lines


def parse_answer(text: str) -> ParsedAnswer:
    """Parse and validate an assistant message; never raises on bad input."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return ParsedAnswer("invalid_json", errors=(f"not valid JSON: {exc}",))
    if not isinstance(data, dict):
        return ParsedAnswer(
            "contract_violation", data=data, errors=(f"expected a JSON object, found {type(data).__name__}",)
        )
    try:
        answer = AnswerV1.model_validate(data)
    except ValidationError as exc:
        return ParsedAnswer("contract_violation", data=data, errors=tuple(format_validation_error(exc)))
    except RecursionError:
        return ParsedAnswer("contract_violation", data=data, errors=("nesting too deep",))
    return ParsedAnswer("ok", data=data, answer=answer, deviations=tuple(deviations(data)))


def deviations(data: dict) -> list[str]:
    """The tolerated departures from the JSON Schema found in a decoded answer (see ``_LIFTED``)."""
    out = []
    summary = data.get("retrieval_summary") or {}
    for i, r in enumerate(summary.get("results") or []):
        missing = [k for k in _LIFTED if isinstance(r, dict) and k not in r]
        if missing:
            out.append(
                f"retrieval_summary.results[{i}]: {', '.join(missing)} given inside 'metadata', not at the top level"
            )
    if summary.get("top_k") == 0:
        out.append("retrieval_summary.top_k is 0 (the schema asks for at least 1)")
    return out


def categorize(answer: ParsedAnswer, citations: list[int]) -> str:
    """refusal (insufficient_data), partial, multi_source (cites 2+ documents), grounded (cites 1), uncited."""
    if answer.is_refusal:
        return "refusal"
    if answer.completeness == "partial":
        return "partial"
    distinct = len(set(citations))
    return "multi_source" if distinct >= 2 else ("grounded" if distinct == 1 else "uncited")
