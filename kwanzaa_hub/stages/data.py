"""The ``data`` stage: validate every sample against the contract, measure tokens, check leakage,
write the prepared dataset and ``reports/data.json``.

Errors (a line that cannot be used) are collected across both files and raised together as
``DataValidationError``: nothing is written. Warnings (quality issues that don't block training) go
into the report and the on-screen summary.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE, Params
from kwanzaa_hub.contract.answer import (
    CATEGORIES,
    Document,
    ParsedAnswer,
    categorize,
    extract_citations,
    parse_answer,
    parse_documents,
    parse_query,
)
from kwanzaa_hub.contract.placeholders import placeholder_kind
from kwanzaa_hub.errors import DataValidationError, InputError
from kwanzaa_hub.runtime import chat

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
        numbers = {d.number for d in docs}
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
    """(errors, warnings, duplicates within splits). An identical prompt in both splits is an error; the
    same query with different documents or persona is a warning."""
    errors, warnings = [], []
    train_prompts = {s.prompt_key: s for s in train}
    train_queries = defaultdict(list)
    for s in train:
        if s.query:
            train_queries[s.query.casefold()].append(s)
    for s in held:
        if s.prompt_key in train_prompts:
            errors.append(f"{s.where}: identical prompt to {train_prompts[s.prompt_key].where} (train/eval leakage)")
        elif s.query and s.query.casefold() in train_queries:
            other = train_queries[s.query.casefold()][0]
            warnings.append(f"{s.where}: same query as {other.where} with different documents or persona")
    duplicates = 0
    for split in (train, held):
        seen: dict[str, Sample] = {}
        for s in split:
            if s.prompt_key in seen:
                duplicates += 1
                warnings.append(f"{s.where}: duplicate of {seen[s.prompt_key].where}")
            else:
                seen[s.prompt_key] = s
    return errors, warnings, duplicates


def _percentiles(values: list[int]) -> dict[str, int]:
    if not values:
        return {"min": 0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    v = sorted(values)

    def pct(q: float) -> int:
        return v[min(len(v) - 1, round(q * (len(v) - 1)))]

    return {"min": v[0], "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": v[-1]}


def measure_lengths(
    samples: list[Sample], tokenizer: Any, chat_date: str, progress: Callable[[Iterable], Iterable] = iter
) -> dict[str, chat.Lengths]:
    """Token lengths of every sample with the base model's chat template, date pinned."""
    return {s.id: chat.measure(tokenizer, s.messages, chat_date) for s in progress(samples)}


@dataclass
class DataResult:
    """What the data stage produced: the report (as written; dropped samples are listed in it) and the
    warnings."""

    report: dict[str, Any]
    warnings: list[str]


def split_report(samples: list[Sample], lengths: dict[str, chat.Lengths]) -> dict[str, Any]:
    totals = [lengths[s.id].total for s in samples]
    answer = sum(lengths[s.id].answer for s in samples)
    return {
        "samples": len(samples),
        "categories": {c: sum(s.category == c for s in samples) for c in CATEGORIES},
        "tokens": _percentiles(totals),
        "tokens_total": sum(totals),
        "answer_token_share": round(answer / sum(totals), 4) if totals else 0.0,
    }


def to_records(samples: list[Sample], lengths: dict[str, chat.Lengths], chat_date: str) -> list[dict[str, Any]]:
    """Rows of the prepared dataset: prompt/completion messages (so TRL masks the prompt), category,
    token counts and the pinned template kwargs."""
    rows = []
    for s in samples:
        prompt, completion = chat.split_prompt_completion(s.messages)
        rows.append(
            {
                "id": s.id,
                "prompt": prompt,
                "completion": completion,
                "category": s.category,
                "n_tokens": lengths[s.id].total,
                "n_answer_tokens": lengths[s.id].answer,
                "chat_template_kwargs": chat.template_kwargs(chat_date),
            }
        )
    return rows


def run(params: Params, *, tokenizer: Any = None, progress: Callable[[Iterable], Iterable] = iter) -> DataResult:
    """Validate both files, measure, check leakage, apply the overflow policy and write the outputs."""
    from datasets import Dataset, DatasetDict

    from kwanzaa_hub.contract import decoding_schema as answer_schema
    from kwanzaa_hub.fs.atomic import all_or_nothing, atomic_dir, atomic_write_json, atomic_write_text
    from kwanzaa_hub.fs.ownership import claim_all
    from kwanzaa_hub.runtime.models import load_tokenizer

    p = params.data
    claim_all(params.outputs("data"))
    checks = [check_file(p.train_file, "train"), check_file(p.eval_file, "eval")]
    errors = [e for c in checks for e in c.errors]
    leak_errors, leak_warnings, duplicates = check_leakage(checks[0].samples, checks[1].samples)
    errors += leak_errors
    if errors:
        raise DataValidationError(errors)

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(params.model.base, params.model.revision)
    all_samples = checks[0].samples + checks[1].samples
    written = [s.messages[-1]["content"] for s in all_samples]
    if p.answer_format == "compact":
        for s in all_samples:
            s.messages = [*s.messages[:-1], {"role": "assistant", "content": answer_schema.compact(s.answer.data)}]
    lengths = measure_lengths(all_samples, tokenizer, params.model.chat_date, progress)
    too_long = [s for s in all_samples if lengths[s.id].total > p.max_length]
    if too_long and p.overflow == "error":
        longest = max(lengths[s.id].total for s in too_long)
        raise DataValidationError(
            [f"{s.where}: {lengths[s.id].total} tokens > data.max_length {p.max_length}" for s in too_long]
            + [
                f"set data.max_length to at least {longest} to keep every sample, "
                "or data.overflow: drop to leave these out"
            ]
        )
    placeholders = [s for s in all_samples if s.placeholder]
    listed = [f"{s.where} ({s.placeholder})" for s in placeholders]
    if placeholders and p.placeholders == "error":
        raise DataValidationError(
            [f"{w}: answer.text is a template, not an answer" for w in listed]
            + ["write real answers for these samples, or set data.placeholders: drop (or keep)"]
        )
    dropped = [f"{s.where} ({lengths[s.id].total} tokens)" for s in too_long]
    removed = set(map(id, too_long)) | (set(map(id, placeholders)) if p.placeholders == "drop" else set())
    if p.placeholders == "drop":
        dropped += [f"{w}: placeholder answer" for w in listed]
    kept = {
        split: [s for s in c.samples if id(s) not in removed]
        for split, c in zip(("train", "eval"), checks, strict=False)
    }
    if not kept["train"] or not kept["eval"]:
        raise InputError(
            f"dropping samples (data.overflow / data.placeholders: drop) leaves no "
            f"{'train' if not kept['train'] else 'eval'} samples"
        )

    warnings = [w for c in checks for w in c.warnings] + leak_warnings
    if placeholders:
        warnings += [
            f"{w}: answer.text is a template, not an answer ({'dropped' if p.placeholders == 'drop' else 'kept'}; "
            "data.placeholders decides)"
            for w in listed
        ]
    prepared_answers = [s.messages[-1]["content"] for s in all_samples]
    kept_answers = [s.messages[-1]["content"] for split in ("train", "eval") for s in kept[split]]
    schema = answer_schema.from_answers(kept_answers, margin=p.schema_margin)
    report = {
        "train": split_report(kept["train"], lengths),
        "eval": split_report(kept["eval"], lengths),
        "max_length": p.max_length,
        "overflow": len(too_long),
        "duplicates": duplicates,
        "refusals_citing_context": sum(c.refusals_citing_context for c in checks),
        "answer_format": p.answer_format,
        "answer_chars": {
            "as_written": sum(map(len, written)),
            "prepared": sum(len(s.messages[-1]["content"]) for s in all_samples),
        },
        "answers_rewritten": {
            "layout": sum(new != old for new, old in zip(prepared_answers, written, strict=True)),
            "fields": sum(
                json.loads(new) != json.loads(old) for new, old in zip(prepared_answers, written, strict=True)
            ),
        },
        "placeholders": {split: sum(s.split == split for s in placeholders) for split in ("train", "eval")},
        "placeholder_policy": p.placeholders,
        "placeholder_samples": listed,
        "warnings": len(warnings),
        "dropped_samples": dropped,
        "warning_list": warnings,
    }
    with all_or_nothing(p.prepared_dir, p.report, p.decoding_schema):
        with atomic_dir(p.prepared_dir, "data.prepared_dir") as tmp:
            DatasetDict(
                {
                    split: Dataset.from_list(to_records(kept[split], lengths, params.model.chat_date))
                    for split in ("train", "eval")
                }
            ).save_to_disk(str(tmp))
        atomic_write_json(p.report, report)
        atomic_write_text(p.decoding_schema, answer_schema.schema_text(schema))
    return DataResult(report, warnings)


def validate(
    paths: list[str], *, tokenizer: Any = None, chat_date: str = DEFAULT_CHAT_DATE, max_length: int | None = None
) -> list[tuple[FileCheck, dict | None]]:
    """Steps 1-3 (and 5 with a tokenizer) for ad-hoc checks; no outputs are written. With a tokenizer,
    the stats hold the split report plus ``over_max_length``, the samples longer than ``max_length``."""
    results = []
    for path in paths:
        check = check_file(path, Path(path).stem)
        stats = None
        if tokenizer is not None and check.samples:
            lengths = measure_lengths(check.samples, tokenizer, chat_date)
            stats = split_report(check.samples, lengths)
            if max_length is not None:
                stats["over_max_length"] = sum(v.total > max_length for v in lengths.values())
        results.append((check, stats))
    return results
