from dataclasses import replace

import pytest

from kwanzaa_hub.errors import InputError
from kwanzaa_hub.runtime.hardware import HardwareFacts, plan

CPU = HardwareFacts("cpu", "x86_64")
T4 = HardwareFacts("cuda", "Tesla T4", (7, 5), 15.0)
A100 = HardwareFacts("cuda", "NVIDIA A100-SXM4-40GB", (8, 0), 40.0)
H100 = HardwareFacts("cuda", "NVIDIA H100 80GB HBM3", (9, 0), 80.0)


@pytest.mark.parametrize(
    "facts, precision, compute, tf32, optim",
    [
        (CPU, "fp32", "float32", False, "adamw_torch"),
        (T4, "fp16", "float16", False, "paged_adamw_8bit"),
        (A100, "bf16", "bfloat16", True, "paged_adamw_8bit"),
        (H100, "bf16", "bfloat16", True, "paged_adamw_8bit"),
    ],
)
def test_auto_plan(facts, precision, compute, tf32, optim):
    p = plan(facts)
    assert (p.precision, p.compute_dtype, p.tf32, p.optim, p.device) == (precision, compute, tf32, optim, facts.device)
    assert p.quantize


def test_bf16_forced_on_a_t4_is_a_clear_error():
    with pytest.raises(InputError, match=r"bf16 needs compute capability 8.0\+.*Tesla T4 \(sm_75\)"):
        plan(T4, precision="bf16")


def test_fp16_forced_on_cpu_is_an_error():
    with pytest.raises(InputError, match="fp16 mixed precision needs a CUDA GPU"):
        plan(CPU, precision="fp16")


def test_forced_choices_that_the_hardware_runs():
    assert plan(A100, precision="fp16").compute_dtype == "float16"
    assert plan(A100, precision="fp32").tf32  # tf32 matmuls still help fp32 on Ampere
    assert plan(CPU, precision="bf16").compute_dtype == "bfloat16"
    assert not plan(T4, quantize=False).quantize


def test_attention_is_flash_attention_2_only_on_ampere_plus_with_the_package():
    from dataclasses import replace

    assert plan(CPU).attention == "sdpa"
    assert plan(replace(T4, flash_attn=True)).attention == "sdpa"  # no FA2 kernels for sm_75
    assert plan(A100).attention == "sdpa"  # package missing
    assert plan(replace(A100, flash_attn=True)).attention == "flash_attention_2"
    assert plan(replace(H100, flash_attn=True)).attention == "flash_attention_2"


@pytest.mark.parametrize(
    "facts, kernels, expected",
    [
        (replace(A100, liger=True), "auto", "liger"),
        (replace(H100, liger=True), "auto", "liger"),
        (A100, "auto", "none"),  # liger-kernel not installed
        (replace(T4, liger=True), "auto", "none"),  # Triton targets 8.0+: never chosen for a T4 by itself
        (CPU, "auto", "none"),
        (replace(H100, liger=True), "none", "none"),
        (replace(T4, liger=True), "liger", "liger"),  # forced: fp16 on a T4, with a warning
    ],
)
def test_fused_kernels_plan(facts, kernels, expected):
    assert plan(facts, kernels=kernels).kernels == expected


@pytest.mark.parametrize(
    "facts, precision, message",
    [
        (CPU, "auto", "needs a CUDA GPU"),
        (A100, "auto", "needs the liger-kernel package"),
        (replace(T4, liger=True), "bf16", "bf16"),
    ],
)
def test_fused_kernels_forced_where_they_cannot_run_is_an_error(facts, precision, message):
    with pytest.raises(InputError, match=message):
        plan(facts, precision=precision, kernels="liger")


def test_the_trainer_config_gets_liger_exactly_when_the_plan_says_so():
    from kwanzaa_hub.config.params import parse_params
    from kwanzaa_hub.runtime.qlora import sft_config

    params = parse_params({})
    assert sft_config(params, replace(plan(CPU), kernels="liger")).use_liger_kernel is True
    assert sft_config(params, plan(CPU)).use_liger_kernel is False


def test_the_hardware_is_detected_once_per_process(monkeypatch):
    import torch

    from kwanzaa_hub.runtime import hardware

    asked = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: asked.append(1) or False)
    hardware.detect.cache_clear()  # conftest does this before every test; here the count starts at zero
    first = hardware.detect()
    assert hardware.detect() is first and hardware.detect() is first
    assert first.device == "cpu" and len(asked) == 1
    hardware.detect.cache_clear()  # how a test that fakes torch sees its fake
    hardware.detect()
    assert len(asked) == 2
