"""Eval generation: the random model greedy on random prompts of the eval prompts' lengths, one prompt at a time
against batched (prompts sorted longest first and left-padded, as ``kwanzaa_hub.runtime.generate`` does)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.gpu.data import attention_mask, pad_rows, random_ids
from bench.gpu.machine import error_text, free_memory, peak_gib, reset_peak, synced_now, timed
from bench.gpu.models import build_random_model

PROMPT_SEED = 1234


def generate_batches(model: Any, prompts: list[list[int]], batch_size: int, max_new: int) -> tuple[list, float, int]:
    """Greedy ids of each prompt (input order), seconds, and the fewest new tokens of any batch."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    outputs: list[list[int]] = [[] for _ in prompts]
    fewest = max_new
    start = synced_now()
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        rows = [prompts[i] for i in idx]
        ids, mask = pad_rows(rows, 0, left=True), attention_mask(rows, left=True)
        width = ids.shape[1]
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new,
                do_sample=False,
                eos_token_id=None,
                pad_token_id=0,
            )
        fewest = min(fewest, out.shape[1] - width)
        for row, i in zip(out[:, width:].tolist(), idx, strict=False):
            outputs[i] = row
    return outputs, synced_now() - start, fewest


def speed(out: list[list[int]], seconds: float, fewest: int) -> dict[str, Any]:
    """What one generation run wrote, and how fast."""
    new = sum(len(s) for s in out)
    return {
        "seconds": round(seconds, 3),
        "new_tokens": new,
        "tokens_per_s": round(new / seconds, 1),
        "fewest_new_tokens": fewest,
    }


def first_divergences(out: list[list[int]], single: list[list[int]]) -> list[int | None]:
    """For each sequence that differs from its one-at-a-time one: the first position where they differ."""
    return [
        next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
        for a, b in zip(out, single, strict=False)
        if a != b
    ]


def run_eval(model: Any, prompt_lengths: list[int], vocab: int, max_new: int, batch: int) -> dict[str, Any]:
    """One prompt at a time vs batched (``batch`` and all prompts at once)."""
    prompts = random_ids(prompt_lengths, vocab, seed=PROMPT_SEED)
    generate_batches(model, prompts[:1], 1, 2)  # warm-up: CUDA kernels and allocator
    result: dict[str, Any] = {
        "prompts": len(prompts),
        "max_new_tokens": max_new,
        "prompt_tokens": {"min": min(prompt_lengths), "max": max(prompt_lengths)},
    }
    single, secs, fewest = generate_batches(model, prompts, 1, max_new)
    result["batch_1"] = speed(single, secs, fewest)
    for size in dict.fromkeys([batch, len(prompts)]):
        reset_peak()
        out, secs, fewest = generate_batches(model, prompts, size, max_new)
        tps = sum(len(s) for s in out) / secs
        result[f"batch_{size}"] = {
            **speed(out, secs, fewest),
            "speedup_vs_batch_1": round(tps / result["batch_1"]["tokens_per_s"], 2),
            "identical_to_single": sum(a == b for a, b in zip(out, single, strict=False)),
            "first_divergence_at": first_divergences(out, single),
            **peak_gib(),
        }
    return result


def eval_part(
    args: argparse.Namespace, shape: dict, dtype: Any, device: str, lengths: dict, model_dir: Path, results: dict
) -> None:
    """Build the random model, save it for the training runs, and time eval generation with it."""
    wall = results["wall_s"]
    with timed(wall, "build_model"):
        model = build_random_model(shape, dtype, device)
    with timed(wall, "save_model"):
        model.save_pretrained(model_dir)
    if args.skip_eval:
        results["eval"] = {"skipped": "--skip-eval"}
    else:
        with timed(wall, "eval"):
            try:
                measured = run_eval(
                    model, lengths["eval_prompt"], shape["vocab_size"], args.max_new_tokens, args.eval_batch
                )
                results["eval"] = {"dtype": str(dtype).replace("torch.", ""), "quantized": False, **measured}
            except Exception as exc:
                results["eval"] = {"error": error_text(exc)}
    del model
    free_memory()
