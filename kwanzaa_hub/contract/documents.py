"""Retrieved documents as the team's backend hands them over: dicts, or a JSON / JSONL file of them.

One reading for every consumer: ``kwanzaa-hub ask --docs``, ``kwanzaa-hub schema --docs`` and the Python
``kwanzaa_hub.ask`` / ``kwanzaa_hub.schema_for`` turn them into :class:`~kwanzaa_hub.contract.prompt.RetrievedDoc`
here, so the prompt a question is answered from and the schema its answer is held to see the same documents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kwanzaa_hub.contract.prompt import RetrievedDoc
from kwanzaa_hub.errors import InputError


def document(where: str, raw: Any) -> RetrievedDoc:
    """One document dict: ``content`` is required; ``title`` (or ``citation_label``), ``url`` (or
    ``canonical_url``), ``publisher``/``source_org``/``source``/``author``, ``year`` and ``relevance_score`` (or
    ``relevance``/``score``) fill the prompt's other lines."""
    if not isinstance(raw, dict):
        raise InputError(
            f"{where}: expected a document object with title, content, url, ..., found {type(raw).__name__}"
        )
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        raise InputError(f"{where}: the document has no content (a non-empty 'content' string is required)")
    relevance = raw.get("relevance_score", raw.get("relevance", raw.get("score")))
    if relevance is not None and (isinstance(relevance, bool) or not isinstance(relevance, (int, float))):
        raise InputError(f"{where}: relevance_score must be a number, found {relevance!r}")
    url = raw.get("url") or raw.get("canonical_url") or ""
    title = raw.get("title") or raw.get("citation_label") or url or "Untitled document"
    source = raw.get("publisher") or raw.get("source_org") or raw.get("source") or raw.get("author") or ""
    return RetrievedDoc(
        str(title).strip(), " ".join(content.split()), str(url), str(source), raw.get("year"), relevance
    )


def from_dicts(documents: Sequence[Any]) -> list[RetrievedDoc]:
    """Documents given as dicts (already :class:`RetrievedDoc` ones pass through), in retrieval order."""
    if isinstance(documents, (str, bytes, dict)):
        raise InputError(f"documents: expected a list of document objects, found {type(documents).__name__}")
    return [d if isinstance(d, RetrievedDoc) else document(f"document {i}", d) for i, d in enumerate(documents, 1)]


def load_documents(path: str | Path) -> list[RetrievedDoc]:
    """Documents from a JSON file (a list of objects, or ``{"documents": [...]}``) or a ``.jsonl`` file (one object
    a line), in retrieval order. An empty list, or an empty file, is a retrieval that found nothing. A file that is
    not UTF-8, or JSON nested past Python's recursion limit, is an ``InputError``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--docs {path}: file not found")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is accepted, as the data stage accepts it
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not UTF-8 text (byte {exc.start} is 0x{raw[exc.start]:02x}); save the documents as UTF-8 JSON"
        ) from None
    if not text.strip():
        return []
    try:
        return _parse(path, text)
    except RecursionError:
        raise InputError(f"{path}: the JSON is nested too deeply to be a list of documents") from None


def _parse(path: Path, text: str) -> list[RetrievedDoc]:
    items: list[tuple[str, Any]] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f"{path}:{n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"{path}:{n}: not valid JSON ({exc.msg}); expected one document object a line"
                ) from None
        return [document(where, raw) for where, raw in items]
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); a .jsonl file holds one a line"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("documents"), list):
        data = data["documents"]
    if not isinstance(data, list):
        raise InputError(
            f'{path}: expected a list of documents (or {{"documents": [...]}}), found {type(data).__name__}'
        )
    items = [(f"{path}: document {i}", d) for i, d in enumerate(data, 1)]
    return [document(where, raw) for where, raw in items]
