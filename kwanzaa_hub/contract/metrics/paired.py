"""Is a change between two runs more than noise? Paired tests on the per-example values of the same prompts.

Two runs (two versions, the workspace and a version, or the base model and the adapter) are compared prompt by
prompt on each headline metric, from the per-example scores of ``eval/predictions.jsonl``. A prompt is *fixed*
when its value moved in the metric's good direction, *broken* when it moved the other way, *unchanged* otherwise;
a prompt whose value is missing or None in either run is *not scored* (left out of the test and of the counts).

- Rates (a per-example verdict, 0 or 1): the exact two-sided sign test on the discordant prompts (McNemar's
  exact test): ``p = min(1, 2 * P(X <= min(fixed, broken)))`` for ``X ~ Binomial(fixed + broken, 1/2)``.
- F1-type metrics (a per-example value in [0, 1]): a paired bootstrap interval of the mean per-example change
  (:data:`RESAMPLES` resamples of the prompts with replacement, seed :data:`SEED`, percentile interval).

A change is labelled ``better`` / ``worse`` only when the test rejects "no change" at the level :data:`ALPHA`
(p < ALPHA, or an interval that excludes 0), else ``within noise (n = N)``; ``same`` when no prompt changed.
Pure Python (no torch), so the CLI, the card and the diff use it without loading a model.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kwanzaa_hub.contract.metrics import registry
from kwanzaa_hub.errors import InputError

ALPHA = 0.05
RESAMPLES = 10_000
SEED = 0
#: The test each headline metric gets: ``sign`` for a per-example verdict, ``bootstrap`` for an F1-type value.
TESTS = {
    "format_compliance": "sign",
    "citation_f1": "bootstrap",
    "grounded_sentence_rate": "bootstrap",
    "refusal_balanced_accuracy": "sign",
    "truncated_rate": "sign",
    "answer_repetition_rate": "sign",
}
LEVEL = (
    f"paired tests at the {ALPHA:.0%} level on the same prompts: exact sign test (McNemar) for rates, "
    f"paired bootstrap {1 - ALPHA:.0%} interval ({RESAMPLES:,} resamples, seed {SEED}) for F1-type metrics"
)


@dataclass(frozen=True)
class Change:
    """One prompt whose per-example value moved: ``verdict`` is ``fixed`` or ``broken``."""

    id: str
    category: str
    verdict: str
    old: float
    new: float
    old_generation: str
    new_generation: str


@dataclass
class Comparison:
    """One headline metric of two runs: the prompts that moved, the test and its label."""

    metric: str
    n: int  # prompts scored in both runs
    fixed: list[Change] = field(default_factory=list)
    broken: list[Change] = field(default_factory=list)
    unchanged: int = 0
    test: str = ""
    p_value: float | None = None
    interval: tuple[float, float] | None = None
    label: str = ""

    @property
    def evidence(self) -> str:
        """The test's result in words: ``p = 0.031`` or ``95% CI [+0.012, +0.094]``."""
        if self.p_value is not None:
            return f"p = {self.p_value:.3g}"
        if self.interval is not None:
            return f"{1 - ALPHA:.0%} CI [{self.interval[0]:+.3f}, {self.interval[1]:+.3f}]"
        return ""


def sign_test_p(fixed: int, broken: int) -> float:
    """Exact two-sided sign test (McNemar's exact test) on ``fixed`` vs ``broken`` discordant prompts."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(diffs: Sequence[float], *, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """Percentile ``1 - ALPHA`` interval of the mean of ``diffs`` over ``resamples`` paired resamples (fixed seed)."""
    if not diffs:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(resamples))
    lo = means[int(math.floor(ALPHA / 2 * (resamples - 1)))]
    hi = means[int(math.ceil((1 - ALPHA / 2) * (resamples - 1)))]
    return (round(lo, 6), round(hi, 6))


def label(significant: bool, improved: bool, n: int, moved: bool) -> str:
    """The word a change gets: ``better`` / ``worse`` only when significant, ``same`` when nothing moved, ``not
    tested`` when no prompt was scored in both runs (other prompts, or no per-example values)."""
    if n == 0:
        return "not tested (no prompt scored in both)"
    if not moved:
        return "same"
    if significant:
        return "better" if improved else "worse"
    return f"within noise (n = {n})"


def example_value(record: dict[str, Any], run: str, metric: str) -> float | None:
    """The per-example value of ``metric`` for ``run`` in one predictions record; None when not scored."""
    value = ((record.get(run) or {}).get("scores") or {}).get(metric)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def compare(
    old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], *, old_run: str = "adapter", new_run: str = "adapter"
) -> dict[str, Comparison]:
    """Each headline metric of ``old_run`` in ``old`` against ``new_run`` in ``new`` (predictions records), paired
    by prompt id (and prompt hash when both records carry one)."""
    by_id = {r["id"]: r for r in old}
    pairs = [
        (by_id[r["id"]], r)
        for r in new
        if r["id"] in by_id and by_id[r["id"]].get("prompt_sha256", r.get("prompt_sha256")) == r.get("prompt_sha256")
    ]
    return {name: _compare_metric(name, pairs, old_run, new_run) for name in registry.HEADLINE}


def _compare_metric(name: str, pairs: list[tuple[dict, dict]], old_run: str, new_run: str) -> Comparison:
    sign = 1 if registry.spec(name).higher_is_better else -1
    result = Comparison(metric=name, n=0)
    diffs = []
    for a, b in pairs:
        va, vb = example_value(a, old_run, name), example_value(b, new_run, name)
        if va is None or vb is None:
            continue
        d = sign * (vb - va)
        diffs.append(d)
        if d == 0:
            result.unchanged += 1
            continue
        change = Change(
            id=str(b["id"]),
            category=str(b.get("category", "")),
            verdict="fixed" if d > 0 else "broken",
            old=va,
            new=vb,
            old_generation=str((a.get(old_run) or {}).get("generation", "")),
            new_generation=str((b.get(new_run) or {}).get("generation", "")),
        )
        (result.fixed if d > 0 else result.broken).append(change)
    result.n = len(diffs)
    moved = bool(result.fixed or result.broken)
    if TESTS.get(name, "sign") == "sign":
        result.test = "exact sign test (McNemar)"
        result.p_value = sign_test_p(len(result.fixed), len(result.broken))
        significant, improved = result.p_value < ALPHA, len(result.fixed) > len(result.broken)
    else:
        result.test = "paired bootstrap"
        result.interval = bootstrap_interval(diffs)
        significant, improved = result.interval[0] > 0 or result.interval[1] < 0, result.interval[0] > 0
    result.label = label(significant, improved, result.n, moved)
    return result


def parse_records(text: str, where: str) -> list[dict[str, Any]]:
    """``eval/predictions.jsonl`` as records (each with an ``id``), or an ``InputError`` naming the bad line."""
    records = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}:{i}: not JSON ({exc.msg}); rerun `dvc repro eval`") from None
        if not isinstance(record, dict) or "id" not in record:
            raise InputError(f"{where}:{i}: not a predictions record (no id); rerun `dvc repro eval`")
        records.append(record)
    return records


def change_label(name: str, delta: float, comparisons: dict[str, Comparison] | None) -> str:
    """The word for a change of ``delta`` in metric ``name`` (``citation_f1``, or ``adapter.citation_f1`` in a diff of
    versions, whose ``comparisons`` are the adapter's): the paired test's label for a headline metric when
    per-example records were compared, else the direction alone."""
    run, _, bare = name.rpartition(".")
    if comparisons and run in ("", "adapter") and bare in comparisons:
        return comparisons[bare].label
    return registry.change_word(name, delta)
