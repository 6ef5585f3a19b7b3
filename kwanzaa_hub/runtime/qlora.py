"""The QLoRA recipe, built from params and the hardware plan: the base model in 4 bits, LoRA, TRL's SFTConfig and
SFTTrainer, and the saved adapter. One definition, used by the train stage and by bench/bench_gpu.py."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import Params
from kwanzaa_hub.console import warn
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.fs.atomic import atomic_dir
from kwanzaa_hub.fs.ownership import without_machine_paths
from kwanzaa_hub.runtime import chat, hardware
from kwanzaa_hub.runtime.chat import MASKED
from kwanzaa_hub.runtime.models import ADAPTER_FILES


def linear_layer_names(model: Any) -> list[str]:
    """Distinct names of the model's linear layers (what ``target_modules`` may name)."""
    import torch

    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__.startswith("Linear"):
            leaf = name.rsplit(".", 1)[-1]
            if leaf != "lm_head":
                names.add(leaf)
    return sorted(names)


def training_plan(params: Params, facts: hardware.HardwareFacts) -> hardware.TrainPlan:
    """The train stage's hardware plan for these params on that hardware."""
    t = params.train
    return hardware.plan(facts, precision=t.precision, quantize=t.quantization.enabled, kernels=t.kernels)


def lora_config(params: Params) -> Any:
    """PEFT's ``LoraConfig`` from ``train.lora``."""
    from peft import LoraConfig

    lora = params.train.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )


def load_base_model(params: Params, plan: hardware.TrainPlan, revision: str | None = None) -> Any:
    """The base model (a Hub base at ``revision``, the commit resolved for this run), 4-bit NF4 via bitsandbytes
    when the plan says so."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from kwanzaa_hub.runtime.models import from_pretrained

    dtype = getattr(torch, plan.compute_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": plan.attention}
    if plan.quantize:
        q = params.train.quantization
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q.quant_type,
            bnb_4bit_use_double_quant=q.double_quant,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=dtype,
        )
        if plan.device == "cuda":  # each DDP process puts its copy on its own GPU
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    return from_pretrained(AutoModelForCausalLM, params.model.base, revision or params.model.revision, **kwargs)


#: What a caller of :func:`sft_config` may set besides the params: where a run writes, whether it saves and shows a
#: progress bar. Nothing of the recipe (rate, schedule, precision, optimizer, batch) is among them.
RUN_CONTROL = frozenset({"output_dir", "save_strategy", "disable_tqdm"})


def sft_config(params: Params, plan: hardware.TrainPlan, **run_control: Any) -> Any:
    """TRL's ``SFTConfig`` from the params and the hardware plan (precision, optimizer, kernels); ``run_control``
    sets only the keys in :data:`RUN_CONTROL` (the GPU benchmark runs this recipe without saving)."""
    from trl import SFTConfig

    if set(run_control) - RUN_CONTROL:
        raise ValueError(f"sft_config: {sorted(set(run_control) - RUN_CONTROL)} belong to the recipe: set params")
    t = params.train
    settings: dict[str, Any] = dict(
        output_dir=t.checkpoint_dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        seed=t.seed,
        data_seed=t.seed,
        bf16=plan.precision == "bf16",
        fp16=plan.precision == "fp16",
        tf32=True if plan.tf32 else None,
        use_cpu=plan.device == "cpu",
        optim=plan.optim,
        use_liger_kernel=plan.kernels == "liger",  # TRL's integration: fused linear cross-entropy, RMSNorm, RoPE
        # transformers 5's names (gradient_checkpointing* are deprecated aliases that warn on every run)
        activation_checkpointing=t.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        ddp_find_unused_parameters=False,  # LoRA: every trainable parameter is used in each step
        # the data stage guarantees nothing is longer, so nothing is truncated (TRL wants None when padding-free)
        max_length=None if t.padding_free else params.data.max_length,
        completion_only_loss=True,
        # one row per batch, no pad tokens; transformers builds a block-diagonal mask from position_ids
        padding_free=t.padding_free,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=2,
        eval_strategy="epoch" if t.max_steps == -1 else "no",
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
    )
    return SFTConfig(**{**settings, **run_control})


def build_trainer(
    params: Params, plan: hardware.TrainPlan, *, callbacks: list | None = None, revision: str | None = None
) -> Any:
    """Model, LoRA, data and SFTTrainer, ready to ``train()``; a Hub base is loaded at ``revision`` (the commit
    this run resolved) when given."""
    import torch
    from datasets import load_from_disk
    from trl import SFTTrainer

    from kwanzaa_hub.runtime.models import load_tokenizer, set_pad_token
    from kwanzaa_hub.runtime.progress import no_loading_bars, one_line_per_step

    t = params.train
    if t.padding_free and plan.attention != "flash_attention_2":
        warn(
            "train.padding_free without FlashAttention 2: samples are kept apart by a mask over the whole row, "
            "which measured slower than padded batches (BENCHMARKS.md)"
        )
    # In memory, so TRL's map() caches never land inside the DVC-tracked data/prepared/.
    ds = load_from_disk(params.data.prepared_dir, keep_in_memory=True)
    keep = ["prompt", "completion", "chat_template_kwargs"]
    keep += [MASKED] if MASKED in ds["train"].column_names else []  # written under data.placeholders: mask
    train_ds = ds["train"].select_columns(keep)
    eval_ds = ds["eval"].select_columns(keep)

    tokenizer = load_tokenizer(params.model.base, revision or params.model.revision)
    set_pad_token(tokenizer)
    torch.manual_seed(t.seed)
    with no_loading_bars():
        model = model_for_lora(params, plan, revision)
        trainer = SFTTrainer(
            model=model,
            args=sft_config(params, plan),
            train_dataset=train_ds,
            eval_dataset=eval_ds,
            processing_class=tokenizer,
            peft_config=lora_config(params),
            callbacks=callbacks or [],
        )
        if MASKED in keep:
            trainer.train_dataset = mask_spans(trainer.train_dataset, tokenizer, params.model.chat_date)
            trainer.eval_dataset = mask_spans(trainer.eval_dataset, tokenizer, params.model.chat_date)
    one_line_per_step(trainer)
    return trainer


def mask_spans(dataset: Any, tokenizer: Any, chat_date: str) -> Any:
    """TRL's tokenized ``dataset`` with label -100 on every token over its row's ``MASKED`` characters
    (:func:`~kwanzaa_hub.runtime.chat.tokens_over`); the prompt stays masked as TRL masked it, the rest of the
    answer keeps its labels. Fails when TRL's tokens are not the chat template's render (the offsets would not
    name them)."""

    def apply(row: dict) -> dict:
        if not row[MASKED]:
            return {"labels": row["labels"]}
        messages = row["prompt"] + row["completion"]
        if list(row["input_ids"]) != chat.render_ids(tokenizer, messages, chat_date):
            raise InputError(
                "data.placeholders: mask: TRL tokenized a sample unlike the chat template's render, so the "
                "template's tokens cannot be found; set data.placeholders: keep or drop for this base model"
            )
        labels = list(row["labels"])
        for i in chat.tokens_over(tokenizer, messages, chat_date, tuple(row[MASKED])):
            labels[i] = -100
        return {"labels": labels}

    return dataset.map(apply, remove_columns=[MASKED], desc="Masking template answer texts")


def model_for_lora(params: Params, plan: hardware.TrainPlan, revision: str | None = None) -> Any:
    """The base model (:func:`load_base_model`, a Hub base at ``revision``), its ``train.lora.target_modules``
    checked, and prepared for k-bit training when quantized: what LoRA is applied to."""
    from peft import prepare_model_for_kbit_training

    t = params.train
    model = load_base_model(params, plan, revision)
    missing = [m for m in t.lora.target_modules if m not in linear_layer_names(model)]
    if missing:
        raise InputError(
            f"train.lora.target_modules: {missing} not in {params.model.base}; its linear layers are "
            f"{linear_layer_names(model)}"
        )
    if plan.quantize:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=t.gradient_checkpointing)
    return model


def save_adapter(trainer: Any, out_dir: str | Path) -> None:
    """Adapter weights and config, tokenizer and chat template; nothing else (no optimizer, no pickles)."""
    with atomic_dir(out_dir, "train.output_dir") as tmp:
        trainer.model.save_pretrained(tmp, safe_serialization=True)
        trainer.processing_class.save_pretrained(tmp)
        for extra in tmp.iterdir():
            keep = (
                extra.name in ADAPTER_FILES
                or extra.name.startswith("tokenizer")
                or extra.name in ("chat_template.jinja", "special_tokens_map.json")
            )
            if not keep:
                extra.unlink() if extra.is_file() else shutil.rmtree(extra)
        config = tmp / "adapter_config.json"  # a local base's absolute path would travel to the Hub: name only
        settings = json.loads(config.read_text(encoding="utf-8"))
        base = settings.get("base_model_name_or_path")
        if isinstance(base, str) and without_machine_paths(base) != base:
            settings["base_model_name_or_path"] = without_machine_paths(base)
            config.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def peak_memory_mib(device: str) -> float:
    import resource

    import torch

    if device == "cuda":
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
