"""What the benchmark compares: overrides of params.yaml (variants of the one recipe), and the order they run in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Each variant: overrides of params.yaml (the seed is params.yaml itself, the baseline every ratio is against),
# keeping the samples per optimizer step. Order = priority when the budget runs out in round 1.
GC_OFF = {"train.gradient_checkpointing": False}
LIGER = {"train.kernels": "liger"}
B4X2 = {"train.per_device_batch_size": 4, "train.gradient_accumulation_steps": 2}
B8X1 = {"train.per_device_batch_size": 8, "train.gradient_accumulation_steps": 1}
VARIANTS: dict[str, dict[str, Any]] = {
    "seed": {},
    "gc_off": GC_OFF,
    "liger": LIGER,
    "batch_4x2": B4X2,
    "batch_8x1": B8X1,
    "liger_gc_off": {**LIGER, **GC_OFF},
    "gc_off_4x2": {**GC_OFF, **B4X2},
    "liger_gc_off_4x2": {**LIGER, **GC_OFF, **B4X2},
}


def variant_params(base: Any, overrides: dict[str, Any], model_dir: Path, max_steps: int) -> Any:
    """The recipe of one run: ``base`` params with the variant's overrides, on the saved random model; a fixed
    number of optimizer steps, each one logged."""
    from kwanzaa_hub.config.params import with_overrides

    run = {"model.base": str(model_dir), "train.max_steps": max_steps, "train.logging_steps": 1}
    return with_overrides(base, {**run, **overrides}, source="bench variant")


def samples_per_step(params: Any) -> int:
    """Samples per optimizer step: what every variant keeps."""
    return params.train.per_device_batch_size * params.train.gradient_accumulation_steps


def config_of(params: Any) -> dict[str, Any]:
    """What a variant changes, for the table."""
    t = params.train
    return {
        "batch": t.per_device_batch_size,
        "accum": t.gradient_accumulation_steps,
        "gc": t.gradient_checkpointing,
        "kernels": t.kernels,
    }


def schedule(names: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) pairs; each round starts one variant later so warm-up and drift favour none."""
    pairs = []
    for r in range(rounds):
        k = r % len(names)
        pairs += [(r, n) for n in names[k:] + names[:k]]
    return pairs
