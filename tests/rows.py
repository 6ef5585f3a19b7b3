"""Hand-made rows of ``eval/predictions.jsonl`` (metric definitions 3, the format in ``contract/metrics/specs.py``)
and a small hand-made metric list, so the comparison tests do not depend on the real metric definitions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kwanzaa_hub.contract.metrics.specs import Metric


def _none(*_args) -> None:
    return None


#: A hand-made SPECS: a 0/1 verdict (sign test), an F1-type value (bootstrap), a 0/1 rate where lower is better.
SPECS = (
    Metric("verdict", True, True, "a 0/1 verdict", _none, "sign"),
    Metric("overlap", True, True, "a value in [0, 1]", _none, "bootstrap"),
    Metric("truncated", False, True, "cut off (lower is better)", _none, "sign"),
    Metric("extra", True, False, "a metric that is not a headline", _none, "sign"),
)


def key(i: int) -> str:
    """The content hash of hand-made prompt ``i``."""
    return hashlib.sha256(f"prompt {i}".encode()).hexdigest()


def rows(runs: dict[str, dict[str, list]], *, split: str = "plain", prompts: list[int] | None = None) -> list[dict]:
    """One row per prompt: ``runs`` is ``{run: {metric: [value per prompt]}}`` (None = not covered); prompt ``i`` of
    ``prompts`` (default 0..n-1) has key :func:`key` (i) and the line-number id ``eval-<position>``."""
    n = len(next(iter(next(iter(runs.values())).values())))
    prompts = list(range(n)) if prompts is None else prompts
    out = []
    for pos, i in enumerate(prompts):
        out.append(
            {
                "key": key(i),
                "id": f"eval-{pos + 1:05d}",
                "category": ("grounded", "refusal")[i % 2],
                "split": split,
                "mapping": None,
                "reference": {"text": f"reference {i}", "values": {}},
                "runs": {
                    run: {
                        "generation": json.dumps(
                            {"answer": {"text": f"{run} answer to p{i}", "completeness": "complete"}}
                        ),
                        "stop_reason": "eot",
                        "new_tokens": 10,
                        "values": {m: v[pos] for m, v in metrics.items()},
                    }
                    for run, metrics in runs.items()
                },
                "floors": {},
            }
        )
    return out


def write(folder: Path, rows_: list[dict], *, definitions: int = 3) -> None:
    """An eval output folder: the rows, their plain-split means added to metrics.json, the definitions added to the
    eval report (the layout of a workspace with default params and of a pulled version)."""
    from kwanzaa_hub.contract.metrics.specs import aggregate

    (folder / "eval").mkdir(parents=True, exist_ok=True)
    (folder / "reports").mkdir(parents=True, exist_ok=True)
    (folder / "eval/predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows_), encoding="utf-8")
    means = {}
    for r in rows_:
        for run, entry in r["runs"].items():
            for m in entry["values"]:
                means.setdefault(f"{run}.{m}", [])
    for name in means:
        run, m = name.split(".")
        means[name] = aggregate([r["runs"][run]["values"][m] for r in rows_ if r["split"] == "plain"]).mean
    metrics, report = folder / "metrics.json", folder / "reports/eval.json"
    kept = json.loads(metrics.read_text()) if metrics.is_file() else {}
    metrics.write_text(json.dumps({**kept, **means}), encoding="utf-8")
    kept = json.loads(report.read_text()) if report.is_file() else {}
    report.write_text(json.dumps({**kept, "metric_definitions": definitions}), encoding="utf-8")
