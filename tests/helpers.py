"""Shared pieces of the Hub tests: what train and eval leave behind, params for a push, fast retries."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from kwanzaa_hub.config.params import parse_params
from kwanzaa_hub.hub import client as hub_mod

#: Decoding-schema floors (characters, items, integer maximum) small enough for the tiny model to finish.
SMALL_BOUNDS = (6, 1, 20)
FAST = hub_mod.RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05, budget_s=5)
METRICS = {
    "base.citation_f1": 0.1,
    "base.reference_overlap": 0.2,
    "base.refusal_accuracy": 0.5,
    "adapter.citation_f1": 0.5,
    "adapter.reference_overlap": 0.6,
    "adapter.refusal_accuracy": 0.75,
    "adapter.grounded.citation_f1": 0.6,
}


def params_for(repo_id: str, version: str = "v1", **hub_extra):
    return parse_params(
        {
            "model": {"base": "models/base"},
            "train": {"lora": {"target_modules": ["q_proj", "v_proj"]}},
            "hub": {"repo_id": repo_id, "version": version, **hub_extra},
        }
    )


def records(adapter: dict[str, list] | None = None, base: dict[str, list] | None = None, *, n: int = 8) -> list[dict]:
    """Hand-made ``eval/predictions.jsonl`` rows (metric definitions 3, :mod:`tests.rows`) of ``n`` prompts: per run,
    each headline metric's per-example values (``{metric: [value per prompt]}``; None = not covered); by default the
    base fails every headline metric and the adapter passes it."""
    from kwanzaa_hub.contract.metrics import specs
    from tests.rows import rows

    def run(given: dict[str, list] | None, good: bool) -> dict[str, list]:
        return {
            m.name: (given or {}).get(m.name, [float(good == m.higher_is_better)] * n)
            for m in specs.SPECS
            if m.headline
        }

    return rows({"base": run(base, False), "adapter": run(adapter, True)})


def write_outputs(
    root: Path, tiny_model_dir: Path, *, seed: int = 0, metrics: dict | None = None, predictions: list | None = None
) -> None:
    """What train and eval leave behind: an adapter (non-zero LoRA weights), metrics, per-example records and
    reports."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (root / "models/base").exists():
        shutil.copytree(tiny_model_dir, root / "models/base")
    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(root / "models/base")
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    out = root / "models/adapter"
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(root / "models/base").save_pretrained(out)
    (root / "metrics.json").write_text(json.dumps(metrics or METRICS))
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports/data.json").write_text(
        json.dumps(
            {
                "train": {"samples": 66, "categories": {"grounded": 30, "refusal": 14}, "tokens": {"p50": 568}},
                "eval": {"samples": 24, "categories": {"grounded": 14, "refusal": 3}, "tokens": {"p50": 583}},
            }
        )
    )
    from kwanzaa_hub.contract import (
        decoding_schema as answer_schema,  # small bounds: the tiny random model writes until a bound stops it
    )

    (root / "reports/answer.schema.json").write_text(
        answer_schema.schema_text(answer_schema.build({}, margin=1.0, floors=SMALL_BOUNDS))
    )
    (root / "eval").mkdir(exist_ok=True)
    rows = predictions if predictions is not None else records()
    (root / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (root / "eval/details.json").write_text(
        json.dumps({"metrics": {**(metrics or METRICS), "adapter.grounded.citation_f1": 0.6}, "speed": {}})
    )
    (root / "reports/eval.json").write_text(
        json.dumps({"max_new_tokens": 48, "base": {"tokens_per_s": 90.0}, "adapter": {"tokens_per_s": 80.0}})
    )
    (root / "reports/train.json").write_text(
        json.dumps(
            {
                "train_loss": 1.5,
                "eval_loss": 1.7,
                "runtime_s": 3.0,
                "optimizer_steps": 2,
                "hw_device": "cpu",
                "hw_precision": "fp32",
                "hw_quantize": True,
                "hw_hardware": "x86_64",
            }
        )
    )


def greedy(model, tok, text: str = "Habari gani") -> list[int]:
    import torch

    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=0)[0].tolist()


def moved_prompts(old: list[dict], new: list[dict], runs: tuple[str, ...] = ("adapter_constrained", "adapter")) -> dict:
    """Computed from two predictions files, apart from the code under test: per headline metric of each run ``diff``
    shows by default and per split (``"<run>.<metric> (<split>)"`` when there are two, as ``--examples`` names them),
    (fixed / broken, id) of each prompt whose per-example value moved, prompts paired by ``key``; a None value is
    not scored."""
    from kwanzaa_hub.contract.metrics import registry

    splits = sorted({r["split"] for r in new})
    by_key = {(r["split"], r["key"]): r for r in old}
    out = {}
    for split in splits:
        for run in runs:
            for m in registry.HEADLINE:
                up = registry.spec(m).higher_is_better
                moved = set()
                for b in (r for r in new if r["split"] == split):
                    a = by_key.get((split, b["key"]))
                    if a is None:
                        continue
                    va, vb = a["runs"][run]["values"].get(m), b["runs"][run]["values"].get(m)
                    if va is not None and vb is not None and va != vb:
                        moved.add(("fixed" if (vb > va) == up else "broken", b["id"]))
                out[f"{run}.{m} ({split})" if len(splits) > 1 else f"{run}.{m}"] = moved
    return out


def listed_prompts(output: str) -> dict[str, set]:
    """What ``kwanzaa-hub diff --examples`` printed: per row (``run.metric``, with `` (split)`` when there are two),
    (fixed / broken, id) of each prompt it lists."""
    found, metric = {}, None
    for line in output.splitlines():
        if m := re.match(r"^([\w.]+(?: \(\w+\))?): .* fixed, \d+ broken, \d+ unchanged$", line):
            metric = m.group(1)
            found[metric] = set()
        elif m := re.match(r"^  (fixed|broken)\s+(\S+) \(", line):
            found[metric].add((m.group(1), m.group(2)))
    return found
