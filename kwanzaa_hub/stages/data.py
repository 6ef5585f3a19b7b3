"""The ``data`` stage: validate every sample against the contract, measure tokens, check leakage,
write the prepared dataset and ``reports/data.json``.

With ``data.distractors`` > 0 the training prompts also get documents of other training samples, the answers
renumbered to match (:mod:`kwanzaa_hub.contract.distractors`); the report's ``distractors`` says what they held.

Errors (a line that cannot be used) are collected across both files and raised together as
``DataValidationError``: nothing is written. Warnings (quality issues that don't block training) go
into the report and the on-screen summary.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.base_model import check_declared
from kwanzaa_hub.config.params import DEFAULT_CHAT_DATE, Params
from kwanzaa_hub.contract import distractors as distractor_docs
from kwanzaa_hub.contract.answer import CATEGORIES, extract_citations, parse_answer
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


def _documents_per_prompt(counts: list[int]) -> dict[str, Any]:
    return {
        "mean": round(sum(counts) / len(counts), 3) if counts else 0.0,
        "prompts": {str(n): c for n, c in sorted(Counter(counts).items())},
    }


@dataclass
class Distractors:
    """What ``data.distractors`` did to the training prompts: the samples as written, by id, and each rewrite."""

    k: int
    originals: dict[str, Sample]
    mappings: dict[str, distractor_docs.Mapping]
    pool_documents: int
    shared_with_eval: int

    def report(self, kept: list[Sample], over: list[str]) -> dict[str, Any]:
        """The data report's ``distractors``: per training prompt kept, its documents as written and as trained,
        the distractors added, the answers renumbered, and the samples that only overflow with distractors."""
        hit = [self.mappings[s.id] for s in kept if s.id in self.mappings]
        return {
            "per_prompt": self.k,
            "added": sum(len(m.distractors) for m in hit),
            "documents_per_prompt": {
                "as_written": _documents_per_prompt([len(self.originals[s.id].documents) for s in kept]),
                "trained": _documents_per_prompt([len(s.documents) for s in kept]),
            },
            "answers_renumbered": sum(m.renumbered for m in hit),
            "top_k_raised": sum(m.top_k_raised for m in hit),
            "pool_documents": self.pool_documents,
            "pool_documents_in_eval": self.shared_with_eval,
            "over_max_length": {"count": len(over), "samples": over},
        }


def training_distractors(train: list[Sample], held: list[Sample], k: int) -> tuple[list[Sample], Distractors]:
    """The training samples with ``k`` distractor documents each, drawn from the other training samples only
    (:func:`~kwanzaa_hub.contract.distractors.distractor_split`); the eval split is untouched, and how many pool
    documents it already holds is counted. ``k`` = 0 leaves every sample as written. Raises
    ``DataValidationError`` naming each sample whose answer cannot be renumbered."""
    messages = [s.messages for s in train]
    pool = distractor_docs.pool_of(messages)
    in_eval = {distractor_docs.document_key(p.document) for p in distractor_docs.pool_of([s.messages for s in held])}
    shared = sum(distractor_docs.document_key(p.document) in in_eval for p in pool)
    found = Distractors(k, {s.id: s for s in train}, {}, len(pool), shared)
    if k == 0:
        return train, found
    try:
        rewritten = distractor_docs.distractor_split(messages, k, ids=[s.where for s in train])
    except distractor_docs.Unrenumbered as exc:
        raise DataValidationError(
            [f"{line} (data.distractors {k} renumbers every answer)" for line in exc.problems]
            + ["fix these samples, or set data.distractors: 0"]
        ) from None
    out = []
    for s, (new, mapping) in zip(train, rewritten, strict=True):
        found.mappings[s.id] = mapping
        answer = parse_answer(new[-1]["content"])
        out.append(
            replace(
                s,
                messages=new,
                answer=answer,
                documents=distractor_docs.documents_of(new[-2]["content"]),
                citations=extract_citations(answer.answer.answer.text),
            )
        )
    return out, found


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
    checks[0].samples, distractors = training_distractors(checks[0].samples, checks[1].samples, p.distractors)

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(params.model.base, params.model.revision)
    all_samples = checks[0].samples + checks[1].samples
    written = [s.messages[-1]["content"] for s in all_samples]
    if p.answer_format == "compact":
        for s in all_samples:
            s.messages = [*s.messages[:-1], {"role": "assistant", "content": answer_schema.compact(s.answer.data)}]
    lengths = measure_lengths(all_samples, tokenizer, params.model.chat_date, progress)
    too_long = [s for s in all_samples if lengths[s.id].total > p.max_length]
    by_distractors = fit_without_distractors(too_long, distractors, tokenizer, params)
    if too_long and p.overflow == "error":
        longest = max(lengths[s.id].total for s in too_long)
        raise DataValidationError(
            [
                f"{s.where}: {lengths[s.id].total} tokens > data.max_length {p.max_length}"
                + (f" (it fits without its data.distractors {p.distractors})" if s.id in by_distractors else "")
                for s in too_long
            ]
            + [
                f"set data.max_length to at least {longest} to keep every sample, "
                "or data.overflow: drop to leave these out"
                + (f", or fewer data.distractors ({len(by_distractors)} fit without)" if by_distractors else "")
            ]
        )
    placeholders = [s for s in all_samples if s.placeholder]
    listed = [f"{s.where} ({s.placeholder})" for s in placeholders]
    if placeholders and p.placeholders == "error":
        raise DataValidationError(
            [f"{w}: answer.text is a template, not an answer" for w in listed]
            + ["write real answers for these samples, or set data.placeholders: drop, mask (or keep)"]
        )
    dropped = [
        f"{s.where} ({lengths[s.id].total} tokens{', with data.distractors' if s.id in by_distractors else ''})"
        for s in too_long
    ]
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
        "distractors": distractors.report(kept["train"], by_distractors),
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


def fit_without_distractors(
    too_long: list[Sample], distractors: Distractors, tokenizer: Any, params: Params
) -> list[str]:
    """Ids of the samples over ``data.max_length`` that fit as written, without their distractor documents (measured
    in the answer format they are trained in)."""
    from kwanzaa_hub.contract import decoding_schema as answer_schema

    out = []
    for s in too_long:
        if s.id not in distractors.mappings or not distractors.mappings[s.id].distractors:
            continue
        messages = distractors.originals[s.id].messages
        if params.data.answer_format == "compact":
            original = distractors.originals[s.id].answer.data
            messages = [*messages[:-1], {"role": "assistant", "content": answer_schema.compact(original)}]
        if chat.measure(tokenizer, messages, params.model.chat_date).total <= params.data.max_length:
            out.append(s.id)
    return out


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
