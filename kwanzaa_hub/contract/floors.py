"""Floors: trivial answerers built from the prompt alone (no model, no generation), scored beside every model.

A metric that ranks one of them at or above the team's reference answers measures the answer's shape, not the
answer (tests/test_yardstick.py holds that every headline metric ranks the references strictly above each). Each
floor writes a valid ``kwanzaa.answer.v1`` message from one prompt's user message (its numbered documents and query):

- ``cite_all``: the first sentence of every document, each followed by its ``[n]``;
- ``cite_first``: the first sentence of document 1, cited ``[1]``;
- ``refuse_all``: a refusal (``completeness: insufficient_data``) that states nothing, on every prompt;
- ``no_cite``: the first sentence of every document, uncited;
- ``other_reference``: the reference answer of another prompt of the split, by a fixed derangement (prompt ``i``
  gets prompt ``i + 1``'s, the last gets the first's; none with a single prompt).

Sources and retrieval results name the cited (``sources``) and all (``results``) documents with the fields their
prompt blocks state, as a reference answer copies them (:func:`kwanzaa_hub.contract.request_schema.source_fields`),
so a floor passes the request schema of its prompt wherever the rule it breaks is not the point (``no_cite`` does not
cite, which cite-or-refuse refuses; its free-decoding answer is still a contract answer).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from kwanzaa_hub.contract.answer import CONTRACT_VERSION, REFUSAL
from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.prompt import parse_documents, parse_query
from kwanzaa_hub.contract.request_schema import source_fields

#: Every floor, in the order the views list them.
FLOORS = ("cite_all", "cite_first", "refuse_all", "no_cite", "other_reference")
REFUSAL_TEXT = "The retrieved documents do not hold enough to answer this question."
NAMESPACE = "kwanzaa"
_FIRST = re.compile(r"(?<=[.!?])\s")


def first_sentence(doc: Document) -> str:
    """The first sentence of a document's content (its title when the content is empty), outer brackets dropped so
    the copy never opens like an authoring template (``[Content from ...]``)."""
    text = " ".join((doc.content or doc.title).split()).strip("[] ")
    return _FIRST.split(text, maxsplit=1)[0] if text else doc.title


def _source(number: int, doc: Document) -> dict[str, Any] | None:
    fields = source_fields(doc)
    if "canonical_url" not in fields:
        return None  # a source is named by its URL: a document without one cannot be listed
    return {
        "citation_label": fields.get("citation_label", doc.title[:500] or f"Document {number}"),
        "canonical_url": fields["canonical_url"],
        "source_org": fields.get("source_org", "unknown"),
        "year": fields.get("year", 2000),
        "content_type": "reference",
        "license": "unknown",
        "namespace": NAMESPACE,
        "doc_id": f"doc-{number}",
        "chunk_id": f"doc-{number}-0",
        **({"relevance_score": fields["relevance_score"]} if "relevance_score" in fields else {}),
    }


def contract_answer(user_text: str, text: str, cited: Sequence[int], *, refuse: bool = False) -> str:
    """A ``kwanzaa.answer.v1`` message for ``user_text``'s prompt: ``text`` as the answer, the ``cited`` documents as
    sources, every document as a retrieval result."""
    docs = parse_documents(user_text)
    by_number = dict(enumerate(docs, 1))  # document i of the prompt is its [i]
    sources = [s for n in cited if n in by_number and (s := _source(n, by_number[n])) is not None]
    results = [
        {
            "rank": n,
            "score": d.relevance if d.relevance is not None and 0.0 <= d.relevance <= 1.0 else 0.5,
            "citation_label": s["citation_label"],
            "canonical_url": s["canonical_url"],
            "doc_id": s["doc_id"],
            "chunk_id": s["chunk_id"],
            "namespace": NAMESPACE,
        }
        for n, d in enumerate(docs, 1)
        if (s := _source(n, d)) is not None
    ]
    data = {
        "version": CONTRACT_VERSION,
        "answer": {"text": text, "completeness": REFUSAL if refuse else "complete"},
        "sources": sources,
        "retrieval_summary": {
            "query": (parse_query(user_text) or "-")[:1000],
            "top_k": max(1, len(docs)),
            "namespaces": [NAMESPACE],
            "results": results,
        },
        "unknowns": {"unsupported_claims": [], "missing_context": [], "clarifying_questions": []},
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def _copy(user_text: str, docs: list[Document], cite: bool) -> str:
    if not docs:  # nothing to copy: the query, restated
        return contract_answer(user_text, parse_query(user_text) or "No documents.", [])
    parts = [f"{first_sentence(d)} [{n}]" if cite else first_sentence(d) for n, d in enumerate(docs, 1)]
    return contract_answer(user_text, " ".join(parts), list(range(1, len(docs) + 1)) if cite else [])


def answer(name: str, user_text: str) -> str:
    """The answer of floor ``name`` (not ``other_reference``, which needs the split) to one prompt."""
    docs = parse_documents(user_text)
    if name == "cite_all":
        return _copy(user_text, docs, cite=True)
    if name == "cite_first":
        return _copy(user_text, docs[:1], cite=True)
    if name == "refuse_all":
        return contract_answer(user_text, REFUSAL_TEXT, [], refuse=True)
    if name == "no_cite":
        return _copy(user_text, docs, cite=False)
    raise ValueError(f"unknown floor {name!r}; expected one of {FLOORS}")


def derangement(n: int) -> list[int]:
    """The fixed derangement of ``other_reference``: prompt ``i`` takes prompt ``(i + 1) % n``'s reference."""
    return [(i + 1) % n for i in range(n)] if n > 1 else []


def floor_answers(user_texts: Sequence[str], references: Sequence[str]) -> dict[str, list[str]]:
    """Every floor's answer to every prompt of a split, by floor name (``other_reference`` only with two prompts or
    more)."""
    out = {name: [answer(name, u) for u in user_texts] for name in FLOORS if name != "other_reference"}
    if order := derangement(len(user_texts)):
        out["other_reference"] = [references[j] for j in order]
    return out
