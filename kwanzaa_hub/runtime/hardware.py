"""Precision, quantization and optimizer from the detected hardware: one pure function, unit-tested.

| hardware                     | precision | 4-bit compute dtype | tf32 | optimizer        |
| ---------------------------- | --------- | ------------------- | ---- | ---------------- |
| CUDA, compute capability 8+  | bf16      | bfloat16            | on   | paged_adamw_8bit |
| CUDA, compute capability 7.x | fp16      | float16             | off  | paged_adamw_8bit |
| CPU                          | fp32      | float32             | off  | adamw_torch      |

A T4 (7.5) has no bf16: PyTorch would emulate it slowly and transformers does not stop it, so forcing
``bf16`` there is an error before the model loads. tf32 is only ever switched on for Ampere and newer.

Fused kernels (``train.kernels``): Liger's Triton kernels (fused linear cross-entropy above all, which never
materializes Llama 3's 128k-vocabulary logits) are applied through TRL's ``use_liger_kernel``.

| train.kernels | CUDA 8.0+ with liger-kernel | CUDA 7.x (a T4)                 | CPU, or liger-kernel missing |
| ------------- | --------------------------- | ------------------------------- | ---------------------------- |
| auto          | liger                       | none (Triton targets 8.0+; Liger is untested on sm_75) | none |
| liger         | liger                       | liger, fp16 only (a warning)    | an error                     |
| none          | none                        | none                            | none                         |

``train.gradient_checkpointing`` stays a plain switch (on by default) until a T4-mode GPU run of
``bench/bench_gpu.py`` measures the recipe's peak memory for the longest sample.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cache
from typing import Literal

from kwanzaa_hub.errors import InputError

Precision = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class HardwareFacts:
    """What was detected: ``device`` is ``cuda`` or ``cpu``; ``capability`` is (major, minor) on CUDA."""

    device: Literal["cuda", "cpu"]
    name: str
    capability: tuple[int, int] | None = None
    memory_gib: float | None = None
    count: int = 1
    flash_attn: bool = False  # the flash-attn package is importable
    liger: bool = False  # the liger-kernel package is importable


@dataclass(frozen=True)
class TrainPlan:
    """How training runs on that hardware."""

    device: str
    precision: Precision
    compute_dtype: Literal["float32", "float16", "bfloat16"]
    tf32: bool
    optim: str
    quantize: bool
    hardware: str
    attention: str = "sdpa"
    kernels: Literal["liger", "none"] = "none"

    def as_dict(self) -> dict:
        return asdict(self)


@cache
def detect() -> HardwareFacts:
    """Facts about the first CUDA device, or the CPU; detected once per process (the hardware does not change
    under it, and the train stage, its preflight and its summary all ask). A test that fakes what torch reports
    calls ``detect.cache_clear()`` first (tests/conftest.py does before every test)."""
    import torch

    if torch.cuda.is_available():
        import importlib.util

        props = torch.cuda.get_device_properties(0)
        return HardwareFacts(
            "cuda",
            props.name,
            (props.major, props.minor),
            round(props.total_memory / 2**30, 1),
            torch.cuda.device_count(),
            flash_attn=importlib.util.find_spec("flash_attn") is not None,
            liger=importlib.util.find_spec("liger_kernel") is not None,
        )
    import platform

    return HardwareFacts("cpu", platform.processor() or platform.machine())


def choose_kernels(facts: HardwareFacts, kernels: str, precision: str) -> Literal["liger", "none"]:
    """``train.kernels`` on this hardware (the table in the module docstring)."""
    cuda = facts.device == "cuda"
    major = facts.capability[0] if cuda and facts.capability else 0
    if kernels == "none":
        return "none"
    if kernels == "auto":
        return "liger" if cuda and major >= 8 and facts.liger else "none"
    if kernels != "liger":
        raise InputError(f"train.kernels: expected auto, liger or none, found {kernels!r}")
    if not cuda:
        raise InputError("train.kernels: liger runs Triton GPU kernels and needs a CUDA GPU; use auto or none here")
    if not facts.liger:
        raise InputError("train.kernels: liger needs the liger-kernel package (`pip install liger-kernel`)")
    if major < 8 and precision == "bf16":
        raise InputError("train.kernels: Liger's bf16 kernels need compute capability 8.0+; use precision auto")
    if major < 8:
        from kwanzaa_hub.console import warn

        warn(
            f"train.kernels: liger on {facts.name} (sm_{major}x): Triton targets compute capability 8.0+ and "
            "Liger is untested there; fp16 only. Use kernels: auto if the run fails."
        )
    return "liger"


def plan(facts: HardwareFacts, *, precision: str = "auto", quantize: bool = True, kernels: str = "auto") -> TrainPlan:
    """Choose precision, 4-bit compute dtype, tf32, optimizer, attention and fused kernels; raise on a forced
    choice the hardware can't run."""
    cuda = facts.device == "cuda"
    major = facts.capability[0] if cuda and facts.capability else 0
    label = f"{facts.name} (sm_{facts.capability[0]}{facts.capability[1]})" if cuda and facts.capability else facts.name
    if precision == "auto":
        chosen: Precision = "bf16" if major >= 8 else ("fp16" if cuda else "fp32")
    else:
        chosen = precision  # type: ignore[assignment]
    if chosen == "bf16" and cuda and major < 8:
        raise InputError(
            f"train.precision: bf16 needs compute capability 8.0+ (Ampere or newer); {label} would emulate it slowly. "
            "Use precision: auto (fp16 on this GPU)."
        )
    if chosen == "fp16" and not cuda:
        raise InputError("train.precision: fp16 mixed precision needs a CUDA GPU; use auto (fp32 on CPU) or bf16")
    if chosen not in ("fp32", "fp16", "bf16"):
        raise InputError(f"train.precision: expected auto, fp32, fp16 or bf16, found {precision!r}")
    compute = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[chosen]
    return TrainPlan(
        device=facts.device,
        precision=chosen,
        compute_dtype=compute,  # type: ignore[arg-type]
        tf32=cuda and major >= 8,
        optim="paged_adamw_8bit" if cuda else "adamw_torch",
        quantize=quantize,
        hardware=label,
        # FlashAttention 2 needs Ampere+ and the package; it also keeps padding-free rows apart without a
        # materialized mask. Elsewhere SDPA (a T4's fastest option).
        attention="flash_attention_2" if cuda and major >= 8 and facts.flash_attn else "sdpa",
        kernels=choose_kernels(facts, kernels, chosen),
    )


#: Training throughput of the default recipe (4-bit nf4 + LoRA r 16, batch 1 x accumulation 8) in train tokens/s
#: for a base model of one billion parameters; a model of P billion runs at about this / P.
#: - cpu: measured, SmolLM2-135M on this project's 2-core dev machine, ~105 tokens/s (bench/bench_quality.py).
#: - t4: derived, not measured: the seed recipe's reported ~15 minutes for 3 epochs of the team's data on
#:   Llama-3.2-1B (~420k train tokens) on a Colab T4. bench/bench_gpu.py measures it on a GPU when one is lent.
#: - newer GPUs: the T4 figure scaled by their fp16 tensor throughput relative to a T4 (a projection).
TOKENS_PER_S_PER_BILLION = {"cpu": 14.0, "sm_7x": 580.0, "sm_8x": 2300.0, "sm_9x": 4600.0}


def estimate_seconds(plan: TrainPlan, capability: tuple[int, int] | None, n_params: int, tokens: int) -> float:
    """A rough wall time for training ``tokens`` tokens of a model of ``n_params`` parameters on this plan
    (see :data:`TOKENS_PER_S_PER_BILLION`; shown to people before a long run, never used to decide anything but
    the CPU refusal)."""
    if plan.device == "cpu" or capability is None:
        key = "cpu"
    else:
        key = f"sm_{min(max(capability[0], 7), 9)}x"
    rate = TOKENS_PER_S_PER_BILLION[key] / max(n_params / 1e9, 1e-3)
    return tokens / rate


def human_duration(seconds: float) -> str:
    """``"about 12 minutes"`` / ``"about 10.5 hours"``; below a minute only ``"under a minute"``: the rate model
    counts tokens, not the fixed cost of each step and of loading, so a tiny run's seconds would be a guess."""
    if seconds < 60:
        return "under a minute"
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} minutes"
    return f"about {seconds / 3600:.1f} hours"


def human_count(n: int) -> str:
    """A parameter count people read at a glance: ``"1.24 B"``, ``"135 M"``, ``"1.1 M"``, ``"52,480"``."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    if n >= 1e8:
        return f"{n / 1e6:.0f} M"
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    return f"{n:,}"
