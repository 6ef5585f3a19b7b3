"""The ``train`` stage: QLoRA supervised fine-tuning with TRL, loss on the answer only, resumable.

Phases of :func:`run`: plan the hardware (precision, optimizer) -> load the prepared data as
prompt/completion pairs (so TRL's ``completion_only_loss`` masks system, user and header tokens) ->
load the base model, 4-bit when ``train.quantization.enabled`` -> wrap it with LoRA -> train with
DVCLive logging, resuming from the last checkpoint when data and params are unchanged -> save the
adapter and tokenizer only -> write ``reports/train.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.base_model import check_declared
from kwanzaa_hub.config.params import Params
from kwanzaa_hub.console import console
from kwanzaa_hub.fs.atomic import all_or_nothing, atomic_write_json, atomic_write_text
from kwanzaa_hub.fs.ownership import claim_all, mark, without_machine_paths
from kwanzaa_hub.longrun import mirror as checkpoints
from kwanzaa_hub.runtime import hardware
from kwanzaa_hub.runtime.curves import curves_file, curves_svg
from kwanzaa_hub.runtime.qlora import build_trainer, peak_memory_mib, save_adapter, training_plan


@dataclass
class TrainResult:
    report: dict[str, Any]
    resumed_from: str | None


#: The params that change the trained weights. A checkpoint is resumed only under the same values (and the same
#: prepared data); logging, checkpoint cadence, paths and the mirror can change without losing it.
WEIGHT_KEYS = (
    "model.base",
    "model.revision",
    "model.chat_date",
    "data.max_length",
    "train.seed",
    "train.epochs",
    "train.max_steps",
    "train.per_device_batch_size",
    "train.gradient_accumulation_steps",
    "train.learning_rate",
    "train.lr_scheduler",
    "train.warmup_ratio",
    "train.precision",
    "train.padding_free",
    "train.quantization",
    "train.lora",
    "train.num_processes",
)


def dotted(params: Params, key: str) -> Any:
    """``dotted(params, "train.lora.r")`` reads ``params.train.lora.r``."""
    value: Any = params
    for part in key.split("."):
        value = getattr(value, part)
    return value


def fingerprint(params: Params, prepared_dir: str | Path, base: dict[str, str] | None = None) -> str:
    """Hash of what determines the trained weights: :data:`WEIGHT_KEYS`, the base model's weights (``base``: its
    :func:`~kwanzaa_hub.runtime.models.base_identity`) and the prepared data files."""
    values = {k: dotted(params, k) for k in WEIGHT_KEYS}
    values = {k: v.model_dump(mode="json") if hasattr(v, "model_dump") else v for k, v in values.items()}
    if base is not None:
        values["base_weights"] = base
    h = hashlib.sha256(json.dumps(values, sort_keys=True).encode())
    for f in sorted(Path(prepared_dir).rglob("*")):
        if f.is_file() and f.suffix in (".arrow", ".json") and not f.name.startswith("cache-"):
            h.update(f.relative_to(prepared_dir).as_posix().encode())
            h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def run(params: Params, *, facts: hardware.HardwareFacts | None = None, callbacks: list | None = None) -> TrainResult:
    """Train and write ``train.output_dir`` and ``train.report``. ``callbacks`` are extra TrainerCallbacks."""
    from dvclive import Live
    from transformers.integrations import DVCLiveCallback

    from kwanzaa_hub.runtime.launch import is_main_process, leave_process_group, under_launcher

    check_declared(params.model.base, "train")  # a local base DVC does not follow stops here
    t = params.train
    facts = facts or hardware.detect()
    plan = training_plan(params, facts)
    main = is_main_process()
    if under_launcher():  # the launching process already ran prepare(): every rank only reads
        base = json.loads(os.environ[BASE_ENV]) if BASE_ENV in os.environ else identify_base(params)
        fp = fingerprint(params, params.data.prepared_dir, base)
        resume = checkpoints.local_resume_point(Path(t.checkpoint_dir), fp, main=False)
    else:
        fp, resume, base = prepare(params, facts)
    revision = base.get("commit")  # a Hub base: the commit resolved once for this run is the one loaded
    mirror = checkpoints.mirror_for(params)
    restoring = bool(resume) and checkpoints.finished(Path(resume))
    callbacks = list(callbacks or [])
    live = None
    if main:
        # DVCLive's default Live() would rewrite dvc.yaml: keep it to its own folder. A restored run writes its
        # curves afresh from the checkpoint's log (the folder may be gone: a fresh VM, a new dvclive_dir).
        live = Live(dir=t.dvclive_dir, dvcyaml=False, save_dvc_exp=False, resume=resume is not None and not restoring)
        mark(Path(t.dvclive_dir), "train.dvclive_dir")
        extra = [checkpoints.mirror_callback(mirror, fp)] if mirror is not None else []
        callbacks = [DVCLiveCallback(live=live), *extra, *callbacks]
    trainer = build_trainer(params, plan, callbacks=callbacks, revision=revision)
    console.print(summary_line(params, plan, facts, trainer, resume))
    # read now: the checkpoint resumed from may be rotated away (save_total_limit) before the report is written
    tokens_before = checkpoints.tokens_seen(Path(resume)) if resume and not restoring else 0
    start = time.perf_counter()
    if restoring:
        # the run already reached its last step: take its weights; resuming would train past the plan
        console.print(f"train: {resume} ends a finished run of these data and params; restoring it, not training")
        training_loss = restore_finished(trainer, Path(resume))
    else:
        training_loss = trainer.train(resume_from_checkpoint=resume).training_loss
    runtime = None if restoring else time.perf_counter() - start
    evals = [h for h in trainer.state.log_history if "eval_loss" in h]
    metrics = evals[-1] if evals and evals[-1].get("step") == trainer.state.global_step else trainer.evaluate()
    report = _report(trainer, plan, training_loss, metrics, runtime, resume, tokens_before)
    report["base_model"] = {"name": without_machine_paths(params.model.base), **base}
    if main:
        live.end()
        with all_or_nothing(t.output_dir, t.report):
            save_adapter(trainer, t.output_dir)
            atomic_write_json(t.report, report)
        atomic_write_text(curves_file(params), curves_svg(trainer.state.log_history))
    leave_process_group()  # every rank waits for rank zero's writes, then leaves the group
    return TrainResult(report, resume)


def summary_line(
    params: Params, plan: hardware.TrainPlan, facts: hardware.HardwareFacts, trainer: Any, resume: str | None
) -> str:
    """What is about to happen, in one line: device, precision, quantization, steps, tokens and a time estimate."""
    t = params.train
    steps = _planned_steps(trainer)
    world = trainer.args.world_size
    per_epoch = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    samples = steps * t.per_device_batch_size * t.gradient_accumulation_steps * world
    to_train = round(per_epoch * samples / max(len(trainer.train_dataset), 1))
    _, total = trainer.model.get_nb_trainable_parameters()
    took = hardware.human_duration(hardware.estimate_seconds(plan, facts.capability, total, to_train))
    return (
        f"train: {plan.hardware} ({plan.device}), {plan.precision}, "
        f"{'4-bit ' + t.quantization.quant_type if plan.quantize else 'no quantization'}, base {params.model.base}, "
        f"effective batch {t.per_device_batch_size * t.gradient_accumulation_steps * world}"
        f"{f' ({world} processes)' if world > 1 else ''}, {steps} optimizer steps, "
        f"{len(trainer.train_dataset)} samples, ~{to_train:,} tokens to train, estimated {took} of steps "
        "(loading and eval not counted; each step line below says the time left)"
        + (f", resuming from {resume}" if resume else "")
    )


def _steps_done(report: dict[str, Any]) -> str:
    first, last, planned = report["resumed_from_step"] + 1, report["optimizer_steps"], report["planned_steps"]
    return f"{last} of {planned} steps" if first == 1 else f"steps {first}-{last} of {planned}"


def closing_line(report: dict[str, Any], params: Params) -> str:
    """The train stage's last line: what was trained and written."""
    r = report
    how = (
        f"restored the finished run ({r['optimizer_steps']} of {r['planned_steps']} steps)"
        if r["restored"]
        else f"trained {_steps_done(r)} in {r['runtime_s']} s ({r['train_tokens_per_s']} tokens/s)"
    )
    return (
        f"{how}: train loss {r['train_loss']}, eval loss {r['eval_loss']}; "
        f"wrote {params.train.output_dir}/ and {params.train.report}"
    )


def restore_finished(trainer: Any, ckpt: Path) -> float | None:
    """Load a finished checkpoint's adapter weights and trainer state into ``trainer`` (no training step runs);
    returns the mean of the losses it logged."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import TrainerState
    from transformers.integrations import DVCLiveCallback

    set_peft_model_state_dict(trainer.model, load_file(str(ckpt / "adapter_model.safetensors")))
    trainer.state = TrainerState.load_from_json(str(ckpt / "trainer_state.json"))
    for callback in trainer.callback_handler.callbacks:  # the loss curves, as the run logged them
        if isinstance(callback, DVCLiveCallback):
            for logs in trainer.state.log_history:
                logged = {k: v for k, v in logs.items() if k != "step"}  # the Trainer adds "step" to its history
                callback.on_log(trainer.args, trainer.state, trainer.control, logs=logged)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return sum(losses) / len(losses) if losses else None


def relaunch(params: Params, params_path: str | Path) -> int | None:
    """Run the train stage under ``accelerate launch`` when the params ask for several processes: the checks and
    the resume point happen once, here, before the processes start. Returns their exit code, or None when this
    process should train by itself."""
    import subprocess

    from kwanzaa_hub.runtime.launch import launch_command

    cmd = launch_command(params, params_path)
    if cmd is None:
        return None
    _, _, base = prepare(params)
    console.print(f"train: {params.train.num_processes} processes: {' '.join(cmd[1:])}")
    return subprocess.run(cmd, env={**os.environ, BASE_ENV: json.dumps(base)}).returncode


#: How the launching process hands the base identity it resolved to the processes it starts (one commit per run).
BASE_ENV = "KWANZAA_HUB_BASE_IDENTITY"


def identify_base(params: Params) -> dict[str, str]:
    """The base model's :func:`~kwanzaa_hub.runtime.models.base_identity` (a Hub base resolved to its commit)."""
    from kwanzaa_hub.runtime.models import base_identity

    return base_identity(params.model.base, params.model.revision)


def prepare(params: Params, facts: hardware.HardwareFacts | None = None) -> tuple[str, str | None, dict[str, str]]:
    """Before any model loads: the preflight checks (base model access, hardware, the Hub token when a repo is
    configured), then the resume point (the local checkpoint of this exact run, else the newest one in the
    mirror). Returns (fingerprint, resume, the base model's identity)."""
    from kwanzaa_hub.longrun import preflight

    claim_all(params.outputs("train"))  # every output is new, empty or ours before anything happens
    for line in preflight.check_all(params, facts):  # fail now, not 20 minutes in
        console.print(f"train: {line}")
    ckpt_dir = Path(params.train.checkpoint_dir)
    base = identify_base(params)  # a base rebuilt in place (or a moved Hub revision) is another run
    fp = fingerprint(params, params.data.prepared_dir, base)
    mirror = checkpoints.mirror_for(params)
    if mirror is not None:
        mirror.check()
    resume = checkpoints.local_resume_point(ckpt_dir, fp)
    if resume is None and mirror is not None:
        fetched = mirror.fetch_latest(ckpt_dir, fp)
        if fetched is not None:
            console.print(f"train: no local checkpoint; fetched {fetched.name} of this run from {mirror}")
            resume = str(fetched)
    return fp, resume, base


def _report(
    trainer: Any,
    plan: hardware.TrainPlan,
    training_loss: float | None,
    metrics: dict,
    runtime: float | None,
    resume: str | None,
    tokens_before: int = 0,
) -> dict[str, Any]:
    """``reports/train.json``: losses, runtime, throughput, sizes, memory, resume point, hardware plan. A restored
    finished run has no runtime or throughput of its own (``restored``: true). A resumed run's throughput counts
    only the tokens this process trained (``train_tokens`` is the whole run's)."""
    seen = int(trainer.state.num_input_tokens_seen or 0)
    this_run = seen - tokens_before if runtime is not None else 0
    trainable, total = trainer.model.get_nb_trainable_parameters()
    history = [h for h in trainer.state.log_history if "loss" in h]
    return {
        "train_loss": round(history[-1]["loss"], 4) if history else None,
        "train_loss_mean": round(training_loss, 4) if training_loss is not None else None,
        "eval_loss": round(metrics["eval_loss"], 4) if "eval_loss" in metrics else None,
        "runtime_s": round(runtime, 1) if runtime is not None else None,
        "optimizer_steps": trainer.state.global_step,
        "planned_steps": trainer.state.max_steps,
        "train_tokens": seen,
        "train_tokens_this_run": this_run,
        "train_tokens_per_s": round(this_run / runtime, 1) if runtime else None,
        "restored": runtime is None,
        "trainable_params": trainable,
        "total_params": total,
        "peak_memory_mib": peak_memory_mib(plan.device),
        "resumed_from_step": checkpoints.step_of(Path(resume).name) if resume else 0,
        **{f"hw_{k}": v for k, v in plan.as_dict().items()},
    }


def _planned_steps(trainer: Any) -> int:
    args = trainer.args
    if args.max_steps > 0:
        return args.max_steps
    import math

    per_epoch = math.ceil(
        len(trainer.train_dataset)
        / (args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size)
    )
    return math.ceil(per_epoch * args.num_train_epochs)
