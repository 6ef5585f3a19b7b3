"""The user message the adapter is trained on: numbered retrieved documents, then the query; written and read here.

:func:`user_message` renders it and :func:`parse_documents` / :func:`parse_query` read it back: the one writer and
the one reader of the format (the example data, ``ask``, the request schema, the data stage and the eval all go
through them), so a question asked at serving time reads exactly like a training sample::

    Retrieved Documents:

    [1] Title
    Relevance Score: 0.90
    Source: Publisher (1998)
    Content: ...
    URL: https://...

    Query: ...

    Provide your response as valid JSON following the answer_json contract.

Every field of a :class:`~kwanzaa_hub.contract.documents.Document` is one line (normalised when the document is
built), and so is the query here: no value can open a line, so ``parse_documents(user_message(q, docs)) == docs``
for any documents (tests/test_documents.py checks it on hostile fields).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from kwanzaa_hub.contract.documents import Document, one_line

CLOSING = "Provide your response as valid JSON following the answer_json contract."
NOTHING_RETRIEVED = "No relevant documents were retrieved from the corpus."


def block(number: int, doc: Document) -> str:
    """The ``[n] Title`` block of one document (lines the document lacks are left out)."""
    lines = [f"[{number}] {doc.title}"]
    if doc.relevance is not None:
        lines.append(f"Relevance Score: {doc.relevance:.2f}")
    if doc.publisher:
        lines.append(f"Source: {doc.source_line}")
    lines.append(f"Content: {doc.content}")
    if doc.url:
        lines.append(f"URL: {doc.url}")
    return "\n".join(lines)


def user_message(query: str, docs: Sequence[Document]) -> str:
    """The user message for ``query`` (made one line) over ``docs``, numbered from 1 in the order given."""
    query = one_line(query)
    if not docs:
        return f"Query: {query}\n\n{NOTHING_RETRIEVED}"
    blocks = "\n\n".join(block(i, d) for i, d in enumerate(docs, 1))
    return f"Retrieved Documents:\n\n{blocks}\n\nQuery: {query}\n\n{CLOSING}"


_BLOCK_START = re.compile(r"^\[([0-9]+)\][ \t]+(.*)$", re.M)
_FIELD = re.compile(r"^(Relevance Score|Source|Content|URL):[ \t]?(.*)$")
_QUERY = re.compile(r"^Query:[ \t]*(.*)$", re.M)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _score(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_documents(user_text: str) -> list[Document]:
    """The retrieved documents of a user message, in order (empty when none were retrieved): document ``i`` of the
    list is the prompt's ``[i + 1]`` (the prompt numbers them 1, 2, ... in order). Never raises.

    A block starts at a line ``[n] Title`` and runs to the next block or the ``Query:`` line. Its
    ``Relevance Score:``, ``Source:``, ``Content:`` and ``URL:`` lines are read; a ``Content:`` value
    continues over following lines that are not another field (a hand-written prompt; rendered ones never wrap).
    """
    user_text = _SURROGATE.sub("\ufffd", user_text)  # not text (the data stage refuses it): never a ValueError here
    starts = list(_BLOCK_START.finditer(user_text))
    docs: list[Document] = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(user_text)
        body = user_text[m.end() : end]
        q = _QUERY.search(body)
        if q:
            body = body[: q.start()]
        fields: dict[str, str] = {}
        current: str | None = None
        for line in body.split("\n"):
            f = _FIELD.match(line)
            if f:
                current = f.group(1)
                fields[current] = f.group(2)
            elif current == "Content" and line.strip():
                fields[current] += "\n" + line
        docs.append(
            Document(
                title=m.group(2),
                content=fields.get("Content", ""),
                url=fields.get("URL", ""),
                publisher=fields.get("Source", ""),  # "Org (1998)" is split as the document splits it
                relevance=_score(fields.get("Relevance Score", "")),
            )
        )
    return docs


def parse_query(user_text: str) -> str | None:
    """The text of the ``Query:`` line, or None."""
    m = _QUERY.search(user_text)
    return m.group(1).strip() if m else None


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
