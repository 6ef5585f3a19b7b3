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
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

# The lent GPU machine has no network: never let a library wait on the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python3 bench/bench_gpu.py` with no install
    sys.path.insert(0, str(REPO))

LENGTHS_FILE = REPO / "bench" / "data" / "kwanzaa_lengths.json"

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

# meta-llama/Llama-3.2-1B-Instruct's architecture; "tiny" is for the CPU test.
SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": {
        "vocab_size": 128256,
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "rope_parameters": {
            "rope_type": "llama3",
            "rope_theta": 500000.0,
            "factor": 32.0,
            "high_freq_factor": 4.0,
            "low_freq_factor": 1.0,
            "original_max_position_embeddings": 8192,
        },
        "bos_token_id": 128000,
        "eos_token_id": 128009,
    },
    "tiny": {
        "vocab_size": 2048,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0},
        "bos_token_id": 1,
        "eos_token_id": 2,
    },
}
TINY_LENGTH_DIVISOR = 16  # tiny shape: every length / 16, so the CPU test takes seconds

FIRST_RUN_ESTIMATE_S = 30.0  # load + 5 steps + worst-case step of the 1B model, before any run has been timed
LOSS_TOLERANCE = 5e-3  # relative; fp16 AMP on a GPU, exact order of samples


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
        choices=["real", "tiny"],
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


# ----------------------------------------------------------------------------------------------- data


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


def make_samples(pairs: list[list[int]], vocab: int, seed: int) -> list[dict[str, list[int]]]:
    """Random token ids of each total length; the loss is on the last ``answer`` tokens only (prompt = -100).
    Ids start at 1: 0 is the pad id."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    samples = []
    for total, answer in pairs:
        ids = torch.randint(1, vocab, (total,), generator=gen).tolist()
        samples.append({"input_ids": ids, "labels": [-100] * (total - answer) + ids[total - answer :]})
    return samples


def pad_collate(features: list[dict[str, list[int]]]) -> dict[str, Any]:
    """Right padding to the longest row: input_ids 0, attention_mask 0, labels -100."""
    import torch

    width = max(len(f["input_ids"]) for f in features)
    ids = torch.zeros(len(features), width, dtype=torch.long)
    mask = torch.zeros(len(features), width, dtype=torch.long)
    labels = torch.full((len(features), width), -100, dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(f["labels"])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


# ----------------------------------------------------------------------------------------- hardware


def bench_facts(mode: str) -> Any:
    """A Tesla T4 forced on a CUDA GPU (``--plan t4``), else this machine as detected (the CPU: fp32)."""
    from kwanzaa_hub.runtime import hardware

    facts = hardware.detect()
    if facts.device == "cuda" and mode == "t4":
        name = f"Tesla T4 (forced on {facts.name})"
        facts = hardware.HardwareFacts("cuda", name, (7, 5), 15.0, flash_attn=False, liger=facts.liger)
    return facts


def choose_plan(mode: str, params: Any) -> Any:
    """The train stage's plan for ``params`` on the hardware of ``mode``."""
    from kwanzaa_hub.runtime import qlora

    return qlora.training_plan(params, bench_facts(mode))


def variant_params(base: Any, overrides: dict[str, Any], model_dir: Path, max_steps: int) -> Any:
    """The recipe of one run: ``base`` params with the variant's overrides, on the saved random model; a fixed
    number of optimizer steps, each one logged."""
    from kwanzaa_hub.config.params import with_overrides

    run = {"model.base": str(model_dir), "train.max_steps": max_steps, "train.logging_steps": 1}
    return with_overrides(base, {**run, **overrides}, source="bench variant")


def config_of(params: Any) -> dict[str, Any]:
    """What a variant changes, for the table."""
    t = params.train
    return {
        "batch": t.per_device_batch_size,
        "accum": t.gradient_accumulation_steps,
        "gc": t.gradient_checkpointing,
        "kernels": t.kernels,
    }


def t4_backends() -> dict[str, bool]:
    """What a T4 (sm_75) lacks, switched off on the big GPU too: tf32, and the FlashAttention and cuDNN
    attention kernels of SDPA (both need sm_80+). A T4's SDPA runs the memory-efficient kernel, so the speed
    and memory measured here come from the same attention kernel family."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.enable_flash_sdp(False)
    if hasattr(torch.backends.cuda, "enable_cudnn_sdp"):
        torch.backends.cuda.enable_cudnn_sdp(False)
    cuda = torch.backends.cuda
    return {
        "cuda.matmul.allow_tf32": cuda.matmul.allow_tf32,
        "cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
        "flash_sdp": cuda.flash_sdp_enabled(),
        "mem_efficient_sdp": cuda.mem_efficient_sdp_enabled(),
        "cudnn_sdp": cuda.cudnn_sdp_enabled() if hasattr(cuda, "cudnn_sdp_enabled") else None,
        "math_sdp": cuda.math_sdp_enabled(),
    }


def sdpa_gqa_probe(shape: dict[str, Any], seq: int, device: str = "cuda") -> dict[str, str]:
    """Which SDPA kernels take grouped-query attention (32 query / 8 KV heads) with no mask, as transformers
    calls SDPA for an unpadded row (``enable_gqa=True``). PyTorch documents GQA for the flash and math kernels
    only: where flash is missing (a T4), an unpadded row would fall back to math attention (memory ~ seq^2)."""
    import torch
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    heads, kv, dim = shape["num_attention_heads"], shape["num_key_value_heads"], shape["head_dim"]
    q = torch.randn(1, heads, seq, dim, device=device, dtype=torch.float16)
    k = torch.randn(1, kv, seq, dim, device=device, dtype=torch.float16)
    result = {}
    for name, backend in (("efficient", SDPBackend.EFFICIENT_ATTENTION), ("math", SDPBackend.MATH)):
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q, k, k, is_causal=True, enable_gqa=True)
            result[f"gqa_no_mask_{name}"] = "ok"
        except Exception as exc:
            result[f"gqa_no_mask_{name}"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return result


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "liger_kernel", "triton"):
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def device_info() -> dict[str, Any]:
    import shutil

    import torch

    if not torch.cuda.is_available():
        return {"type": "cpu", "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
    p = torch.cuda.get_device_properties(0)
    return {
        "type": "cuda",
        "name": p.name,
        "capability": [p.major, p.minor],
        "memory_gib": round(p.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        # Triton (Liger) builds a small C launcher on first use: no compiler, no Liger
        "c_compiler": shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"),
    }


def free_memory() -> None:
    """Drop what the last run left. After a CUDA error the context may be broken: later runs then record
    their own errors instead of this one ending the script."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        except Exception as exc:
            print(f"warning: freeing GPU memory failed: {type(exc).__name__}: {exc}", flush=True)


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        try:
            torch.cuda.reset_peak_memory_stats()
        except Exception as exc:
            print(f"warning: resetting peak memory failed: {type(exc).__name__}: {exc}", flush=True)


def peak_gib() -> dict[str, float | None]:
    """Peak GPU memory since the last reset (None on CPU, or when a broken CUDA context cannot say)."""
    import torch

    if not torch.cuda.is_available():
        return {"peak_allocated_gib": None, "peak_reserved_gib": None}
    try:
        return {
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
        }
    except Exception:
        return {"peak_allocated_gib": None, "peak_reserved_gib": None}


def allocated_gib() -> float | None:
    import torch

    return round(torch.cuda.memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None


def synced_now() -> float:
    """Wall time after the GPU has finished what was queued (CUDA calls are asynchronous)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter()


def error_text(exc: BaseException) -> str:
    tail = traceback.format_exc(limit=-6)[-1500:]
    return f"{type(exc).__name__}: {str(exc)[:600]}\n{tail}"


# -------------------------------------------------------------------------------------------- model


def build_random_model(shape: dict[str, Any], dtype: Any, device: str) -> Any:
    """A random-weight Llama of that shape, built directly on the device (fixed seed)."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(hidden_act="silu", **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    # no end-of-sequence: every generated row runs to max_new_tokens, so token counts are exact
    model.generation_config.eos_token_id = None
    return model.eval()


def build_model(params: Any, plan: Any) -> Any:
    """The train stage's model for LoRA (4-bit per ``train.quantization``, k-bit prepared) with its LoRA config,
    re-seeded so every run starts from the same adapter weights."""
    import torch
    from peft import get_peft_model

    from kwanzaa_hub.runtime import qlora

    model = qlora.model_for_lora(params, plan)
    torch.manual_seed(params.train.seed)
    return get_peft_model(model, qlora.lora_config(params))


QUANT_KEYS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")


def recipe_used(trainer: Any) -> dict[str, Any]:
    """What a run trained with, read back from the trainer's arguments and the PEFT model (not from params)."""
    args, model = trainer.args, trainer.model
    lora = model.peft_config["default"]
    quant = getattr(model.config, "quantization_config", None)
    quant = quant.to_dict() if hasattr(quant, "to_dict") else quant
    return {
        "learning_rate": args.learning_rate,
        "lr_scheduler": str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)),
        "warmup": args.warmup_steps,
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "optim": str(getattr(args.optim, "value", args.optim)),
        "per_device_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "gradient_checkpointing": args.gradient_checkpointing,
        "use_liger_kernel": args.use_liger_kernel,
        "seed": args.seed,
        "lora": {
            "r": lora.r,
            "alpha": lora.lora_alpha,
            "dropout": lora.lora_dropout,
            "target_modules": sorted(lora.target_modules),
        },
        "quantization": None
        if not quant
        else {
            k: str(quant.get(k)) for k in ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")
        },
    }


# -------------------------------------------------------------------------------------------- train


def step_timer(deadline: float) -> Any:
    """A TrainerCallback recording each optimizer step's seconds and non-padding tokens; it stops training
    after the current step once ``deadline`` (perf_counter seconds) has passed."""
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.seconds: list[float] = []
            self.tokens: list[int] = []
            self.stopped_by_budget = False

        def on_train_begin(self, args, state, control, **kwargs):
            self.last, self.seen = synced_now(), int(state.num_input_tokens_seen or 0)

        def on_step_end(self, args, state, control, **kwargs):
            now, seen = synced_now(), int(state.num_input_tokens_seen or 0)
            self.seconds.append(now - self.last)
            self.tokens.append(seen - self.seen)
            self.last, self.seen = now, seen
            if now > deadline and state.global_step < state.max_steps:
                self.stopped_by_budget = control.should_training_stop = True

    return StepTimer()


def training_args(params: Any, plan: Any, out_dir: str) -> Any:
    """The train stage's ``SFTConfig`` for these params; the benchmark only writes elsewhere and saves nothing."""
    from kwanzaa_hub.runtime import qlora

    return qlora.sft_config(params, plan, output_dir=out_dir, save_strategy="no", disable_tqdm=True)


def make_trainer(model: Any, args: Any, samples: list[dict], callbacks: list) -> Any:
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    trainer = Trainer(model=model, args=args, train_dataset=samples, data_collator=pad_collate, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # one printed dict per step is noise here
    return trainer


def logged(trainer: Any, key: str) -> list[float]:
    """Per-step values of the log history (logging_steps=1); the final summary entry has train_loss instead."""
    return [round(float(h[key]), 6) for h in trainer.state.log_history if key in h]


def measure_run(trainer: Any, timer: Any) -> dict[str, Any]:
    """Train; tokens/s over the steps after the first (warm-up) one."""
    start = time.perf_counter()
    trainer.train()
    seconds, tokens = timer.seconds[1:], timer.tokens[1:]
    return {
        "tokens_per_s": round(sum(tokens) / sum(seconds), 1) if seconds and sum(seconds) > 0 else None,
        "measured_steps": len(seconds),
        "warmup_step_s": round(timer.seconds[0], 3) if timer.seconds else None,
        "step_s": [round(s, 4) for s in seconds],
        "step_tokens": timer.tokens,
        "losses": logged(trainer, "loss"),
        "grad_norms": logged(trainer, "grad_norm"),
        "train_s": round(time.perf_counter() - start, 2),
        "stopped_by_budget": timer.stopped_by_budget,
    }


def worst_case_step(model: Any, params: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """One optimizer step of copies of the longest sample on the already-prepared model: peak memory. Liger is
    already patched into this model instance, so the Trainer is not asked to patch it again."""
    from kwanzaa_hub.runtime import qlora

    free_memory()
    reset_peak()
    t = params.train
    per_step = t.per_device_batch_size * t.gradient_accumulation_steps
    longest = ctx["longest"]
    record: dict[str, Any] = {"total_tokens": len(longest["input_ids"]), "samples": per_step}
    trainer = None
    try:
        timer = step_timer(float("inf"))
        one = variant_params(params, {"train.kernels": "none"}, Path(params.model.base), 1)
        args = training_args(one, qlora.training_plan(one, ctx["facts"]), ctx["tmp"])
        trainer = make_trainer(model, args, [longest] * per_step, [timer])
        trainer.train()
        record["step_s"] = round(timer.seconds[0], 3) if timer.seconds else None
        record.update(peak_gib())
    except Exception as exc:
        record["error"] = error_text(exc)
        record.update(peak_gib())
    del trainer
    record["fits_t4"] = fits(record, "peak_reserved_gib", ctx["t4_limit"])
    record["fits_t4_by_allocated"] = fits(record, "peak_allocated_gib", ctx["t4_limit"])
    return record


def fits(record: dict[str, Any], key: str, limit_gib: float) -> bool | None:
    """True/False when measured; False on CUDA OOM (it did not even fit this GPU); None when unknown.
    Reserved is the cautious figure (the cache of a 141 GB GPU); allocated is what the tensors needed."""
    if "OutOfMemory" in record.get("error", ""):
        return False
    if "error" in record or record.get(key) is None:
        return None
    return record[key] <= limit_gib


def run_variant(name: str, overrides: dict[str, Any], ctx: dict[str, Any], *, with_worst_case: bool) -> dict[str, Any]:
    """Fresh load -> LoRA -> Trainer -> N+1 steps, then (round 1) the worst-case step. Errors are recorded."""
    from kwanzaa_hub.runtime import qlora

    free_memory()
    reset_peak()
    record: dict[str, Any] = {"start_allocated_gib": allocated_gib()}  # grows across runs = a leak
    model = trainer = params = None
    try:
        params = variant_params(ctx["params"], overrides, ctx["model_dir"], ctx["steps"] + 1)
        plan = qlora.training_plan(params, ctx["facts"])
        start = time.perf_counter()
        model = build_model(params, plan)
        record["load_s"] = round(time.perf_counter() - start, 2)
        timer = step_timer(ctx["deadline"])
        trainer = make_trainer(model, training_args(params, plan, ctx["tmp"]), ctx["samples"], [timer])
        record["recipe"] = recipe_used(trainer)
        record.update(measure_run(trainer, timer))
        record.update(peak_gib())
    except Exception as exc:
        record["error"] = error_text(exc)
        record.update(peak_gib())
    del trainer
    if with_worst_case and model is not None and "error" not in record and time.perf_counter() < ctx["deadline"]:
        record["worst_case"] = worst_case_step(model, params, ctx)
    del model
    free_memory()
    return record


# --------------------------------------------------------------------------------------------- eval


def random_prompts(lengths: list[int], vocab: int, seed: int) -> list[list[int]]:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(1, vocab, (n,), generator=gen).tolist() for n in lengths]


def generate_batches(model: Any, prompts: list[list[int]], batch_size: int, max_new: int) -> tuple[list, float, int]:
    """Greedy ids of each prompt (input order), seconds, and the fewest new tokens of any batch. Prompts are
    sorted longest first and left-padded with 0, as ``kwanzaa_hub.runtime.generate`` does."""
    import torch

    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    outputs: list[list[int]] = [[] for _ in prompts]
    fewest = max_new
    start = synced_now()
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.zeros(len(idx), width, dtype=torch.long)
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]) :] = 1
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


def run_eval(model: Any, prompt_lengths: list[int], vocab: int, max_new: int, batch: int) -> dict[str, Any]:
    """One prompt at a time vs batched (``batch`` and all prompts at once)."""
    prompts = random_prompts(prompt_lengths, vocab, seed=1234)
    generate_batches(model, prompts[:1], 1, 2)  # warm-up: CUDA kernels and allocator
    result: dict[str, Any] = {
        "prompts": len(prompts),
        "max_new_tokens": max_new,
        "prompt_tokens": {"min": min(prompt_lengths), "max": max(prompt_lengths)},
    }
    single, secs, fewest = generate_batches(model, prompts, 1, max_new)
    result["batch_1"] = {
        "seconds": round(secs, 3),
        "new_tokens": sum(len(s) for s in single),
        "tokens_per_s": round(sum(len(s) for s in single) / secs, 1),
        "fewest_new_tokens": fewest,
    }
    for size in dict.fromkeys([batch, len(prompts)]):
        reset_peak()
        out, secs, fewest = generate_batches(model, prompts, size, max_new)
        same = [a == b for a, b in zip(out, single, strict=False)]
        diverge = [
            next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            for a, b, s in zip(out, single, same, strict=False)
            if not s
        ]
        tps = sum(len(s) for s in out) / secs
        result[f"batch_{size}"] = {
            "seconds": round(secs, 3),
            "new_tokens": sum(len(s) for s in out),
            "tokens_per_s": round(tps, 1),
            "speedup_vs_batch_1": round(tps / result["batch_1"]["tokens_per_s"], 2),
            "identical_to_single": sum(same),
            "first_divergence_at": diverge,
            "fewest_new_tokens": fewest,
            **peak_gib(),
        }
    return result


def eval_part(
    args: argparse.Namespace, shape: dict, dtype: Any, device: str, lengths: dict, model_dir: Path, results: dict
) -> None:
    """Build the random model, save it for the training runs, and time eval generation with it."""
    start = time.perf_counter()
    model = build_random_model(shape, dtype, device)
    results["wall_s"]["build_model"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    model.save_pretrained(model_dir)
    results["wall_s"]["save_model"] = round(time.perf_counter() - start, 1)
    if args.skip_eval:
        results["eval"] = {"skipped": "--skip-eval"}
    else:
        start = time.perf_counter()
        try:
            results["eval"] = {
                "dtype": str(dtype).replace("torch.", ""),
                "quantized": False,
                **run_eval(model, lengths["eval_prompt"], shape["vocab_size"], args.max_new_tokens, args.eval_batch),
            }
        except Exception as exc:
            results["eval"] = {"error": error_text(exc)}
        results["wall_s"]["eval"] = round(time.perf_counter() - start, 1)
    del model
    free_memory()


# ------------------------------------------------------------------------------------------ results


def summarize(results: dict[str, Any]) -> None:
    """Medians, ratios vs the seed recipe, loss agreement, peak memory and the T4 verdicts, in place."""
    variants = results["variants"]
    for v in variants.values():
        speeds = [r["tokens_per_s"] for r in v["runs"] if r.get("tokens_per_s")]
        v["median_tokens_per_s"] = round(statistics.median(speeds), 1) if speeds else None
        v["errors"] = [r["error"] for r in v["runs"] if "error" in r]
        ok = [r for r in v["runs"] if "error" not in r]
        for key in ("peak_allocated_gib", "peak_reserved_gib"):
            vals = [r[key] for r in ok if r.get(key) is not None]
            v[key] = max(vals) if vals else None
        v["losses"] = ok[0]["losses"] if ok else None
        v["step_tokens"] = ok[0]["step_tokens"] if ok else None
        worst = next((r["worst_case"] for r in v["runs"] if "worst_case" in r), None)
        v["worst_case"] = worst
    seed = variants.get("seed", {})
    for v in variants.values():
        base = seed.get("median_tokens_per_s")
        v["ratio_vs_seed"] = round(v["median_tokens_per_s"] / base, 3) if base and v["median_tokens_per_s"] else None
        v["loss_max_rel_diff_vs_seed"] = loss_diff(v.get("losses"), seed.get("losses"))
        a, b = v.get("step_tokens"), seed.get("step_tokens")
        v["same_samples_as_seed"] = None if not a or not b else a[: len(b)] == b[: len(a)]
        d = v["loss_max_rel_diff_vs_seed"]
        v["losses_agree"] = None if d is None else d <= LOSS_TOLERANCE
    fits = {n: v["worst_case"]["fits_t4"] for n, v in variants.items() if v.get("worst_case")}
    results["gradient_checkpointing_auto"] = {
        "t4_limit_gib": results["settings"]["t4_limit_gib"],
        "longest_sample_tokens": results["lengths"]["train_total_max"],
        "fits_t4": fits,
        "fit_without_checkpointing": [n for n, ok in fits.items() if ok and not variants[n]["config"]["gc"]],
    }


def loss_diff(losses: list[float] | None, seed: list[float] | None) -> float | None:
    if not losses or not seed:
        return None
    pairs = list(zip(losses, seed, strict=False))
    return round(max(abs(a - b) / max(abs(b), 1e-12) for a, b in pairs), 6)


def markdown(results: dict[str, Any]) -> str:
    def fmt(x: Any) -> str:
        return "-" if x is None else str(x)

    plan = results["plan"]
    columns = [
        "variant",
        "batch x accum",
        "grad ckpt",
        "kernels",
        "median tokens/s",
        "runs",
        "ratio vs seed",
        "peak reserved GiB",
        "longest sample: reserved GiB",
        "fits T4",
        "loss rel diff",
        "same samples",
        "error",
    ]
    head = f"device: {results['device'].get('name')}; plan: {plan.get('hardware')}, {plan.get('precision')}, "
    lines = [head + str(plan.get("optim")), "", "| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for name, v in results["variants"].items():
        c, w = v["config"], v.get("worst_case") or {}
        runs = ", ".join(fmt(r.get("tokens_per_s")) for r in v["runs"])
        err = (
            v.get("skipped")
            or (v["errors"][0].splitlines()[0][:80] if v.get("errors") else "")
            or (w.get("error", "").splitlines()[0][:80] if w.get("error") else "")
            or ("not run: budget" if v.get("not_run") and not v["runs"] else "")
        )
        lines.append(
            f"| {name} | {c['batch']} x {c['accum']} | {'on' if c['gc'] else 'off'} | "
            f"{c['kernels']} | {fmt(v.get('median_tokens_per_s'))} | {runs} | "
            f"{fmt(v.get('ratio_vs_seed'))} | {fmt(v.get('peak_reserved_gib'))} | "
            f"{fmt(w.get('peak_reserved_gib'))} | {fmt(w.get('fits_t4'))} | "
            f"{fmt(v.get('loss_max_rel_diff_vs_seed'))} | {fmt(v.get('same_samples_as_seed'))} | {err} |"
        )
    ev = results.get("eval") or {}
    if "batch_1" in ev:
        lines += [
            "",
            "| eval generation | tokens/s | speedup | identical to one-at-a-time |",
            "| --- | --- | --- | --- |",
            f"| one prompt at a time | {ev['batch_1']['tokens_per_s']} | 1.0 | - |",
        ]
        for key, e in ev.items():
            if key.startswith("batch_") and key != "batch_1":
                lines.append(
                    f"| batch {key[6:]} | {e['tokens_per_s']} | {e['speedup_vs_batch_1']} | "
                    f"{e['identical_to_single']}/{ev['prompts']} |"
                )
    elif ev:
        lines += ["", f"eval: {ev.get('skipped') or ev.get('error', '').splitlines()[0]}"]
    return "\n".join(lines)


def write(results: dict[str, Any], out: Path) -> None:
    """Atomically: a kill mid-write never leaves a half file."""
    summarize(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out)
    out.with_suffix(".md").write_text(markdown(results) + "\n")


# --------------------------------------------------------------------------------------------- main


def schedule(names: list[str], rounds: int) -> list[tuple[int, str]]:
    """(round, variant) pairs; each round starts one variant later so warm-up and drift favour none."""
    pairs = []
    for r in range(rounds):
        k = r % len(names)
        pairs += [(r, n) for n in names[k:] + names[:k]]
    return pairs


def train_part(
    args: argparse.Namespace, ctx: dict[str, Any], results: dict[str, Any], out: Path, started: float
) -> None:
    """Every (round, variant) run that the budget allows; the JSON is rewritten after each."""
    longest_run = FIRST_RUN_ESTIMATE_S if args.shape == "real" else 0.0  # until a run has been timed
    for r, name in schedule(args.variant_names, args.rounds):
        v = results["variants"][name]
        if v.get("skipped"):
            continue
        elapsed = time.perf_counter() - started
        if elapsed + longest_run > args.budget_s:
            v.setdefault("not_run", []).append(
                f"round {r + 1}: budget ({elapsed:.0f} s used, runs take ~{longest_run:.0f} s)"
            )
            results["stopped_by_budget"] = True
            continue
        print(f"[{elapsed:6.1f} s] round {r + 1}/{args.rounds}: {name} {v['config']}", flush=True)
        start = time.perf_counter()
        record = run_variant(name, v["overrides"], ctx, with_worst_case=r == 0)
        record["round"] = r + 1
        record["run_s"] = round(time.perf_counter() - start, 1)
        longest_run = max(longest_run, record["run_s"])
        v["runs"].append(record)
        print(
            f"    tokens/s {record.get('tokens_per_s')}, peak reserved {record.get('peak_reserved_gib')} GiB"
            + (
                f", longest sample {record['worst_case'].get('peak_reserved_gib')} GiB"
                if "worst_case" in record
                else ""
            )
            + (f", ERROR {record['error'].splitlines()[0]}" if "error" in record else ""),
            flush=True,
        )
        results["wall_s"]["total"] = round(time.perf_counter() - started, 1)
        write(results, out)


def initial_results(args: argparse.Namespace, params: Any, facts: Any, lengths: dict, shape: dict) -> dict[str, Any]:
    from kwanzaa_hub.errors import InputError
    from kwanzaa_hub.runtime import hardware, qlora

    variants = {}
    for n in args.variant_names:
        p = variant_params(params, VARIANTS[n], REPO, 1)
        variants[n] = {"overrides": VARIANTS[n], "config": config_of(p), "runs": []}
        try:
            qlora.training_plan(p, facts)
        except InputError as exc:  # e.g. Liger without a GPU: the train stage would refuse it too
            variants[n]["skipped"] = str(exc)
    t = params.train
    return {
        "script": "bench/bench_gpu.py",
        "argv": sys.argv[1:],
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device_info(),
        "detected_plan": qlora.training_plan(params, hardware.detect()).as_dict(),
        "plan": qlora.training_plan(params, facts).as_dict(),
        "backends": None,
        "versions": versions(),
        "shape": {"name": "llama-3.2-1b" if args.shape == "real" else "tiny", **shape},
        "params": {"file": args.params, "train": t.model_dump(mode="json")},
        "lengths": {
            "source": str(Path(args.lengths).relative_to(REPO))
            if Path(args.lengths).is_relative_to(REPO)
            else args.lengths,
            **lengths_summary(lengths),
            "scaled": f"/ {TINY_LENGTH_DIVISOR}" if args.shape == "tiny" else None,
        },
        "settings": {
            "steps": args.steps,
            "warmup_steps": 1,
            "rounds": args.rounds,
            "budget_s": args.budget_s,
            "samples_per_step": t.per_device_batch_size * t.gradient_accumulation_steps,
            "max_new_tokens": args.max_new_tokens,
            "eval_batch": args.eval_batch,
            "t4_limit_gib": args.t4_limit_gib,
            "loss_tolerance": LOSS_TOLERANCE,
        },
        "variants": variants,
        "eval": None,
        "wall_s": {},
        "stopped_by_budget": False,
        "complete": False,
    }


def on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds to main(), which writes what it has


def main(argv: list[str] | None = None) -> int:
    started = time.perf_counter()
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_sigterm)
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # transformers 5.x renames; noise in the log
    hf_logging.disable_progress_bar()
    if args.shape == "tiny":  # a tiny model gains nothing from threads, and on a busy CPU they spin ~100x slower
        torch.set_num_threads(1)
    out = Path(args.out)
    from kwanzaa_hub.config.params import load_params

    params = load_params(args.params)
    facts = bench_facts(args.plan)
    plan = choose_plan(args.plan, params)
    shape = SHAPES["llama-3.2-1b" if args.shape == "real" else "tiny"]
    lengths = load_lengths(args.lengths, args.shape)
    results = initial_results(args, params, facts, lengths, shape)
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
    steps_total = args.steps + 1
    per_step = results["settings"]["samples_per_step"]
    if steps_total * per_step > len(lengths["train"]):
        print(
            f"warning: {steps_total} steps x {per_step} samples > {len(lengths['train'])} samples: later steps start a "
            "second epoch, where batch variants no longer see the same samples per step",
            flush=True,
        )
    try:
        eval_part(args, shape, dtype, device, lengths, model_dir, results)
        write(results, out)
        print(
            f"[{time.perf_counter() - started:6.1f} s] eval done: "
            + json.dumps(
                {
                    k: v.get("tokens_per_s")
                    for k, v in (results["eval"] or {}).items()
                    if isinstance(v, dict) and "tokens_per_s" in v
                }
            ),
            flush=True,
        )
        samples = make_samples(lengths["train"], shape["vocab_size"], seed=params.train.seed)
        longest = max(samples, key=lambda s: len(s["input_ids"]))
        ctx = {
            "params": params,
            "facts": facts,
            "model_dir": model_dir,
            "samples": samples,
            "longest": longest,
            "steps": args.steps,
            "tmp": tmp,
            "deadline": started + args.budget_s,
            "t4_limit": args.t4_limit_gib,
        }
        start = time.perf_counter()
        train_part(args, ctx, results, out, started)
        results["wall_s"]["train"] = round(time.perf_counter() - start, 1)
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
