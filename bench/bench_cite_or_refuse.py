"""Does cite-or-refuse earn its place in the request schema? The served run generated again without it, paired.

The request schema (:mod:`kwanzaa_hub.contract.request_schema`) holds every answer with documents to "cite at least
one, or be a refusal" (:func:`~kwanzaa_hub.contract.request_schema.cite_or_refuse`). That turns every uncited text
into a refusal, which can cost as much as it saves. This benchmark takes a finished ``bench_quality.py`` experiment
(its trained adapter and its eval rows), generates the served run (the adapter under the request schema) again with
that one rule left out (``for_prompt(..., refuse_uncited=False)``) on the same prompts of both eval splits, with the
same budget and batches, scores it with the same specs, and compares it with the eval's served run, prompt by prompt
(:func:`kwanzaa_hub.contract.metrics.paired.compare`, the test ``diff`` labels with). Writes
``bench/results/cite-or-refuse[-<name>].json`` and, beside it, the new run's rows (``.records.jsonl``); the rows of
the run with the rule are the experiment's own records (``quality-d3[-<name>].records.jsonl``).

    python bench/bench_quality.py && python bench/bench_cite_or_refuse.py   # ~15 min on 2 CPU cores after the eval
    python bench/bench_cite_or_refuse.py --split plain                      # the plain split alone (half)

Skips (exit 0) when the experiment's eval has not run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def served_without_rule(params, split, tokenizer, model, budget):
    """The served run of one split, generated under request schemas without cite-or-refuse."""
    from kwanzaa_hub.contract.metrics.registry import SERVED
    from kwanzaa_hub.stages import eval as stage

    held = stage.request_schemas(stage.load_schema(params), split.prompts, tokenizer, refuse_uncited=False)
    name = f"{SERVED} without the rule"
    return stage._generate_run(params, model, tokenizer, split.prompts, budget, name, held.schemas)


def comparison(old_rows: list[dict], new_rows: list[dict], split: str) -> dict:
    """Every metric of the served run with the rule (old) against without it (new) on ``split``, as ``diff`` shows
    it: the two figures, n, how many prompts moved each way, the test and its label."""
    from kwanzaa_hub.contract.metrics import paired
    from kwanzaa_hub.contract.metrics.registry import SERVED

    out = {}
    for name, c in paired.compare(old_rows, new_rows, SERVED, SERVED, split).items():
        out[name] = {
            "with_rule": c.old.mean,
            "without_rule": c.new.mean,
            "n": c.n,
            "better_without": len(c.fixed),
            "worse_without": len(c.broken),
            "test": c.test,
            "evidence": c.evidence,
            "label": c.label,
        }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", default="default", help="the bench_quality.py experiment")
    ap.add_argument(
        "--project", type=Path, help="another project folder with a finished eval (default: the experiment's)"
    )
    ap.add_argument(
        "--split", choices=("both", "plain", "distractors"), default="both", help="the eval split(s) to generate again"
    )
    args = ap.parse_args()
    work = (args.project or REPO / "bench" / ".quality" / args.name).resolve()
    predictions = work / "eval" / "predictions.jsonl"
    if not predictions.is_file():
        print(f"skipped: {predictions} not found (run bench/bench_quality.py --name {args.name} first)")
        return 0
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_quality import _read_rows, git_commit, result_stem
    from datasets import load_from_disk
    from peft import PeftModel

    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics import registry, rows, suite
    from kwanzaa_hub.runtime.speed import split_cost
    from kwanzaa_hub.stages import eval as stage

    SERVED = registry.SERVED
    os.chdir(work)  # the experiment's paths are relative to its folder
    params = load_params("params.yaml")
    if params.eval.decoding == "free":
        print("error: the experiment's eval has no served (constrained) run to compare with", file=sys.stderr)
        return 2
    old_rows = _read_rows(predictions)
    ds = load_from_disk(params.data.prepared_dir, keep_in_memory=True)["eval"]
    budget = stage.resolve_budget(
        params.eval.max_new_tokens, ds["n_answer_tokens"], allow_truncation=params.eval.allow_truncation
    )
    ids, categories = list(ds["id"]), list(ds["category"])
    splits = [s for s in stage.eval_splits(params, ds) if args.split in ("both", s.name)]
    team_schema = stage.load_team_schema(params.eval.team_schema)
    base, tokenizer, _ = stage.load_models(params, params.train.output_dir)
    model = PeftModel.from_pretrained(base, params.train.output_dir).merge_and_unload()

    new_rows: list[dict] = []
    cost: dict[str, dict] = {}  # per split: speed.split_cost of the run without the rule
    for split in splits:
        gens = served_without_rule(params, split, tokenizer, model, budget)
        new_rows += stage.split_rows(
            split, ids, categories, {SERVED: gens}, params.eval.grounding_threshold, team_schema
        )
        cost[split.name] = split_cost({SERVED: gens})[SERVED]

    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in new_rows)
    stem = "cite-or-refuse" + result_stem(args.name).removeprefix("quality-d3")
    records = RESULTS / f"{stem}.records.jsonl"
    result = {
        "name": args.name,
        "what": f"the served run ({SERVED}) with cite-or-refuse (the eval's rows) against the same adapter, prompts "
        "and budget without it (this run's rows)",
        "metric_definitions": suite.DEFINITIONS,
        "git_commit": git_commit(),
        "with_rule_records": {
            "file": result_stem(args.name) + ".records.jsonl",
            "sha256": hashlib.sha256(predictions.read_bytes()).hexdigest(),
        },
        "without_rule_records": {"file": records.name, "sha256": hashlib.sha256(text.encode()).hexdigest()},
        "max_new_tokens": budget.max_new_tokens,
        "headline": list(registry.HEADLINE),
        "splits": {s.name: comparison(old_rows, new_rows, s.name) for s in splits},
        "best_floor": {s.name: rows.best_floors([r for r in old_rows if r["split"] == s.name]) for s in splits},
        "stop_reasons_without_rule": {split: c["stop_reasons"] for split, c in cost.items()},
        "speed_without_rule": {split: {k: c[k] for k in ("seconds", "new_tokens")} for split, c in cost.items()},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    records.write_text(text, encoding="utf-8")
    out = RESULTS / f"{stem}.json"
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for split, metrics in result["splits"].items():
        print(f"## {split} split (with -> without cite-or-refuse)")
        for name in registry.HEADLINE:
            m = metrics[name]
            print(f"- {name}: {m['with_rule']} -> {m['without_rule']} (n={m['n']}, {m['label']}, {m['evidence']})")
    print(f"wrote {out} and {records}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
