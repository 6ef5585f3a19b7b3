"""The ``eval`` stage: generate with the base model and the adapter, score the four task metrics,
write ``metrics.json`` (flat keys), ``eval/predictions.jsonl`` and the base-vs-adapter plot data."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from kwanzaa_hub.console import console
from kwanzaa_hub.contract import parse_answer
from kwanzaa_hub.io import all_or_nothing, atomic_write_json, atomic_write_text
from kwanzaa_hub.params import Params

PLOT_FILE = "eval/plot.json"


def score(predictions: Sequence[str], references: Sequence[str], prompts: Sequence[str], *, threshold: float) -> dict[str, float]:
    """All four metric modules on one set of generations; one flat dict."""
    from kwanzaa_hub.metrics import load

    out: dict[str, float] = {}
    out.update(load("format_compliance").compute(predictions=predictions, references=references))
    out.update(load("citation_accuracy").compute(predictions=predictions, references=references, prompts=prompts))
    out.update(load("grounding").compute(predictions=predictions, references=references, prompts=prompts, threshold=threshold))
    out.update(load("refusal").compute(predictions=predictions, references=references))
    return {k: round(float(v), 4) for k, v in out.items()}


def score_by_category(predictions, references, prompts, categories, *, threshold: float) -> dict[str, float]:
    """``score`` overall plus ``<category>.<metric>`` for every category present."""
    flat = score(predictions, references, prompts, threshold=threshold)
    for cat in sorted(set(categories)):
        idx = [i for i, c in enumerate(categories) if c == cat]
        part = score([predictions[i] for i in idx], [references[i] for i in idx], [prompts[i] for i in idx],
                     threshold=threshold)
        flat.update({f"{cat}.{k}": v for k, v in part.items()})
    return flat


def _per_sample(pred: str, ref: str, prompt: str, threshold: float) -> dict[str, float]:
    return score([pred], [ref], [prompt], threshold=threshold)


@dataclass
class EvalResult:
    metrics: dict[str, float]
    tokens_per_s: dict[str, float]


def load_models(params: Params, adapter_dir: str) -> tuple[Any, Any, Any]:
    """(base model, tokenizer, device). GPU: half precision; CPU: float32, as the adapter was trained."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from kwanzaa_hub.hardware import detect, plan
    from kwanzaa_hub.models import from_pretrained

    p = plan(detect(), precision=params.train.precision, quantize=False)
    base = from_pretrained(AutoModelForCausalLM, params.model.base, params.model.revision, dtype=getattr(torch, p.compute_dtype))
    base.to("cuda" if p.device == "cuda" else "cpu")
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir)
    return base, tokenizer, p.device


def run(params: Params) -> EvalResult:
    from datasets import load_from_disk
    from peft import PeftModel
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from kwanzaa_hub.generate import generate

    e = params.eval
    ds = load_from_disk(params.data.prepared_dir, keep_in_memory=True)["eval"]
    prompts = ds["prompt"]
    references = [c[0]["content"] for c in ds["completion"]]
    user_msgs = [p[-1]["content"] for p in prompts]
    categories = ds["category"]
    base, tokenizer, device = load_models(params, params.train.output_dir)
    runs = (["base"] if e.baseline else []) + ["adapter"]
    console.print(
        f"eval: {len(prompts)} prompts x {len(runs)} model(s) ({', '.join(runs)}), greedy, batch {e.batch_size}, "
        f"max_new_tokens {e.max_new_tokens}, on {device}"
    )
    generations: dict[str, list[str]] = {}
    speed: dict[str, float] = {}
    for name in runs:
        if name == "adapter":
            model = PeftModel.from_pretrained(base, params.train.output_dir)
            if device == "cuda":
                model = model.merge_and_unload()
        else:
            model = base
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} samples"),
                      TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console, transient=True) as bar:
            task = bar.add_task(f"generating ({name})", total=len(prompts), rate="")
            out = generate(model, tokenizer, prompts, chat_date=params.model.chat_date, max_new_tokens=e.max_new_tokens,
                           batch_size=e.batch_size,
                           progress=lambda done, toks, secs: bar.update(
                               task, completed=done, rate=f"{done / secs:.1f} samples/s, {toks / secs:.0f} tokens/s"))
        generations[name] = out.texts
        speed[name] = round(out.tokens_per_s, 1)

    metrics: dict[str, float] = {}
    for name in runs:
        part = score_by_category(generations[name], references, user_msgs, categories, threshold=e.grounding_threshold)
        metrics.update({f"{name}.{k}": v for k, v in part.items()})
    metrics.update({f"{name}.tokens_per_s": v for name, v in speed.items()})

    lines = []
    for i, row in enumerate(ds):
        record = {
            "id": row["id"], "category": row["category"],
            "prompt_sha256": hashlib.sha256(json.dumps(row["prompt"], sort_keys=True).encode()).hexdigest(),
            "reference": references[i],
        }
        for name in runs:
            gen = generations[name]
            record[name] = {"generation": gen[i], "parse_status": parse_answer(gen[i]).status,
                            "scores": _per_sample(gen[i], references[i], user_msgs[i], e.grounding_threshold)}
        lines.append(json.dumps(record, ensure_ascii=False))
    headline = [k.split(".", 1)[1] for k in metrics if k.startswith("adapter.") and k.count(".") == 1 and k != "adapter.tokens_per_s"]
    plot = [{"metric": m, "model": name, "value": metrics[f"{name}.{m}"]} for m in headline for name in runs]
    with all_or_nothing(e.predictions_file, PLOT_FILE, e.metrics_file):
        atomic_write_text(e.predictions_file, "\n".join(lines) + "\n")
        atomic_write_json(PLOT_FILE, plot)
        atomic_write_json(e.metrics_file, metrics)
    return EvalResult(metrics, speed)
