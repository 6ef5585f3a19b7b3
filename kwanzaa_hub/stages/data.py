"""The ``data`` stage: validate every sample against the contract, measure tokens, check leakage,
write the prepared dataset and ``reports/data.json``.

Errors (a line that cannot be used) are collected across both files and raised together as
``DataValidationError``: nothing is written. Warnings (quality issues that don't block training) go
into the report and the on-screen summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.base_model import check_declared
from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE, Params
from kwanzaa_hub.contract.answer import CATEGORIES
from kwanzaa_hub.contract.placeholders import answer_text_span
from kwanzaa_hub.contract.samples import FileCheck, Sample, check_file, check_leakage
from kwanzaa_hub.errors import DataValidationError, InputError
from kwanzaa_hub.runtime import chat


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


def masked_spans(samples: list[Sample], policy: str) -> dict[str, tuple[int, int]] | None:
    """Under ``data.placeholders: mask``, the character span of each template ``answer.text`` in its prepared
    answer (:func:`~kwanzaa_hub.contract.placeholders.answer_text_span`), by sample id: the train stage takes the
    tokens over it out of the loss, and trains the rest of the answer. None under any other policy."""
    if policy != "mask":
        return None
    return {s.id: answer_text_span(s.messages[-1]["content"]) for s in samples if s.placeholder}


def to_records(
    samples: list[Sample],
    lengths: dict[str, chat.Lengths],
    chat_date: str,
    masked: dict[str, tuple[int, int]] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the prepared dataset: prompt/completion messages (so TRL masks the prompt), category,
    token counts and the pinned template kwargs; under ``data.placeholders: mask`` also the column
    ``chat.MASKED``: the ``[start, end)`` of the answer's characters kept out of the loss (``[]`` for none)."""
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
        if masked is not None:
            rows[-1][chat.MASKED] = list(masked.get(s.id, ()))
    return rows


def masked_report(
    samples: list[Sample],
    lengths: dict[str, chat.Lengths],
    masked: dict[str, tuple[int, int]],
    tokenizer: Any,
    chat_date: str,
) -> dict[str, int]:
    """Samples of one split whose template text is out of the loss, and how many of the split's answer tokens
    that takes out (:func:`~kwanzaa_hub.runtime.chat.tokens_over`, as the train stage masks them)."""
    hit = [s for s in samples if s.id in masked]
    return {
        "samples": len(hit),
        "answer_tokens": sum(len(chat.tokens_over(tokenizer, s.messages, chat_date, masked[s.id])) for s in hit),
        "of_answer_tokens": sum(lengths[s.id].answer for s in samples),
    }


def run(params: Params, *, tokenizer: Any = None, progress: Callable[[Iterable], Iterable] = iter) -> DataResult:
    """Validate both files, measure, check leakage, apply the overflow policy and write the outputs."""
    from datasets import Dataset, DatasetDict

    from kwanzaa_hub.contract import decoding_schema as answer_schema
    from kwanzaa_hub.fs.atomic import all_or_nothing, atomic_dir, atomic_write_json, atomic_write_text
    from kwanzaa_hub.fs.ownership import claim_all
    from kwanzaa_hub.runtime.models import load_tokenizer
    from kwanzaa_hub.runtime.progress import no_loading_bars

    check_declared(params.model.base, "data")  # a local base DVC does not follow stops here

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
            + ["write real answers for these samples, or set data.placeholders: drop, mask (or keep)"]
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
        done = {"drop": "dropped", "mask": "kept, the text out of the loss"}.get(p.placeholders, "kept")
        warnings += [
            f"{w}: answer.text is a template, not an answer ({done}; data.placeholders decides)" for w in listed
        ]
    masked = masked_spans(all_samples, p.placeholders)

    # training renders the text as it is, so a special-token string in a sample becomes a control token there
    special = {s.where: chat.special_texts_in(tokenizer, s.messages) for s in all_samples}
    special = {where: found for where, found in special.items() if found}
    warnings += [
        f"{where}: holds the text of special tokens {found}; training reads them as control tokens "
        "(eval and ask keep such text plain): remove them from the sample"
        for where, found in special.items()
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
            "prepared": sum(map(len, prepared_answers)),
        },
        "answers_rewritten": {  # the written text was parsed once already: each sample's answer.data
            "layout": sum(new != old for new, old in zip(prepared_answers, written, strict=True)),
            "fields": sum(
                json.loads(new) != s.answer.data for new, s in zip(prepared_answers, all_samples, strict=True)
            ),
        },
        "placeholders": {split: sum(s.split == split for s in placeholders) for split in ("train", "eval")},
        "placeholder_policy": p.placeholders,
        "special_token_text": sorted(special),
        "placeholder_samples": listed,
        "placeholders_masked": {
            split: masked_report(kept[split], lengths, masked or {}, tokenizer, params.model.chat_date)
            for split in ("train", "eval")
        },
        "warnings": len(warnings),
        "dropped_samples": dropped,
        "warning_list": warnings,
    }
    with all_or_nothing(p.prepared_dir, p.report, p.decoding_schema):
        with atomic_dir(p.prepared_dir, "data.prepared_dir") as tmp, no_loading_bars():  # a bar per split, for ms
            DatasetDict(
                {
                    split: Dataset.from_list(to_records(kept[split], lengths, params.model.chat_date, masked))
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
