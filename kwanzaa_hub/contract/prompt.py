"""The user message the adapter is trained on: numbered retrieved documents, then the query.

The inverse of :func:`kwanzaa_hub.contract.answer.parse_documents`: the example data and ``kwanzaa-hub ask`` build their
prompts here, so a question asked at serving time reads exactly like a training sample::

    Retrieved Documents:

    [1] Title
    Relevance Score: 0.90
    Source: Publisher (1998)
    Content: ...
    URL: https://...

    Query: ...

    Provide your response as valid JSON following the answer_json contract.
"""

from __future__ import annotations

from dataclasses import dataclass

CLOSING = "Provide your response as valid JSON following the answer_json contract."
NOTHING_RETRIEVED = "No relevant documents were retrieved from the corpus."


@dataclass(frozen=True)
class RetrievedDoc:
    """One retrieved document as the prompt shows it. ``source`` is the publisher (or author)."""

    title: str
    content: str
    url: str
    source: str
    year: int | str | None = None
    relevance: float | None = None


def block(number: int, doc: RetrievedDoc) -> str:
    """The ``[n] Title`` block of one document (lines the data lacks are left out)."""
    lines = [f"[{number}] {doc.title}"]
    if doc.relevance is not None:
        lines.append(f"Relevance Score: {doc.relevance:.2f}")
    if doc.source:
        lines.append(f"Source: {doc.source} ({doc.year})" if doc.year not in (None, "") else f"Source: {doc.source}")
    lines.append(f"Content: {doc.content}")
    if doc.url:
        lines.append(f"URL: {doc.url}")
    return "\n".join(lines)


def user_message(query: str, docs: list[RetrievedDoc]) -> str:
    """The user message for ``query`` over ``docs`` (numbered from 1 in the order given)."""
    if not docs:
        return f"Query: {query}\n\n{NOTHING_RETRIEVED}"
    blocks = "\n\n".join(block(i, d) for i, d in enumerate(docs, 1))
    return f"Retrieved Documents:\n\n{blocks}\n\nQuery: {query}\n\n{CLOSING}"


# The system prompts of the training samples: a persona's line, then the rules (the example data and `ask`).
PERSONAS = {
    "educator": (
        "You are an educator who explains Kwanzaa and African American history clearly for students.",
        "educational",
    ),
    "researcher": (
        "You are a researcher giving precise, well-sourced answers about Kwanzaa and African American history.",
        "formal",
    ),
    "creator": (
        "You are a cultural guide who helps creators understand Kwanzaa traditions accurately.",
        "conversational",
    ),
    "builder": (
        "You are an assistant for developers building tools about Kwanzaa and African American history.",
        "neutral",
    ),
}
RULES = (
    "\n\nRules:\n- Cite retrieved documents with bracket numbers such as [1][2].\n- Use only the retrieved documents.\n"
    "- If the documents do not hold the answer, say so and set completeness to insufficient_data.\n"
    "- Respond with valid JSON following the kwanzaa.answer.v1 contract."
)
