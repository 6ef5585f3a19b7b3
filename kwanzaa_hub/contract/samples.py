"""The dataset files read against the contract, line by line: what each usable line holds (:class:`Sample`),
what a file's lines break (:func:`check_file`, errors with file:line, what was expected and what to do), and
prompts shared across the splits (:func:`check_leakage`). No tokenizer and no output here: the data stage
(:mod:`kwanzaa_hub.stages.data`) measures, applies the policies and writes.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwanzaa_hub.contract.answer import ParsedAnswer, categorize, extract_citations, parse_answer
from kwanzaa_hub.contract.documents import Document
from kwanzaa_hub.contract.normalise import comparable
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.contract.prompt import parse_documents, parse_query

ROLES_OK = (("system", "user", "assistant"), ("user", "assistant"))
MESSAGE_KEYS = {"role", "content"}
MAX_LINE_BYTES = 5_000_000


@dataclass
class Sample:
    """One usable line of a dataset file."""

    split: str
    file: str
    line: int
    messages: list[dict[str, str]]
    answer: ParsedAnswer
    documents: list[Document]
    query: str | None
    category: str
    citations: list[int]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def placeholder(self) -> str | None:
        """The template shape of this sample's ``answer.text`` (see :mod:`contract.placeholders`), or None."""
        return placeholder_kind(self.answer.answer.answer.text)

    @property
    def id(self) -> str:
        return f"{self.split}-{self.line:05d}"

    @property
    def prompt_key(self) -> str:
        return json.dumps(self.messages[:-1], sort_keys=True, ensure_ascii=False)

    @property
    def leak_key(self) -> str:
        """The prompt as compared for leakage (:func:`contract.normalise.comparable` on every message)."""
        return json.dumps([[m["role"], comparable(m["content"])] for m in self.messages[:-1]], ensure_ascii=False)


@dataclass
class FileCheck:
    """What reading one file found."""

    path: str
    split: str
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals_citing_context: int = 0


def _decode_lines(path: Path, check: FileCheck) -> Iterable[tuple[int, str]]:
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for n, chunk in enumerate(raw.split(b"\n"), 1):
        chunk = chunk.removesuffix(b"\r")
        if not chunk.strip():
            continue
        if len(chunk) > MAX_LINE_BYTES:
            check.errors.append(f"{path}:{n}: line is {len(chunk):,} bytes; a sample must be under {MAX_LINE_BYTES:,}")
            continue
        try:
            yield n, chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            check.errors.append(
                f"{path}:{n}: not UTF-8 (bad byte 0x{chunk[exc.start]:02x} at column {exc.start + 1}); "
                "re-save the file as UTF-8"
            )


def _check_messages(where: str, record: Any) -> tuple[list[dict[str, str]] | None, list[str]]:
    if isinstance(record, list):
        return None, [f'{where}: found a JSON array; JSONL needs one object {{"messages": [...]}} per line']
    if not isinstance(record, dict) or "messages" not in record:
        found = sorted(record) if isinstance(record, dict) else type(record).__name__
        return None, [f"{where}: expected an object with a 'messages' list, found {found}"]
    messages = record["messages"]
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        return None, [f"{where}: messages: expected a list of {{role, content}} objects"]
    roles = tuple(m.get("role") for m in messages)
    if roles not in ROLES_OK:
        return None, [f"{where}: messages: expected roles system?, user, assistant in that order, found {list(roles)}"]
    problems = []
    if set(record) - {"messages"}:
        extra = sorted(set(record) - {"messages"})
        problems.append(
            f"{where}: unknown key(s) {extra} next to 'messages'; a line holds only {{\"messages\": [...]}}"
        )
    for i, m in enumerate(messages):
        content = m.get("content")
        extra = sorted(set(m) - MESSAGE_KEYS)
        if extra:
            problems.append(
                f"{where}: messages[{i}] ({m['role']}): unknown key(s) {extra}; a message holds only "
                "'role' and 'content'"
            )
        if not isinstance(content, str) or not content.strip():
            problems.append(f"{where}: messages[{i}] ({m['role']}): content must be a non-empty string")
        elif any(ord(c) < 32 and c not in "\t\n\r" for c in content):
            bad = next(c for c in content if ord(c) < 32 and c not in "\t\n\r")
            problems.append(f"{where}: messages[{i}] ({m['role']}): control character U+{ord(bad):04X} in content")
        elif any(0xD800 <= ord(c) <= 0xDFFF for c in content):
            problems.append(
                f"{where}: messages[{i}] ({m['role']}): a lone UTF-16 surrogate (\\ud8xx escape) in "
                "content is not text; fix the escape"
            )
    return (messages if not problems else None), problems


def check_file(path: str | Path, split: str) -> FileCheck:
    """Steps 1-4 for one file: parse lines, roles, the contract, citation integrity, category."""
    path = Path(path)
    check = FileCheck(str(path), split)
    if not path.is_file():
        check.errors.append(f"{path}: file not found (on a fresh clone run `dvc pull`, see README)")
        return check
    for n, text in _decode_lines(path, check):
        where = f"{path}:{n}"
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            check.errors.append(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        except RecursionError:
            check.errors.append(f"{where}: JSON nests too deeply to read")
            continue
        messages, problems = _check_messages(where, record)
        check.errors.extend(problems)
        if messages is None:
            continue
        answer = parse_answer(messages[-1]["content"])
        if answer.status == "invalid_json":
            check.errors.append(
                f"{where}: assistant message: {answer.errors[0]}; it must be a kwanzaa.answer.v1 JSON document"
            )
            continue
        if answer.status == "contract_violation":
            check.errors.extend(f"{where}: assistant {e}" for e in answer.errors)
            continue
        user = messages[-2]["content"]
        docs = parse_documents(user)
        numbers = set(range(1, len(docs) + 1))  # document i of the prompt is its [i]
        citations = extract_citations(answer.answer.answer.text)
        missing = sorted(set(citations) - numbers)
        if missing:
            have = f"documents {sorted(numbers)}" if numbers else "no documents"
            check.errors.append(
                f"{where}: answer.text cites {', '.join(f'[{m}]' for m in missing)} "
                f"but the user message retrieved {have}"
            )
        urls = {d.url for d in docs}
        for i, src in enumerate(answer.answer.sources):
            if src.canonical_url not in urls:
                check.errors.append(
                    f"{where}: sources[{i}].canonical_url {src.canonical_url!r} "
                    "is not the URL of any retrieved document"
                )
        if missing or any(s.canonical_url not in urls for s in answer.answer.sources):
            continue
        check.warnings.extend(f"{where}: {d}" for d in answer.deviations)
        if len(answer.answer.sources) != len(set(citations)):
            check.warnings.append(
                f"{where}: {len(answer.answer.sources)} sources listed "
                f"but {len(set(citations))} distinct documents cited"
            )
        absent = [k for k in ("toggles", "integrity") if k not in answer.data]
        if absent:
            check.warnings.append(f"{where}: optional field(s) missing: {', '.join(absent)}")
        category = categorize(answer, citations)
        if category == "refusal" and citations:
            check.refusals_citing_context += 1
        check.samples.append(
            Sample(split, str(path), n, messages, answer, docs, parse_query(user), category, citations)
        )
    if not check.samples and not check.errors:
        check.errors.append(f"{path}: no samples (the file is empty)")
    return check


def check_leakage(train: list[Sample], held: list[Sample]) -> tuple[list[str], list[str], int]:
    """(errors, warnings, duplicates within splits). A prompt in both splits is an error, compared as a reader
    compares them (:func:`contract.normalise.comparable`: case, spacing, zero-width and compatibility characters
    ignored); the same query with different documents or persona is a warning."""
    errors, warnings = [], []
    train_prompts = {s.leak_key: s for s in train}
    train_queries = defaultdict(list)
    for s in train:
        if s.query:
            train_queries[comparable(s.query)].append(s)
    for s in held:
        if s.leak_key in train_prompts:
            other = train_prompts[s.leak_key]
            how = "" if s.prompt_key == other.prompt_key else " once case, spacing and invisible characters are ignored"
            errors.append(f"{s.where}: identical prompt to {other.where}{how} (train/eval leakage)")
        elif s.query and comparable(s.query) in train_queries:
            other = train_queries[comparable(s.query)][0]
            warnings.append(f"{s.where}: same query as {other.where} with different documents or persona")
    duplicates = 0
    for split in (train, held):
        seen: dict[str, Sample] = {}
        for s in split:
            if s.leak_key in seen:
                duplicates += 1
                warnings.append(f"{s.where}: duplicate of {seen[s.leak_key].where}")
            else:
                seen[s.leak_key] = s
    return errors, warnings, duplicates
