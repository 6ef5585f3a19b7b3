"""What generation cost: time per token and per decoding step, constrained against free decoding, and the cost of
building and compiling a per-request decoding schema. The eval report (``reports/eval.json``) and the benchmarks
read these, so a ratio means the same wherever it is printed."""

from __future__ import annotations

from typing import Any

from kwanzaa_hub.contract.metrics import registry
from kwanzaa_hub.runtime.generate import STOP_REASONS, Generations


def ms_per_token(gen: Generations) -> float:
    """Wall time per generated token of one run, in milliseconds."""
    return round(1000 * gen.seconds / gen.new_tokens, 2) if gen.new_tokens else 0.0


def ms_per_step(gen: Generations) -> float:
    """Wall time per decoding step of one run (one forward pass of a whole batch), in milliseconds."""
    return round(1000 * gen.seconds / gen.steps, 2) if gen.steps else 0.0


def split_cost(generations: dict[str, Generations]) -> dict[str, dict[str, Any]]:
    """What generating one split cost, per run: how its answers stopped, new tokens, seconds, tokens per second, ms
    per token, decoding steps and ms per step (``reports/eval.json``: per run for the plain split, and under
    ``splits.<split>.generation`` for each split)."""
    return {
        name: {
            "stop_reasons": {r: gen.stop_reasons.count(r) for r in STOP_REASONS},
            "new_tokens": gen.new_tokens,
            "seconds": round(gen.seconds, 1),
            "tokens_per_s": round(gen.tokens_per_s, 1),
            "ms_per_token": ms_per_token(gen),
            "steps": gen.steps,
            "ms_per_step": ms_per_step(gen),
        }
        for name, gen in generations.items()
    }


def constrained_ratios(generations: dict[str, Generations], per: Any) -> dict[str, float]:
    """Per model: ``per`` (:func:`ms_per_token` or :func:`ms_per_step`) of its constrained run / of its free run."""
    return {
        m: round(per(generations[f"{m}_constrained"]) / per(generations[m]), 2)
        for m in registry.MODELS
        if m in generations and f"{m}_constrained" in generations and per(generations[m])
    }


def request_schema_cost(build_ms: list[float], generations: dict[str, Generations]) -> dict[str, Any]:
    """What a per-request schema costs, per constrained run: building it (ms, mean), compiling it into a grammar (the
    first request's and the mean of the rest: the tokenizer is converted once per run, before the first), the sum per
    request, and that sum as a share of one answer's generation time (the run's wall time / its prompts)."""
    out: dict[str, Any] = {}
    build = sum(build_ms) / len(build_ms) if build_ms else 0.0
    for name, gen in generations.items():
        if not name.endswith("_constrained") or not gen.schema_ms:
            continue
        compiled = gen.schema_ms
        per_request = build + sum(compiled) / len(compiled)
        answer_ms = 1000 * gen.seconds / max(len(gen.texts), 1)
        out[name] = {
            "requests": len(gen.texts),
            "build_ms": round(build, 2),
            "compile_ms_first": round(compiled[0], 2),
            "compile_ms_repeated": round(sum(compiled[1:]) / len(compiled[1:]), 2) if compiled[1:] else None,
            "ms_per_request": round(per_request, 2),
            "share_of_answer_time": round(per_request / answer_ms, 4) if answer_ms else None,
        }
    return out


def rate_line(done: int, tokens: int, secs: float) -> str:
    """Generation speed for the progress line; slow CPU runs read in seconds per sample, not "0.0 samples/s"."""
    per = f"{done / secs:.1f} samples/s" if done >= secs else f"{secs / max(done, 1):.0f} s/sample"
    return f"{per}, {tokens / secs:.0f} tokens/s"
