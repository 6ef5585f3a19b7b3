"""The result: one JSON (rewritten after every run, so a kill keeps what was measured) and its Markdown table.
:func:`initial_results` says what is run; :func:`summarize` adds the medians, the ratios against the seed recipe
and the T4 verdicts."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.gpu.data import REPO, TINY_LENGTH_DIVISOR, lengths_summary
from bench.gpu.machine import device_info, versions
from bench.gpu.models import SHAPE_OF_ARG
from bench.gpu.variants import VARIANTS, config_of, samples_per_step, variant_params

LOSS_TOLERANCE = 5e-3  # relative; fp16 AMP on a GPU, exact order of samples


def initial_results(
    args: argparse.Namespace, params: Any, facts: Any, plan: Any, lengths: dict, shape: dict
) -> dict[str, Any]:
    """Everything known before the first run: the machine, the recipe, the data's lengths, the settings, and each
    chosen variant's config (or why the train stage would refuse it here)."""
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
    source = Path(args.lengths)
    return {
        "script": "bench/bench_gpu.py",
        "argv": sys.argv[1:],
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device_info(),
        "detected_plan": qlora.training_plan(params, hardware.detect()).as_dict(),
        "plan": plan.as_dict(),
        "backends": None,
        "versions": versions(),
        "shape": {"name": SHAPE_OF_ARG[args.shape], **shape},
        "params": {"file": args.params, "train": params.train.model_dump(mode="json")},
        "lengths": {
            "source": str(source.relative_to(REPO)) if source.is_relative_to(REPO) else args.lengths,
            **lengths_summary(lengths),
            "scaled": f"/ {TINY_LENGTH_DIVISOR}" if args.shape == "tiny" else None,
        },
        "settings": {
            "steps": args.steps,
            "warmup_steps": 1,
            "rounds": args.rounds,
            "budget_s": args.budget_s,
            "samples_per_step": samples_per_step(params),
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
        v["worst_case"] = next((r["worst_case"] for r in v["runs"] if "worst_case" in r), None)
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


COLUMNS = [
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


def _fmt(x: Any) -> str:
    return "-" if x is None else str(x)


def _first_line(text: str | None) -> str:
    return text.splitlines()[0][:80] if text else ""


def markdown(results: dict[str, Any]) -> str:
    plan = results["plan"]
    head = f"device: {results['device'].get('name')}; plan: {plan.get('hardware')}, {plan.get('precision')}, "
    lines = [head + str(plan.get("optim")), "", "| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for name, v in results["variants"].items():
        c, w = v["config"], v.get("worst_case") or {}
        runs = ", ".join(_fmt(r.get("tokens_per_s")) for r in v["runs"])
        err = (
            v.get("skipped")
            or _first_line((v.get("errors") or [None])[0])
            or _first_line(w.get("error"))
            or ("not run: budget" if v.get("not_run") and not v["runs"] else "")
        )
        cells = [
            name,
            f"{c['batch']} x {c['accum']}",
            "on" if c["gc"] else "off",
            c["kernels"],
            *map(_fmt, (v.get("median_tokens_per_s"), runs, v.get("ratio_vs_seed"), v.get("peak_reserved_gib"))),
            *map(_fmt, (w.get("peak_reserved_gib"), w.get("fits_t4"))),
            *map(_fmt, (v.get("loss_max_rel_diff_vs_seed"), v.get("same_samples_as_seed"), err)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
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
    """The JSON and its table, each written atomically: a kill mid-write never leaves a half file."""
    from kwanzaa_hub.fs.atomic import atomic_write_text

    summarize(results)
    atomic_write_text(out, json.dumps(results, indent=1))
    atomic_write_text(out.with_suffix(".md"), markdown(results) + "\n")
