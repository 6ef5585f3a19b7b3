"""One question shown end to end: an eval prompt turned back into the request the team's backend sends (the question
and its documents as dicts, for ``kwanzaa_hub.ask``), and an answer as a person reads it. The demo and the Colab
notebook end with these."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from kwanzaa_hub.contract.prompt import parse_documents, parse_query
from kwanzaa_hub.errors import InputError


def request_from_prompt(user: str) -> tuple[str, list[dict[str, Any]]]:
    """The question and the documents of a training-format user message, as ``kwanzaa_hub.ask`` takes them, so
    ``ask`` rebuilds that prompt."""
    question = parse_query(user)
    if not question:
        raise InputError("the eval prompt has no 'Query:' line: it is not in the training data's format")
    docs = [
        {
            "title": d.title,
            "content": d.content,
            "url": d.url,
            "publisher": d.publisher,
            "year": d.year,
            "relevance_score": d.relevance,
        }
        for d in parse_documents(user)
    ]
    return question, docs


def readable_answer(answer: str, width: int = 100) -> str:
    """An answer in ``kwanzaa.answer.v1`` JSON as a few lines: its text, completeness and confidence, and the
    sources it lists. Text that is not such an object is shown as it is."""
    try:
        data = json.loads(answer)
        body = data["answer"]
        text = str(body["text"])
    except (ValueError, KeyError, TypeError):
        return answer
    wrap = textwrap.TextWrapper(width=width, initial_indent="  ", subsequent_indent="  ")
    lines = ["answer:", wrap.fill(" ".join(text.split()) or "(empty)")]
    said = [f"{k} {body[k]}" for k in ("completeness", "confidence") if body.get(k) is not None]
    if said:
        lines.append("  " + ", ".join(said))
    sources = data.get("sources") or []
    lines.append(f"sources ({len(sources)}):" if sources else "sources: none")
    for i, s in enumerate(sources, 1):
        if isinstance(s, dict):
            lines.append(f"  [{i}] {s.get('citation_label', '')} <{s.get('canonical_url', '')}>")
    return "\n".join(lines)
