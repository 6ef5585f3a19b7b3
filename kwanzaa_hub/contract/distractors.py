"""Distractor documents: a prompt's retrieved documents mixed with documents of other prompts, the answer renumbered.

RAFT (Zhang et al., 2024) trains on prompts whose right documents sit among off-topic ones, so a model learns to
find its document rather than trust position. The one home of that rewrite, for the data stage's training prompts
(``data.distractors``) and the eval's distractor split (``eval.distractors``):

- :func:`add_distractors` adds ``k`` documents drawn from a pool of other prompts' documents to one sample (never
  a document whose URL or content is already in the prompt, never the same one twice, never one from a prompt
  with the same query), shuffles all its documents with the caller's ``random.Random``, rebuilds the user message
  in the prompt format, and renumbers the answer to match: every ``[n]`` in ``answer.text``, ``sources`` (in the
  new rank order), ``retrieval_summary.results`` (their ``rank``, in the new rank order) and
  ``retrieval_summary.top_k`` (raised to the number of documents shown when it is below it, as the request schema
  asks). Nothing else of the answer changes: its words, its other fields and its JSON layout (re-written in the
  style that gives back the text as written) stay; with ``k`` = 0 the sample comes back byte for byte.
- :func:`distractor_split` does it for every sample of a list with a fixed seed, the pool being the list's own
  documents: same samples and seed, same bytes. Each sample's draw is seeded by its own user message, so adding a
  sample elsewhere changes no other sample's order (only the pool it draws from).

Decided here:

- an authoring template (``[This answer would ...``) is renumbered like any answer: its citations if it has any,
  else its sources and results only;
- a refusal whose prompt had no documents gets distractors too and stays a refusal (nothing it was given answered
  it; the pool's documents are other questions'). A prompt without documents whose answer is not a refusal (a
  greeting) is left as it is: over documents, its uncited answer is one the request schema refuses;
- a citation ``[n]``, or a result ``rank``, that names no document of the prompt is refused (``ValueError``): kept
  as it was, it would name whichever document now has that number. The data stage rejects such a citation before
  (:func:`kwanzaa_hub.contract.samples.check_file`);
- a user message that rebuilding from its documents and query does not give back exactly is refused
  (``ValueError``), so no text of a prompt is ever lost.

Prompts are read and written only through :func:`_read` and :func:`_write` below.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kwanzaa_hub.contract.answer import _CITATION, REFUSAL
from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.prompt import parse_documents, parse_query, user_message
from kwanzaa_hub.errors import InputError

Messages = list[dict[str, str]]
#: The seed of both the data stage's training prompts and the eval's distractor split.
SEED = 0


def _read(user_text: str) -> tuple[str | None, list[Document]]:
    """The query and the documents (in order, numbered 1..n) of a user message in the prompt format."""
    return parse_query(user_text), parse_documents(user_text)


def _write(query: str, documents: Sequence[Document]) -> str:
    """The user message for ``query`` over ``documents``, numbered 1..n in the order given."""
    return user_message(query, documents)


def documents_of(user_text: str) -> list[Any]:
    """The documents of a user message, as :func:`_read` reads them (for a caller that re-reads a rewritten prompt)."""
    return _read(user_text)[1]


@dataclass(frozen=True)
class Pooled:
    """One document of the pool: the document, the id of the sample it came from, and that sample's query."""

    document: Any
    origin: str
    query: str | None


@dataclass(frozen=True)
class Mapping:
    """What :func:`add_distractors` did to one sample.

    ``numbers``: the prompt's own documents, old number -> new number; ``distractors``: new number -> the id of the
    sample each distractor came from; ``renumbered``: whether the answer changed (a citation, the order or a rank
    of its sources/results, or ``top_k``); ``top_k_raised``: whether ``top_k`` was raised to the documents shown."""

    numbers: dict[int, int] = field(default_factory=dict)
    distractors: dict[int, str] = field(default_factory=dict)
    renumbered: bool = False
    top_k_raised: bool = False

    @property
    def documents(self) -> int:
        """How many documents the new prompt holds."""
        return len(self.numbers) + len(self.distractors)

    def record(self) -> dict[str, Any]:
        """The mapping as JSON-ready values (string keys), for a per-example record."""
        return {
            "numbers": {str(old): new for old, new in sorted(self.numbers.items())},
            "distractors": {str(new): origin for new, origin in sorted(self.distractors.items())},
            "renumbered": self.renumbered,
        }


def _key(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def document_key(document: Any) -> str:
    """What makes two documents the same one: the URL, or the content (whitespace and case aside) without one."""
    return document.url or f"content:{_key(document.content)}"


def pool_of(samples: Sequence[Messages], ids: Sequence[str] | None = None) -> list[Pooled]:
    """Every distinct document of ``samples`` (by URL, or by content when it has none), first occurrence kept, with
    the id of its sample (``ids``, or the sample's index)."""
    out: list[Pooled] = []
    seen: set[str] = set()
    for i, messages in enumerate(samples):
        query, docs = _read(messages[-2]["content"])
        for d in docs:
            key = document_key(d)
            if key not in seen:
                seen.add(key)
                out.append(Pooled(d, ids[i] if ids is not None else str(i), query))
    return out


def _style(text: str, data: Any) -> dict[str, Any]:
    """The ``json.dumps`` arguments that give back ``text`` from ``data`` (one line, non-ASCII kept, otherwise)."""
    for indent in (None, 2, 4):
        for ensure_ascii in (False, True):
            if json.dumps(data, indent=indent, ensure_ascii=ensure_ascii) == text:
                return {"indent": indent, "ensure_ascii": ensure_ascii}
    return {"indent": None, "ensure_ascii": False}


def renumber(data: dict[str, Any], numbers: dict[int, int], urls: Sequence[str | None]) -> tuple[dict[str, Any], bool]:
    """``data`` (a decoded answer) renumbered: ``numbers`` maps each old document number to its new one, ``urls`` are
    the new prompt's document URLs in the new order. Returns the new answer and whether ``top_k`` was raised.
    ``data`` is not changed. Raises ValueError on a citation or result rank that names no document."""
    out = json.loads(json.dumps(data))
    answer = out.get("answer") or {}

    def cite(m: Any) -> str:
        n = int(m.group(1))
        if n not in numbers:
            raise ValueError(f"answer.text cites [{n}] but the prompt has {_documents(len(numbers))}")
        return f"[{numbers[n]}]"

    if isinstance(answer.get("text"), str):
        answer["text"] = _CITATION.sub(cite, answer["text"])

    position: dict[str, int] = {}
    for n, url in enumerate(urls, 1):
        if url:
            position.setdefault(url, n)
    sources = out.get("sources") or []
    for i, s in enumerate(sources):
        if s.get("canonical_url") not in position:
            raise ValueError(f"sources[{i}].canonical_url {s.get('canonical_url')!r} is not a document of the prompt")
    out["sources"] = sorted(sources, key=lambda s: position[s["canonical_url"]])

    summary = out.get("retrieval_summary") or {}
    results = summary.get("results") or []
    for i, r in enumerate(results):
        if r.get("rank") not in numbers:
            raise ValueError(
                f"retrieval_summary.results[{i}].rank {r.get('rank')!r} names no document "
                f"(the prompt has {_documents(len(numbers))})"
            )
        r["rank"] = numbers[r["rank"]]
    if "results" in summary:
        summary["results"] = sorted(results, key=lambda r: r["rank"])
    raised = isinstance(summary.get("top_k"), int) and summary["top_k"] < len(urls)
    if raised:
        summary["top_k"] = len(urls)
    return out, raised


def _documents(n: int) -> str:
    return f"documents [1]..[{n}]" if n else "no documents"


def add_distractors(sample: Messages, pool: Sequence[Pooled], k: int, rng: random.Random) -> tuple[Messages, Mapping]:
    """``sample`` (``[system?, user, assistant]`` messages) with ``k`` distractor documents drawn from ``pool`` (fewer
    when the pool holds fewer that fit), all documents shuffled by ``rng``, and its answer renumbered to match (see
    the module's docstring). ``k`` = 0 draws and shuffles nothing: a sample whose sources and results are listed in
    rank order comes back byte for byte. ``sample`` is not changed."""
    if k < 0:
        raise ValueError(f"k must be 0 or more, found {k}")
    user, assistant = sample[-2]["content"], sample[-1]["content"]
    query, docs = _read(user)
    if query is None or _write(query, docs) != user:
        raise ValueError(
            "the user message is not in the prompt format: rebuilding it from its documents does not give it back"
        )
    data = json.loads(assistant)
    if not isinstance(data, dict):
        raise ValueError(f"the assistant message is not a JSON object, found {type(data).__name__}")
    refusal = isinstance(data.get("answer"), dict) and data["answer"].get("completeness") == REFUSAL
    if not docs and not refusal:
        return [dict(m) for m in sample], Mapping()

    chosen: list[Pooled] = []
    if k:
        urls = {d.url for d in docs if d.url}
        contents = {_key(d.content) for d in docs}
        candidates = [p for p in pool if not (p.query and _key(p.query) == _key(query))]
        for p in rng.sample(candidates, len(candidates)):
            if len(chosen) == k:
                break
            if (p.document.url and p.document.url in urls) or _key(p.document.content) in contents:
                continue
            chosen.append(p)
            urls.add(p.document.url)
            contents.add(_key(p.document.content))

    everything = [*docs, *(p.document for p in chosen)]
    order = list(range(len(everything)))
    if k:
        rng.shuffle(order)
    new_number = {old: new for new, old in enumerate(order, 1)}
    numbers = {i + 1: new_number[i] for i in range(len(docs))}
    distractors = {new_number[len(docs) + j]: p.origin for j, p in enumerate(chosen)}
    shown = [everything[i] for i in order]

    new_data, raised = renumber(data, numbers, [d.url for d in shown])
    renumbered = new_data != data
    text = json.dumps(new_data, **_style(assistant, data)) if renumbered else assistant
    new_user = _write(query, shown)
    out = [dict(m) for m in sample]
    out[-2]["content"], out[-1]["content"] = new_user, text
    return out, Mapping(numbers, distractors, renumbered, raised)


class Unrenumbered(ValueError):
    """Samples :func:`distractor_split` could not rewrite: one line per sample, ``<id>: <why>``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def distractor_split(
    samples: Sequence[Messages], k: int, seed: int = SEED, ids: Sequence[str] | None = None
) -> list[tuple[Messages, Mapping]]:
    """Every sample of ``samples`` with ``k`` distractors drawn from the other samples' documents
    (:func:`add_distractors`), in order; ``ids`` name the samples in the mappings and the errors (default: their
    index). Each sample's draw is seeded by ``seed`` and its own user message: the same samples and seed give the
    same bytes. Raises :class:`Unrenumbered` naming every sample that cannot be rewritten."""
    names = list(ids) if ids is not None else [str(i) for i in range(len(samples))]
    pool = pool_of(samples, names)
    out, problems = [], []
    for name, s in zip(names, samples, strict=True):
        try:
            out.append(add_distractors(s, pool, k, random.Random(f"{seed}\n{s[-2]['content']}")))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise Unrenumbered(problems)
    return out


def eval_split(
    prompts: Sequence[Messages], references: Sequence[str], k: int, ids: Sequence[str]
) -> tuple[list[Messages], list[str], list[dict[str, Any]]]:
    """The eval's distractor split: each prompt (its system and user messages) with ``k`` documents from other
    prompts of the split added, all shuffled with :data:`SEED`, and its reference renumbered to match
    (:func:`distractor_split`, as the data stage rewrites training prompts). Returns the prompts, the references and
    each prompt's mapping (:meth:`Mapping.record`); a reference that cannot be renumbered is an ``InputError``."""
    samples = [[*p, {"role": "assistant", "content": r}] for p, r in zip(prompts, references, strict=True)]
    try:
        made = distractor_split(samples, k, ids=ids)
    except Unrenumbered as exc:
        raise InputError(
            f"eval.distractors {k}: {len(exc.problems)} reference(s) cannot be renumbered ({exc.problems[0]}); fix "
            "the reference, or set eval.distractors: 0 to score the plain split only"
        ) from None
    return [m[:-1] for m, _ in made], [m[-1]["content"] for m, _ in made], [mapping.record() for _, mapping in made]
