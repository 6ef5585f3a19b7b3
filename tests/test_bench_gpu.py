"""bench/bench_gpu.py on the CPU: a tiny shape end to end, the lengths file, and a failing run being recorded.

The real run is for a lent H100/H200 (one shot, a few minutes); these tests make sure it cannot fail there for a
reason a CPU could have shown: structure of the JSON, the seed ratio, loss agreement, the eval part.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gpu import data, machine, models, train, variants

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "bench_gpu.py"


@pytest.mark.slow
def test_tiny_cpu_run_writes_the_full_result(tmp_path):
    out = tmp_path / "gpu.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--shape",
            "tiny",
            "--rounds",
            "1",
            "--steps",
            "2",
            "--max-new-tokens",
            "8",
            "--variants",
            "seed,batch_8x1,liger",
            "--out",
            str(out),
        ],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(out.read_text())

    assert r["plan"]["device"] == "cpu" and r["plan"]["precision"] == "fp32"
    assert {"torch", "transformers", "peft", "bitsandbytes", "liger_kernel"} <= set(r["versions"])
    assert r["lengths"]["train_samples"] == 107 and r["complete"] is True
    seed, batch = r["variants"]["seed"], r["variants"]["batch_8x1"]
    for v in (seed, batch):
        assert v["errors"] == [] and len(v["runs"]) == 1
        assert v["median_tokens_per_s"] > 0
        assert len(v["losses"]) == 3  # 1 warm-up + 2 measured steps
        assert v["worst_case"]["total_tokens"] == r["lengths"]["train_total_max"]
    assert seed["ratio_vs_seed"] == 1.0 and batch["ratio_vs_seed"] > 0
    # same samples in the same order: 8 x 1 and 1 x 8 train the same thing (fp32 on the CPU: near exact)
    assert batch["same_samples_as_seed"] is True
    assert batch["loss_max_rel_diff_vs_seed"] is not None and batch["loss_max_rel_diff_vs_seed"] < 1e-3
    assert batch["losses_agree"] is True
    assert "skipped" in r["variants"]["liger"] and r["variants"]["liger"]["runs"] == []
    assert "needs a CUDA GPU" in r["variants"]["liger"]["skipped"]  # the train stage's own refusal

    # one recipe: what the runs trained with (read back from the trainer and the PEFT model) is the train stage's
    # for params.yaml on this hardware
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware, qlora

    params = load_params(REPO / "params.yaml")
    plan = qlora.training_plan(params, hardware.HardwareFacts("cpu", "test"))
    stage, lora = qlora.sft_config(params, plan), qlora.lora_config(params)
    recipe = seed["runs"][0]["recipe"]
    assert recipe["learning_rate"] == stage.learning_rate == params.train.learning_rate
    assert (recipe["lr_scheduler"], recipe["warmup"]) == (stage.lr_scheduler_type.value, stage.warmup_steps)
    assert recipe["lora"] == {
        "r": lora.r,
        "alpha": lora.lora_alpha,
        "dropout": lora.lora_dropout,
        "target_modules": sorted(lora.target_modules),
    }
    assert recipe["lora"]["r"] == params.train.lora.r and recipe["lora"]["alpha"] == params.train.lora.alpha
    assert recipe["precision"] == plan.precision == "fp32" and recipe["optim"] == stage.optim.value == plan.optim
    assert recipe["gradient_checkpointing"] is stage.gradient_checkpointing
    assert (recipe["per_device_batch_size"], recipe["gradient_accumulation_steps"]) == (
        stage.per_device_train_batch_size,
        stage.gradient_accumulation_steps,
    )
    assert recipe["quantization"] == {
        "bnb_4bit_quant_type": params.train.quantization.quant_type,
        "bnb_4bit_use_double_quant": str(params.train.quantization.double_quant),
        "bnb_4bit_compute_dtype": plan.compute_dtype,
    }
    # a variant is the same recipe with its overrides only
    assert batch["runs"][0]["recipe"] == {**recipe, "per_device_batch_size": 8, "gradient_accumulation_steps": 1}

    ev = r["eval"]
    assert ev["batch_1"]["tokens_per_s"] > 0 and ev["batch_1"]["new_tokens"] == 27 * 8
    for key in ("batch_8", "batch_27"):
        assert 0 <= ev[key]["identical_to_single"] <= 27
        assert ev[key]["fewest_new_tokens"] == 8 and ev[key]["speedup_vs_batch_1"] > 0
    assert "gradient_checkpointing_auto" in r
    assert out.with_suffix(".md").read_text().startswith("device:")


def test_help_lists_the_variants():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], check=True, capture_output=True, text=True)
    assert "--budget-s" in proc.stdout and ", ".join(variants.VARIANTS) in " ".join(proc.stdout.split())


def test_lengths_file_holds_numbers_of_the_real_data():
    lengths = json.loads((REPO / "bench/data/kwanzaa_lengths.json").read_text())
    assert "SmolLM2" in lengths["tokenizer"]
    assert len(lengths["train"]) == 107 and len(lengths["eval"]) == 27 == len(lengths["eval_prompt"])
    totals = [t for t, _ in lengths["train"]]
    assert statistics.median(totals) == 1465 and max(totals) == 2802
    assert all(isinstance(x, int) and 0 < a < t for t, a in lengths["train"] + lengths["eval"] for x in (t, a))
    assert all(isinstance(n, int) and n > 0 for n in lengths["eval_prompt"])


def test_rounds_rotate_and_every_variant_runs_once_per_round():
    pairs = variants.schedule(["a", "b", "c"], 2)
    assert [n for r, n in pairs if r == 0] == ["a", "b", "c"]
    assert [n for r, n in pairs if r == 1] == ["b", "c", "a"]
    from kwanzaa_hub.config.params import load_params

    assert next(iter(variants.VARIANTS)) == "seed" and variants.VARIANTS["seed"] == {}  # params.yaml as it is
    params = load_params(REPO / "params.yaml")
    per_step = params.train.per_device_batch_size * params.train.gradient_accumulation_steps
    for overrides in variants.VARIANTS.values():  # every variant trains the same samples per optimizer step
        t = variants.variant_params(params, overrides, REPO, 5).train
        assert t.per_device_batch_size * t.gradient_accumulation_steps == per_step


def test_the_bench_trains_with_the_train_stages_arguments(tmp_path):
    """Only where it writes, whether it saves, the steps and the logging differ from the stage's SFTConfig."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware, qlora

    params = load_params(REPO / "params.yaml")
    facts = hardware.HardwareFacts("cpu", "test")
    ours = variants.variant_params(params, variants.VARIANTS["seed"], tmp_path, 5)
    args = train.training_args(ours, qlora.training_plan(ours, facts), str(tmp_path))
    stage = qlora.sft_config(params, qlora.training_plan(params, facts))
    different = {f.name for f in dataclasses.fields(stage) if getattr(args, f.name) != getattr(stage, f.name)}
    # max_steps: the benchmark's budget (without it the stage evaluates each epoch: do_eval, eval_strategy)
    assert different == {"output_dir", "max_steps", "save_strategy", "disable_tqdm", "eval_strategy", "do_eval"}
    assert args.learning_rate == params.train.learning_rate
    assert args.lr_scheduler_type.value == params.train.lr_scheduler


def test_collator_pads_right_and_masks_padding_from_the_loss():
    batch = data.pad_collate([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [9], "labels": [9]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [9, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [9, -100, -100]]


def test_a_failing_run_is_recorded_not_raised(tmp_path):
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware

    ctx = {
        "params": load_params(REPO / "params.yaml"),
        "facts": hardware.HardwareFacts("cpu", "test"),
        "model_dir": tmp_path / "missing",
        "samples": [],
        "longest": {},
        "steps": 1,
        "tmp": str(tmp_path),
        "deadline": float("inf"),
        "t4_limit": 13.5,
    }
    record = train.run_variant("seed", variants.VARIANTS["seed"], ctx, with_worst_case=True)
    assert "error" in record and "worst_case" not in record
    assert train.fits({"error": "torch.OutOfMemoryError: CUDA out of memory"}, "peak_reserved_gib", 13.5) is False
    assert train.fits({"peak_reserved_gib": 14.0}, "peak_reserved_gib", 13.5) is False
    assert train.fits({"peak_reserved_gib": 9.0}, "peak_reserved_gib", 13.5) is True


def test_on_a_big_gpu_the_plan_is_the_t4_one(monkeypatch):
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.runtime import hardware, qlora

    params = load_params(REPO / "params.yaml")
    monkeypatch.setattr(hardware, "detect", lambda: hardware.HardwareFacts("cuda", "NVIDIA H200", (9, 0), 139.8))
    plan = qlora.training_plan(params, machine.bench_facts("t4"))
    assert (plan.precision, plan.compute_dtype, plan.optim, plan.attention, plan.tf32) == (
        "fp16",
        "float16",
        "paged_adamw_8bit",
        "sdpa",
        False,
    )
    assert plan.hardware == "Tesla T4 (forced on NVIDIA H200) (sm_75)"
    assert qlora.training_plan(params, machine.bench_facts("detected")).precision == "bf16"


def test_sdpa_probe_names_the_kernels_that_take_grouped_query_attention():
    probe = machine.sdpa_gqa_probe(models.SHAPES["tiny"], 16, device="cpu")
    assert probe["gqa_no_mask_math"] == "ok"
    assert set(probe) == {"gqa_no_mask_efficient", "gqa_no_mask_math"}


def test_the_real_shape_is_llama_3_2_1b():
    import torch

    model = models.build_random_model(models.SHAPES["llama-3.2-1b"], torch.float16, "meta")  # no memory used
    assert sum(p.numel() for p in model.parameters()) == 1_235_814_400  # meta-llama/Llama-3.2-1B-Instruct
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert model.config.rope_parameters["rope_theta"] == 500000.0
