"""Training throughput: the seed's recipe against batching choices, same model, data and steps, one run.

Seed recipe: per-device batch 1 x accumulation 8, gradient checkpointing on. Variants change one thing at
a time so each row says what that change bought. Train tokens/s counts non-padding input tokens. Every
variant runs once per round (order rotated), and the median of the rounds is reported.

    python bench/bench_train.py [--steps 6] [--rounds 3] [--hidden 256 --layers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.devtools import example_data
from kwanzaa_hub.devtools.tiny import build_tiny_llama
from kwanzaa_hub.runtime.hardware import detect, plan
from kwanzaa_hub.runtime.qlora import build_trainer
from kwanzaa_hub.stages import data as data_stage

SEED = {"per_device_batch_size": 1, "gradient_accumulation_steps": 8, "gradient_checkpointing": True}
VARIANTS = {
    "seed recipe (batch 1 x accum 8, grad checkpointing)": SEED,
    "no gradient checkpointing": {**SEED, "gradient_checkpointing": False},
    "batch 8 x accum 1, padded, no checkpointing": {
        "per_device_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "gradient_checkpointing": False,
    },
    "batch 8 x accum 1, padding-free, checkpointing": {
        "per_device_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "gradient_checkpointing": True,
        "padding_free": True,
    },
    "batch 8 x accum 1, padding-free, no checkpointing": {
        "per_device_batch_size": 8,
        "gradient_accumulation_steps": 1,
        "gradient_checkpointing": False,
        "padding_free": True,
    },
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3, help="each variant runs once per round; the median is kept")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    os.chdir(work)
    base = build_tiny_llama(work / "base", hidden_size=args.hidden, layers=args.layers)
    example_data.write(work / "data/raw")
    facts = detect()
    runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for r in range(args.rounds):
        # rotate the order each round so warm-up and drift do not favour one variant
        names = list(VARIANTS)[r % len(VARIANTS) :] + list(VARIANTS)[: r % len(VARIANTS)]
        for name in names:
            params = parse_params(
                {
                    "model": {"base": str(base)},
                    "train": {
                        "max_steps": args.steps,
                        "save_steps": 10_000,
                        "checkpoint_dir": f"ckpt-{r}-{len(runs[name])}",
                        **VARIANTS[name],
                    },
                }
            )
            if not Path("data/prepared").exists():
                data_stage.run(params)
            trainer = build_trainer(params, plan(facts, quantize=True))
            start = time.perf_counter()
            trainer.train()
            secs = time.perf_counter() - start
            runs[name].append(trainer.state.num_input_tokens_seen / secs)
    results = {k: round(statistics.median(v), 1) for k, v in runs.items()}
    baseline = results[next(iter(VARIANTS))]
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                "model": f"random Llama hidden {args.hidden}, {args.layers} layers, 4-bit nf4 + LoRA r16",
                "optimizer_steps": args.steps,
                "rounds": args.rounds,
                "train_tokens_per_s_median": results,
                "all_runs": {k: [round(x, 1) for x in v] for k, v in runs.items()},
                "ratio_vs_seed": {k: round(v / baseline, 2) for k, v in results.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
