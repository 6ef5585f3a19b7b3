"""Training throughput: the seed's recipe against batching choices, same model, data and steps, one run.

Seed recipe: per-device batch 1 x accumulation 8, gradient checkpointing on. Variants change one thing at
a time so each row says what that change bought. Train tokens/s counts non-padding input tokens.

    python bench/bench_train.py [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kwanzaa_hub import data as data_stage, example_data
from kwanzaa_hub.hardware import detect, plan
from kwanzaa_hub.params import parse_params
from kwanzaa_hub.tiny import build_tiny_llama
from kwanzaa_hub.train import build_trainer

VARIANTS = {
    "seed recipe (batch 1 x accum 8, grad checkpointing)": {"per_device_batch_size": 1, "gradient_accumulation_steps": 8, "gradient_checkpointing": True},
    "no gradient checkpointing": {"per_device_batch_size": 1, "gradient_accumulation_steps": 8, "gradient_checkpointing": False},
    "batch 8 x accum 1, no gradient checkpointing": {"per_device_batch_size": 8, "gradient_accumulation_steps": 1, "gradient_checkpointing": False},
    # run again last: tells how much warm-up or order moved the first row
    "seed recipe, repeated": {"per_device_batch_size": 1, "gradient_accumulation_steps": 8, "gradient_checkpointing": True},
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp())
    os.chdir(work)
    base = build_tiny_llama(work / "base", hidden_size=256, layers=4)
    example_data.write(work / "data/raw")
    facts = detect()
    results = {}
    for i, (name, knobs) in enumerate(VARIANTS.items()):
        params = parse_params({"model": {"base": str(base)},
                               "train": {"max_steps": args.steps, "save_steps": 10_000, "checkpoint_dir": f"ckpt{i}", **knobs}})
        if i == 0:
            data_stage.run(params)
        trainer = build_trainer(params, plan(facts, quantize=True))
        start = time.perf_counter()
        trainer.train()
        secs = time.perf_counter() - start
        results[name] = round(trainer.state.num_input_tokens_seen / secs, 1)
    baseline = next(iter(results.values()))
    print(json.dumps({
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "model": "random Llama hidden 256, 4 layers, 4-bit nf4 + LoRA r16", "optimizer_steps": args.steps,
        "train_tokens_per_s": results, "ratio_vs_seed": {k: round(v / baseline, 2) for k, v in results.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
