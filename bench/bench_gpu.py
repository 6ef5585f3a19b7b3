"""GPU benchmark: the team's T4 recipe on a Llama-3.2-1B-shaped model, run once on a lent H100/H200.

What it measures, in this order (all in one process, one JSON):

1. **Eval generation** (first, so a timeout never loses it): a random Llama-3.2-1B-shaped model in fp16 without
   quantization (as the eval stage loads it), the 27 eval prompt lengths as random-token prompts, greedy,
   ``--max-new-tokens`` (64) each, no end-of-sequence token so every row generates them all. One prompt at a
   time vs batched (8, and all 27 in one batch; prompts sorted by length and left-padded like
   ``kwanzaa_hub/runtime/generate.py``). Generated tokens/s, speedup, and how many of the 27 token sequences equal the
   one-at-a-time ones (a random fp16 model has near-ties that batching may flip; counted, not hidden).
2. **QLoRA training throughput of the project's recipe**, in **T4 mode forced on the big GPU**. One recipe: the
   params come from ``params.yaml`` (``--params``), and the plan, model, quantization, LoRA and training arguments
   from the train stage's own functions (``qlora.training_plan`` for a Tesla T4 (sm_75): fp16 AMP, fp16 4-bit
   compute dtype, paged_adamw_8bit, SDPA, tf32 off; ``qlora.model_for_lora``, ``qlora.lora_config``,
   ``qlora.sft_config``). What a T4 lacks is switched off in ``torch.backends`` too: tf32, and SDPA's
   FlashAttention and cuDNN kernels (sm_80+), so attention runs the kernels a T4 runs (eval generation included).
   The model is saved once and loaded back per run as ``model.base``; LoRA is re-seeded with ``train.seed`` so
   every run starts from the same weights. ``transformers.Trainer`` (with the stage's ``SFTConfig``) trains on
   synthetic samples whose total and answer lengths are the team's data's (``bench/data/kwanzaa_lengths.json``:
   random token ids, loss only on the answer tokens), padded on the right. Each variant in ``VARIANTS`` is an
   override of params (one change, or the winners combined); all variants see the same samples in the same order
   (same seed and data_seed; one optimizer step is the same samples in every variant), so their losses and
   per-step token counts must match the seed recipe's. Each run records the recipe it trained with (``recipe``:
   read back from the trainer and the PEFT model). Train tokens/s = non-padding tokens
   / time of the measured optimizer steps; step 1 is warm-up (CUDA/Triton compilation) and not counted. Rounds
   rotate the variant order; medians are reported.
3. **Worst-case memory for a T4** (round 1 only: it is deterministic): per variant, one optimizer step whose
   samples are all the longest sample of the data (2802 tokens: any batch holding it is padded to that length),
   peak ``max_memory_allocated`` / ``max_memory_reserved``. ``fits_t4`` is peak reserved <= ``--t4-limit-gib``
   (13.5 GiB: a T4 has 15.0 GiB, minus the CUDA context and a fragmentation margin). This is what a
   ``train.gradient_checkpointing: auto`` rule needs: which variants fit the longest sample on a T4.

Device command (the lent machine has no network; the two wheels travel in the ignored ``.whl/`` folder)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl && export PYTHONPATH=/tmp/site || exit; \
        PYTHONUNBUFFERED=1 python3 bench/bench_gpu.py --out $OUT/gpu.json --budget-s 400

Budget: ``--budget-s`` counts from the start of the script. Eval generation runs first (~1 minute); training
runs start only while the time left covers the longest run so far, and a run past the budget stops after its
current step. The JSON (and a ``.md`` table next to it) is rewritten after every run, so a kill still leaves
everything measured so far.

How to read ``gpu.json``: ``variants.<name>.median_tokens_per_s`` and ``ratio_vs_seed`` (throughput vs the seed:
params.yaml as it is); ``peak_reserved_gib`` (typical steps) and ``worst_case.fits_t4``
(longest sample); ``loss_max_rel_diff_vs_seed`` and ``same_samples_as_seed`` (the variant trains the same thing);
``errors`` (e.g. CUDA OOM or a Liger failure, the run continues); ``eval`` (generation speedups and
``identical_to_single``); ``gradient_checkpointing_auto`` (the variants that fit a T4 at the longest sample);
``backends`` (the T4-mode switches, and which SDPA kernels accept grouped-query attention without a mask: for an
unpadded row transformers asks SDPA for GQA, which PyTorch documents for the flash and math kernels only, so
without flash, as on a T4, such rows run math attention).

Caveats: H100/H200 speed ratios are not T4 ratios (a T4 has ~1/15 of the fp16 compute and memory bandwidth);
memory is the same model, dtypes and kernel family, so the memory figures carry over. Liger's Triton kernels
are compiled for this GPU's architecture: a Liger variant that runs here says nothing about sm_75, where Triton
no longer claims support; test it on a real T4 before any T4 default uses it.

CPU smoke test (what ``tests/test_bench_gpu.py`` runs; CPU plan: fp32, adamw_torch; Liger is skipped: the train
stage's plan refuses it without a GPU)::

    python bench/bench_gpu.py --shape tiny --rounds 1 --steps 2 --variants seed,batch_8x1 --max-new-tokens 8

This file is the command line and the order of the parts; the parts, one job each, are in ``bench/gpu/``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# The lent GPU machine has no network: never let a library wait on the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python3 bench/bench_gpu.py` with no install
    sys.path.insert(0, str(REPO))

from bench.gpu.data import LENGTHS_FILE, load_lengths, make_samples  # noqa: E402
from bench.gpu.generation import eval_part  # noqa: E402
from bench.gpu.machine import bench_facts, error_text, sdpa_gqa_probe, t4_backends, timed  # noqa: E402
from bench.gpu.models import SHAPE_OF_ARG, SHAPES  # noqa: E402
from bench.gpu.report import initial_results, markdown, write  # noqa: E402
from bench.gpu.train import train_part  # noqa: E402
from bench.gpu.variants import VARIANTS  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=str(REPO / "bench/results/gpu.json"), help="result JSON (a .md table beside it)")
    ap.add_argument(
        "--budget-s",
        type=float,
        default=400.0,
        help="no new run starts past this many seconds from the start (eval runs first)",
    )
    ap.add_argument("--steps", type=int, default=4, help="measured optimizer steps per run, after 1 warm-up step")
    ap.add_argument("--rounds", type=int, default=2, help="each variant runs once per round, order rotated")
    ap.add_argument(
        "--variants", default="", help=f"comma-separated subset (keep seed for the ratios) of: {', '.join(VARIANTS)}"
    )
    ap.add_argument(
        "--shape",
        choices=list(SHAPE_OF_ARG),
        default="real",
        help="real: Llama-3.2-1B shape; tiny: a CPU smoke test (lengths / 16)",
    )
    ap.add_argument(
        "--plan",
        choices=["t4", "detected"],
        default="t4",
        help="t4: the plan for a Tesla T4 forced on the CUDA GPU; detected: this machine's plan",
    )
    ap.add_argument("--max-new-tokens", type=int, default=64, help="eval generation: new tokens per prompt")
    ap.add_argument("--eval-batch", type=int, default=8, help="eval generation: the batched run's batch size")
    ap.add_argument("--skip-eval", action="store_true", help="no eval generation part")
    ap.add_argument("--t4-limit-gib", type=float, default=13.5, help="fits_t4: peak reserved at most this")
    ap.add_argument("--lengths", default=str(LENGTHS_FILE), help="token lengths of the data")
    ap.add_argument("--params", default=str(REPO / "params.yaml"), help="the recipe the variants override")
    args = ap.parse_args(argv)
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()] or list(VARIANTS)
    unknown = [v for v in chosen if v not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {unknown}; known: {list(VARIANTS)}")
    args.variant_names = chosen
    return args


def on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds to main(), which writes what it has


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    import torch
    from transformers.utils import logging as hf_logging

    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import qlora

    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5.x renames; noise in the log
    hf_logging.disable_progress_bar()
    if args.shape == "tiny":  # a tiny model gains nothing from threads, and on a busy CPU they spin ~100x slower
        torch.set_num_threads(1)
    out = Path(args.out)

    # the recipe, the hardware it is planned for, the model's shape and the data's lengths
    params = load_params(args.params)
    facts = bench_facts(args.plan)
    plan = qlora.training_plan(params, facts)
    shape = SHAPES[SHAPE_OF_ARG[args.shape]]
    lengths = load_lengths(args.lengths, args.shape)
    results = initial_results(args, params, facts, plan, lengths, shape)
    if plan.device == "cuda" and args.plan == "t4":
        results["backends"] = t4_backends()
        try:
            results["backends"].update(sdpa_gqa_probe(shape, max(t for t, _ in lengths["train"])))
        except Exception as exc:
            results["backends"]["gqa_probe_error"] = error_text(exc)
    results["wall_s"]["imports"] = round(time.perf_counter() - started, 1)
    device = "cuda" if plan.device == "cuda" else "cpu"
    print(
        f"bench_gpu: {results['device'].get('name')}; plan {plan.hardware}, {plan.precision}, {plan.optim}, "
        f"{plan.attention}; variants {', '.join(args.variant_names)}; budget {args.budget_s:.0f} s",
        flush=True,
    )
    dtype = torch.float16 if device == "cuda" else getattr(torch, plan.compute_dtype)
    tmp = tempfile.mkdtemp(prefix="bench-gpu-")
    model_dir = Path(tmp) / "model"
    steps_total, per_step = args.steps + 1, results["settings"]["samples_per_step"]
    if steps_total * per_step > len(lengths["train"]):
        print(
            f"warning: {steps_total} steps x {per_step} samples > {len(lengths['train'])} samples: later steps start a "
            "second epoch, where batch variants no longer see the same samples per step",
            flush=True,
        )
    try:
        # eval generation first, so a timeout never loses it; it also saves the model the training runs load
        eval_part(args, shape, dtype, device, lengths, model_dir, results)
        write(results, out)
        ev = results["eval"] or {}
        speeds = {k: v["tokens_per_s"] for k, v in ev.items() if isinstance(v, dict) and "tokens_per_s" in v}
        print(f"[{time.perf_counter() - started:6.1f} s] eval done: {json.dumps(speeds)}", flush=True)

        # training: every variant the budget allows, rounds rotated
        samples = make_samples(lengths["train"], shape["vocab_size"], seed=params.train.seed)
        ctx = {
            "params": params,
            "facts": facts,
            "model_dir": model_dir,
            "samples": samples,
            "longest": max(samples, key=lambda s: len(s["input_ids"])),
            "steps": args.steps,
            "tmp": tmp,
            "deadline": started + args.budget_s,
            "t4_limit": args.t4_limit_gib,
        }
        with timed(results["wall_s"], "train"):
            train_part(args, ctx, results, out, started)
        results["complete"] = not results["stopped_by_budget"]
    except KeyboardInterrupt as exc:
        results["interrupted"] = str(exc) or "KeyboardInterrupt"
    except Exception as exc:
        results["fatal"] = error_text(exc)
        print(results["fatal"], file=sys.stderr)
    finally:
        results["wall_s"]["total"] = round(time.perf_counter() - started, 1)
        write(results, out)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    print(markdown(results))
    print(f"\nwrote {out} ({results['wall_s']['total']} s)")
    return 1 if "fatal" in results else 0


if __name__ == "__main__":
    sys.exit(main())
