"""The machine the benchmark runs on: a Tesla T4 forced on a big GPU, what the device and libraries are, and the
memory, timing and error helpers every part measures with. A broken CUDA context (after a CUDA error) never ends
the script here: the helpers warn or answer None, and later runs record their own errors."""

from __future__ import annotations

import gc
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

LIBRARIES = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "liger_kernel", "triton")


def bench_facts(mode: str) -> Any:
    """A Tesla T4 forced on a CUDA GPU (``--plan t4``), else this machine as detected (the CPU: fp32). The train
    stage's ``qlora.training_plan`` turns these facts into the plan."""
    from kwanzaa_hub.runtime import hardware

    facts = hardware.detect()
    if facts.device == "cuda" and mode == "t4":
        name = f"Tesla T4 (forced on {facts.name})"
        facts = hardware.HardwareFacts("cuda", name, (7, 5), 15.0, flash_attn=False, liger=facts.liger)
    return facts


def device_info() -> dict[str, Any]:
    """This machine as ``hardware.detect`` sees it, and what the runs depend on besides the recipe."""
    import shutil

    import torch

    from kwanzaa_hub.runtime import hardware

    facts = hardware.detect()
    if facts.device != "cuda":
        return {"type": "cpu", "name": facts.name, "threads": torch.get_num_threads()}
    return {
        "type": "cuda",
        "name": facts.name,
        "capability": list(facts.capability or ()),
        "memory_gib": facts.memory_gib,
        "cuda": torch.version.cuda,
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
        # Triton (Liger) builds a small C launcher on first use: no compiler, no Liger
        "c_compiler": shutil.which("cc") or shutil.which("gcc") or shutil.which("clang"),
    }


def versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name.replace("_", "-"))
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def t4_backends() -> dict[str, bool]:
    """What a T4 (sm_75) lacks, switched off on the big GPU too: tf32, and the FlashAttention and cuDNN
    attention kernels of SDPA (both need sm_80+). A T4's SDPA runs the memory-efficient kernel, so the speed
    and memory measured here come from the same attention kernel family."""
    import torch

    cuda = torch.backends.cuda
    cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cuda.enable_flash_sdp(False)
    if hasattr(cuda, "enable_cudnn_sdp"):
        cuda.enable_cudnn_sdp(False)
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


# ------------------------------------------------------------------------------------- memory and time


def _cuda_housekeeping(what: str, *calls: Callable[[], Any]) -> None:
    """Run ``calls`` when there is a GPU; a failure (a broken context) is a printed warning."""
    import torch

    if not torch.cuda.is_available():
        return
    try:
        for call in calls:
            call()
    except Exception as exc:
        print(f"warning: {what} failed: {type(exc).__name__}: {exc}", flush=True)


def free_memory() -> None:
    """Drop what the last run left."""
    import torch

    gc.collect()
    _cuda_housekeeping("freeing GPU memory", torch.cuda.synchronize, torch.cuda.empty_cache)


def reset_peak() -> None:
    import torch

    _cuda_housekeeping("resetting peak memory", torch.cuda.reset_peak_memory_stats)


def fresh_memory() -> None:
    """Before a measured run: the last run's memory freed and the peak counters reset."""
    free_memory()
    reset_peak()


def peak_gib() -> dict[str, float | None]:
    """Peak GPU memory since the last reset (None on CPU, or when a broken CUDA context cannot say)."""
    import torch

    try:
        if torch.cuda.is_available():
            return {
                "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / 2**30, 2),
            }
    except Exception:
        pass
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


@contextmanager
def timed(wall_s: dict[str, float], key: str) -> Iterator[None]:
    """``wall_s[key]``: the block's seconds, once it has finished without raising."""
    start = time.perf_counter()
    yield
    wall_s[key] = round(time.perf_counter() - start, 1)


@contextmanager
def recorded(record: dict[str, Any]) -> Iterator[None]:
    """Run the block; an exception in it becomes ``record["error"]`` instead of ending the script. The peak GPU
    memory is recorded either way (an out-of-memory error's peak is a finding too)."""
    try:
        yield
    except Exception as exc:
        record["error"] = error_text(exc)
    record.update(peak_gib())


def error_text(exc: BaseException) -> str:
    tail = traceback.format_exc(limit=-6)[-1500:]
    return f"{type(exc).__name__}: {str(exc)[:600]}\n{tail}"
