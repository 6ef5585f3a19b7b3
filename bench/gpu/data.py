"""The team's data as numbers only: token lengths in, random token ids of those lengths out, padded in batches."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
LENGTHS_FILE = REPO / "bench" / "data" / "kwanzaa_lengths.json"
TINY_LENGTH_DIVISOR = 16  # tiny shape: every length / 16, so the CPU test takes seconds


def load_lengths(path: str | Path, shape: str) -> dict[str, Any]:
    """Train [total, answer] pairs and eval prompt lengths; divided by 16 for the tiny shape."""
    raw = json.loads(Path(path).read_text())
    if shape != "tiny":
        return raw

    def scale(total: int, answer: int) -> list[int]:
        t = max(4, total // TINY_LENGTH_DIVISOR)
        return [t, max(1, min(t - 2, answer // TINY_LENGTH_DIVISOR))]

    return {
        **raw,
        "train": [scale(*p) for p in raw["train"]],
        "eval": [scale(*p) for p in raw["eval"]],
        "eval_prompt": [max(2, n // TINY_LENGTH_DIVISOR) for n in raw["eval_prompt"]],
    }


def lengths_summary(lengths: dict[str, Any]) -> dict[str, Any]:
    totals = sorted(t for t, _ in lengths["train"])
    return {
        "tokenizer": lengths.get("tokenizer"),
        "train_samples": len(totals),
        "train_total_median": statistics.median(totals),
        "train_total_p90": totals[int(0.9 * (len(totals) - 1))],
        "train_total_max": totals[-1],
        "train_answer_share": round(sum(a for _, a in lengths["train"]) / sum(totals), 3),
        "eval_prompts": len(lengths["eval_prompt"]),
        "eval_prompt_max": max(lengths["eval_prompt"]),
    }


def random_ids(lengths: list[int], vocab: int, seed: int) -> list[list[int]]:
    """One row of random token ids per length, from one seeded generator. Ids start at 1: 0 is the pad id."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(1, vocab, (n,), generator=gen).tolist() for n in lengths]


def make_samples(pairs: list[list[int]], vocab: int, seed: int) -> list[dict[str, list[int]]]:
    """Random token ids of each total length; the loss is on the last ``answer`` tokens only (prompt = -100)."""
    rows = random_ids([total for total, _ in pairs], vocab, seed)
    return [
        {"input_ids": ids, "labels": [-100] * (total - answer) + ids[total - answer :]}
        for ids, (total, answer) in zip(rows, pairs, strict=True)
    ]


def pad_rows(rows: list[list[int]], value: int, *, left: bool = False) -> Any:
    """The rows as one tensor, padded with ``value`` to the longest row: on the right (training), or on the left
    (generation, as ``kwanzaa_hub.runtime.generate`` pads)."""
    import torch

    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        start = width - len(row) if left else 0
        out[i, start : start + len(row)] = torch.tensor(row, dtype=torch.long)
    return out


def attention_mask(rows: list[list[int]], *, left: bool = False) -> Any:
    """1 over each row's tokens, 0 over its padding (:func:`pad_rows` with the same side)."""
    return pad_rows([[1] * len(r) for r in rows], 0, left=left)


def pad_collate(features: list[dict[str, list[int]]]) -> dict[str, Any]:
    """Right padding to the longest row: input_ids 0, attention_mask 0, labels -100."""
    ids = [f["input_ids"] for f in features]
    return {
        "input_ids": pad_rows(ids, 0),
        "attention_mask": attention_mask(ids),
        "labels": pad_rows([f["labels"] for f in features], -100),
    }
