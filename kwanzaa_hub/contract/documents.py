"""Retrieved documents: the one :class:`Document` type, and reading the team's backend's dicts or files into it.

A :class:`Document` is what the prompt shows of one retrieved document. Every field is normalised when it is built
(:meth:`Document.__post_init__`), whoever builds it: each text field is one line (newlines, carriage returns,
U+2028/U+2029, NEL and every other control character become one space, runs of whitespace one space, ends
trimmed), the publisher and year are split as the prompt's ``Source: Org (1998)`` line reads them, an integral year
(``1998.0``, ``"1998"``) is an int, and the relevance is the two-decimal number the prompt writes. So no field can
open a line of the prompt (a forged ``[2]`` block, ``URL:`` or ``Query:`` line), and
:func:`kwanzaa_hub.contract.prompt.parse_documents` reads back exactly the documents
:func:`kwanzaa_hub.contract.prompt.user_message` rendered (tests/test_documents.py holds them inverses on hostile
fields).

One reading for every consumer: ``kwanzaa-hub ask --docs``, ``kwanzaa-hub schema --docs`` and the Python
``kwanzaa_hub.ask`` / ``kwanzaa_hub.schema_for`` turn dicts into documents here (:func:`from_dicts`,
:func:`load_documents`), so the prompt a question is answered from and the schema its answer is held to see the
same documents. Bad input is an ``InputError`` naming the file, line or document.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.errors import InputError

#: The prompt's source line: ``Org (1998)`` is the publisher ``Org`` and the year 1998 (one space, 1 to 4 ASCII digits).
SOURCE_LINE = re.compile(r"(?P<publisher>.*\S) \((?P<year>[0-9]{1,4})\)")
UNTITLED = "Untitled document"
#: The most documents one request takes. Up to this many, the request schema holds every answer to its rules (each
#: document listed at most once and in rank order: one ``anyOf`` branch per ordered subset, 2**k of them, which JSON
#: Schema cannot say more compactly; 10 documents compile in about 0.1 s); more is refused with exit 2 rather than
#: answered with weaker rules, or with a grammar too large to compile (see docs/serving.md). The team's data retrieves
#: at most 3; the contract's ``top_k`` maximum is 100.
MAX_DOCUMENTS = 10


def one_line(value: object) -> str:
    """``value`` as one line of text: every control character (newline, CR, NEL, tab, NUL, ...) and every line or
    paragraph separator (U+2028, U+2029) becomes a space, whitespace runs become one space, the ends are trimmed.
    A lone UTF-16 surrogate (a ``\\ud8xx`` JSON escape) is not text: ``ValueError``."""
    text = str(value)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        raise ValueError("a lone UTF-16 surrogate (\\ud8xx escape) is not text; fix the escape")
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in text)
    return " ".join(text.split())


def _year(value: object) -> int | str | None:
    """An integral year as an int (``1998``, ``1998.0``, ``"1998"``); None when absent; other text as one line."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and 0 <= value <= 9999:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9999:
        return value
    text = one_line(value) if not isinstance(value, int) or isinstance(value, bool) else str(value)
    return int(text) if re.fullmatch(r"[0-9]{1,4}", text) else (text or None)


def _relevance(value: object) -> float | None:
    """The relevance as the prompt writes it (two decimals) and reads it back; a finite number or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"relevance_score must be a number, found {value!r}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        shown = repr(value) if len(repr(value)) <= 20 else f"a number of {len(str(value))} digits"
        raise ValueError(f"relevance_score must be a finite number, found {shown}")
    return float(f"{number:.2f}")


@dataclass(frozen=True)
class Document:
    """One retrieved document as the prompt shows it (normalised on construction; see the module's docstring).

    ``title`` is never empty (the URL, else ``"Untitled document"``, stands in); ``publisher`` is the name of the
    ``Source:`` line and ``year`` its bracketed year (an int when integral, other text folded into ``publisher``,
    none without a publisher); ``relevance`` the two-decimal score. A document's number is its place in the list.
    """

    title: str
    content: str
    url: str = ""
    publisher: str = ""
    year: int | None = None
    relevance: float | None = None

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        put("url", one_line(self.url or ""))
        put("title", one_line(self.title or "") or self.url or UNTITLED)
        put("content", one_line(self.content or ""))
        publisher, year = one_line(self.publisher or ""), _year(self.year)
        if not publisher:  # the prompt shows a year only on the source line of a publisher
            year = None
        elif isinstance(year, str):  # not a year: the prompt shows it as part of the source line
            publisher, year = f"{publisher} ({year})", None
        if year is None and (m := SOURCE_LINE.fullmatch(publisher)):  # "Org (1998)" is Org, 1998, as it reads
            publisher, year = m.group("publisher"), int(m.group("year"))
        put("publisher", publisher)
        put("year", year)
        put("relevance", _relevance(self.relevance))

    @property
    def source_line(self) -> str:
        """The ``Source:`` line's value: ``Org (1998)``, ``Org``, or empty when there is no publisher."""
        return f"{self.publisher} ({self.year})" if self.year is not None else self.publisher


def document(where: str, raw: Any) -> Document:
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
    url = raw.get("url") or raw.get("canonical_url") or ""
    title = raw.get("title") or raw.get("citation_label") or ""
    source = raw.get("publisher") or raw.get("source_org") or raw.get("source") or raw.get("author") or ""
    try:
        return Document(title, content, url, source, raw.get("year"), relevance)
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


def from_dicts(documents: Sequence[Any]) -> list[Document]:
    """Documents given as dicts (already :class:`Document` ones pass through), in retrieval order; more than
    :data:`MAX_DOCUMENTS` is an ``InputError``."""
    if isinstance(documents, (str, bytes, dict)):
        raise InputError(f"documents: expected a list of document objects, found {type(documents).__name__}")
    docs = [d if isinstance(d, Document) else document(f"document {i}", d) for i, d in enumerate(documents, 1)]
    return check_count(docs, "documents")


def check_count(docs: list[Document], where: str) -> list[Document]:
    """``docs`` unless there are more than :data:`MAX_DOCUMENTS` (an ``InputError`` that says the limit)."""
    if len(docs) > MAX_DOCUMENTS:
        raise InputError(
            f"{where}: {len(docs)} documents; a request takes at most {MAX_DOCUMENTS} (the most for which the request "
            f"schema lists each at most once, in rank order): pass the {MAX_DOCUMENTS} best ranked"
        )
    return docs


def load_documents(path: str | Path) -> list[Document]:
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
        return check_count(_parse(path, text), str(path))
    except RecursionError:
        raise InputError(f"{path}: the JSON is nested too deeply to be a list of documents") from None


def _parse(path: Path, text: str) -> list[Document]:
    items: list[tuple[str, Any]] = []
    if path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                items.append((f"{path}:{n}", json.loads(line)))
            except (json.JSONDecodeError, ValueError) as exc:
                raise InputError(
                    f"{path}:{n}: not valid JSON ({_why(exc)}); expected one document object a line"
                ) from None
        return [document(where, raw) for where, raw in items]
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError) as exc:
        where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise InputError(f"{path}: not valid JSON ({_why(exc)}{where}); a .jsonl file holds one a line") from None
    if isinstance(data, dict) and isinstance(data.get("documents"), list):
        data = data["documents"]
    if not isinstance(data, list):
        raise InputError(
            f'{path}: expected a list of documents (or {{"documents": [...]}}), found {type(data).__name__}'
        )
    items = [(f"{path}: document {i}", d) for i, d in enumerate(data, 1)]
    return [document(where, raw) for where, raw in items]


def _why(exc: ValueError) -> str:
    # a JSON integer of more than 4300 digits is a ValueError of int(), not a JSONDecodeError
    return exc.msg if isinstance(exc, json.JSONDecodeError) else "a number too long to read"
