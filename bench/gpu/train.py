"""One training run of a variant, as the train stage would run it (its model, LoRA and ``SFTConfig``), timed per
optimizer step; in round 1 also one step of the longest sample for the worst-case memory. Every (round, variant)
run the budget allows, in :func:`train_part`."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.gpu import report
from bench.gpu.machine import allocated_gib, fresh_memory, recorded, synced_now
from bench.gpu.models import build_model
from bench.gpu.variants import samples_per_step, schedule, variant_params

FIRST_RUN_ESTIMATE_S = 30.0  # load + 5 steps + worst-case step of the 1B model, before any run has been timed
QUANT_KEYS = ("bnb_4bit_quant_type", "bnb_4bit_use_double_quant", "bnb_4bit_compute_dtype")


def training_args(params: Any, plan: Any, out_dir: str) -> Any:
    """The train stage's ``SFTConfig`` for these params; the benchmark only writes elsewhere and saves nothing."""
    from kwanzaa_hub.runtime import qlora

    return qlora.sft_config(params, plan, output_dir=out_dir, save_strategy="no", disable_tqdm=True)


def make_trainer(model: Any, args: Any, samples: list[dict], callbacks: list) -> Any:
    from transformers import Trainer
    from transformers.trainer_callback import PrinterCallback

    from bench.gpu.data import pad_collate

    trainer = Trainer(model=model, args=args, train_dataset=samples, data_collator=pad_collate, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # one printed dict per step is noise here
    return trainer


def _name(option: Any) -> str:
    """An enum option of ``TrainingArguments`` by its value."""
    return str(getattr(option, "value", option))


def recipe_used(trainer: Any) -> dict[str, Any]:
    """What a run trained with, read back from the trainer's arguments and the PEFT model (not from params)."""
    args, model = trainer.args, trainer.model
    lora = model.peft_config["default"]
    quant = getattr(model.config, "quantization_config", None)
    quant = quant.to_dict() if hasattr(quant, "to_dict") else quant
    return {
        "learning_rate": args.learning_rate,
        "lr_scheduler": _name(args.lr_scheduler_type),
        "warmup": args.warmup_steps,
        "precision": "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32",
        "optim": _name(args.optim),
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
        "quantization": {k: str(quant.get(k)) for k in QUANT_KEYS} if quant else None,
    }


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

    fresh_memory()
    per_step = samples_per_step(params)
    longest = ctx["longest"]
    record: dict[str, Any] = {"total_tokens": len(longest["input_ids"]), "samples": per_step}
    trainer = None
    with recorded(record):
        timer = step_timer(float("inf"))
        one = variant_params(params, {"train.kernels": "none"}, Path(params.model.base), 1)
        args = training_args(one, qlora.training_plan(one, ctx["facts"]), ctx["tmp"])
        trainer = make_trainer(model, args, [longest] * per_step, [timer])
        trainer.train()
        record["step_s"] = round(timer.seconds[0], 3) if timer.seconds else None
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

    fresh_memory()
    record: dict[str, Any] = {"start_allocated_gib": allocated_gib()}  # grows across runs = a leak
    model = trainer = params = None
    with recorded(record):
        params = variant_params(ctx["params"], overrides, ctx["model_dir"], ctx["steps"] + 1)
        plan = qlora.training_plan(params, ctx["facts"])
        start = time.perf_counter()
        model = build_model(params, plan)
        record["load_s"] = round(time.perf_counter() - start, 2)
        timer = step_timer(ctx["deadline"])
        trainer = make_trainer(model, training_args(params, plan, ctx["tmp"]), ctx["samples"], [timer])
        record["recipe"] = recipe_used(trainer)
        record.update(measure_run(trainer, timer))
    del trainer
    if with_worst_case and model is not None and "error" not in record and time.perf_counter() < ctx["deadline"]:
        record["worst_case"] = worst_case_step(model, params, ctx)
    del model
    fresh_memory()
    return record


def _progress_line(record: dict[str, Any]) -> str:
    line = f"    tokens/s {record.get('tokens_per_s')}, peak reserved {record.get('peak_reserved_gib')} GiB"
    if "worst_case" in record:
        line += f", longest sample {record['worst_case'].get('peak_reserved_gib')} GiB"
    if "error" in record:
        line += f", ERROR {record['error'].splitlines()[0]}"
    return line


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
        print(_progress_line(record), flush=True)
        results["wall_s"]["total"] = round(time.perf_counter() - started, 1)
        report.write(results, out)
