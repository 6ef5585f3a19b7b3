"""Is a change between two runs more than noise? Paired tests of the printed aggregate on the same prompts.

Two runs (two versions, the workspace and a version, or the base model and the adapter) are compared on each
metric of :data:`specs.SPECS` from the per-example rows of ``eval/predictions.jsonl`` (metric definitions 3, the row
format in :mod:`specs`). Prompts are paired by their ``key`` (the hash of the prompt's content) within one split,
never by line-number ids, so inserting an eval sample leaves every other prompt paired.

A :class:`Comparison` prints ``old`` and ``new``: :func:`specs.aggregate` of exactly the paired prompts it tests,
and its test tests the difference of those two figures:

- ``sign`` (a spec whose aggregate is a mean of 0/1 values, every paired prompt valued on both sides): the exact
  two-sided sign test on the discordant prompts (McNemar's exact test), ``p = min(1, 2 * P(X <= min(fixed,
  broken)))`` for ``X ~ Binomial(fixed + broken, 1/2)``; the difference of the two means is ``(fixed - broken) / n``.
- otherwise: a paired bootstrap of the difference of the aggregates (:data:`RESAMPLES` resamples of the paired
  prompts with replacement, seed :data:`SEED`, the aggregate recomputed on each side, percentile interval).

A change is labelled ``better`` / ``worse`` only when the test rejects "no change" at the level :data:`ALPHA`
(p < ALPHA, or an interval that excludes 0), else ``within noise (n = N)``; ``same`` when no prompt's value moved;
``not tested`` when no prompt has a value in both. Pure Python (no torch).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kwanzaa_hub.contract.metrics import specs as metric_specs
from kwanzaa_hub.contract.metrics.specs import Aggregate, Metric, aggregate
from kwanzaa_hub.errors import InputError

ALPHA = 0.05
RESAMPLES = 10_000
SEED = 0
SPLITS = ("plain", "distractors")
NOT_TESTED = "not tested (no prompt scored in both)"
LEVEL = (
    f"paired tests at the {ALPHA:.0%} level of the printed figures on the same prompts (paired by content): exact "
    f"sign test (McNemar) for a rate of 0/1 verdicts, else a paired bootstrap {1 - ALPHA:.0%} interval of the "
    f"difference ({RESAMPLES:,} resamples, seed {SEED})"
)
SIGN_TEST = "exact sign test (McNemar)"
BOOTSTRAP = "paired bootstrap"


@dataclass(frozen=True)
class Change:
    """One prompt whose per-example value moved: ``verdict`` is ``fixed`` or ``broken``."""

    key: str
    id: str
    category: str
    verdict: str
    old: float
    new: float
    old_generation: str
    new_generation: str


@dataclass
class Comparison:
    """One metric of two runs on one split: the printed figures (``old`` / ``new``, :func:`specs.aggregate` of the
    paired prompts), the prompts that moved, the test of the difference of those figures and its label."""

    metric: str
    old: Aggregate
    new: Aggregate
    n: int  # paired prompts valued on at least one side: the rows both figures are computed over
    fixed: list[Change] = field(default_factory=list)
    broken: list[Change] = field(default_factory=list)
    unchanged: int = 0
    test: str = ""
    p_value: float | None = None
    interval: tuple[float, float] | None = None
    label: str = NOT_TESTED

    @property
    def change(self) -> float | None:
        """``new - old`` of the printed figures; None when a side has no value."""
        if self.old.mean is None or self.new.mean is None:
            return None
        return round(self.new.mean - self.old.mean, 4)

    @property
    def evidence(self) -> str:
        """The test's result in words: ``p = 0.031`` or ``95% CI [+0.012, +0.094]``; empty when not tested."""
        if self.p_value is not None:
            return f"p = {self.p_value:.3g}"
        if self.interval is not None:
            return f"{1 - ALPHA:.0%} CI [{self.interval[0]:+.3f}, {self.interval[1]:+.3f}]"
        return ""


@dataclass(frozen=True)
class Pairing:
    """The prompts of one split in two sets of rows: the pairs (same ``key``) and how many are on one side only."""

    pairs: list[tuple[dict[str, Any], dict[str, Any]]]
    only_old: int
    only_new: int

    def differs(self) -> bool:
        return bool(self.only_old or self.only_new)


def sign_test_p(fixed: int, broken: int) -> float:
    """Exact two-sided sign test (McNemar's exact test) on ``fixed`` vs ``broken`` discordant prompts."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(
    old: Sequence[float | None], new: Sequence[float | None], *, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[float, float]:
    """Percentile ``1 - ALPHA`` interval of ``aggregate(new) - aggregate(old)`` over ``resamples`` resamples of the
    paired prompts (index ``i`` is one prompt on both sides; None values are left out of each side's mean, as
    :func:`specs.aggregate` leaves them out). A resample in which a side has no value is drawn again."""
    n = len(old)
    rng = random.Random(seed)
    diffs: list[float] = []
    while len(diffs) < resamples:
        picks = rng.choices(range(n), k=n)
        a = [old[i] for i in picks if old[i] is not None]
        b = [new[i] for i in picks if new[i] is not None]
        if a and b:
            diffs.append(sum(b) / len(b) - sum(a) / len(a))
    diffs.sort()
    lo = diffs[int(math.floor(ALPHA / 2 * (resamples - 1)))]
    hi = diffs[int(math.ceil((1 - ALPHA / 2) * (resamples - 1)))]
    return (round(lo, 6), round(hi, 6))


def label(significant: bool, improved: bool, n: int, moved: bool) -> str:
    """The word a change gets: ``better`` / ``worse`` only when significant, ``same`` when nothing moved, ``not
    tested`` when no prompt was scored in both runs."""
    if n == 0:
        return NOT_TESTED
    if not moved:
        return "same"
    if significant:
        return "better" if improved else "worse"
    return f"within noise (n = {n})"


def value(row: dict[str, Any], run: str, metric: str) -> float | None:
    """The per-example value of ``metric`` for ``run`` in one row (``row["runs"][run]["values"]``); None when the
    metric does not cover the prompt or the run was not scored on it."""
    v = (((row.get("runs") or {}).get(run) or {}).get("values") or {}).get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def pair(old_rows: Sequence[dict[str, Any]], new_rows: Sequence[dict[str, Any]], split: str = "plain") -> Pairing:
    """The prompts of ``split`` in both sets, paired by ``key`` (rows as :func:`parse_records` checked them: one
    row per key and split), in the order of ``new_rows``."""
    old = {r["key"]: r for r in old_rows if "key" in r and r.get("split", "plain") == split}
    new = [r for r in new_rows if "key" in r and r.get("split", "plain") == split]
    pairs = [(old[r["key"]], r) for r in new if r["key"] in old]
    return Pairing(pairs, len(old) - len(pairs), len(new) - len(pairs))


def splits_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The splits the rows hold, in :data:`SPLITS` order."""
    found = {r.get("split", "plain") for r in rows}
    return [s for s in SPLITS if s in found]


def runs_of(rows: Sequence[dict[str, Any]]) -> set[str]:
    """Every run any row was scored on."""
    return {run for r in rows for run in (r.get("runs") or {})}


def compare(
    old_rows: Sequence[dict[str, Any]],
    new_rows: Sequence[dict[str, Any]],
    old_run: str = "adapter",
    new_run: str = "adapter",
    split: str = "plain",
    specs: Sequence[Metric] | None = None,
) -> dict[str, Comparison]:
    """Each metric of ``specs`` (default :data:`specs.SPECS`) of ``old_run`` in ``old_rows`` against ``new_run`` in
    ``new_rows`` on ``split``: a :class:`Comparison` per metric name, over the prompts paired by :func:`pair`."""
    chosen = getattr(metric_specs, "SPECS", ()) if specs is None else specs  # looked up per call: patchable
    pairs = pair(old_rows, new_rows, split).pairs
    return {m.name: compare_metric(m, pairs, old_run, new_run) for m in chosen}


def compare_metric(
    spec: Metric, pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], old_run: str, new_run: str
) -> Comparison:
    """One metric over paired rows: the figures, the prompts that moved, the test of the figures' difference."""
    olds, news, changes, unchanged = [], [], [], 0
    for a, b in pairs:
        va, vb = value(a, old_run, spec.name), value(b, new_run, spec.name)
        if va is None and vb is None:
            continue
        olds.append(va)
        news.append(vb)
        if va is None or vb is None:
            continue
        if va == vb:
            unchanged += 1
            continue
        fixed = (vb > va) == spec.higher_is_better
        changes.append(
            Change(
                key=str(b["key"]),
                id=str(b.get("id", "")),
                category=str(b.get("category", "")),
                verdict="fixed" if fixed else "broken",
                old=va,
                new=vb,
                old_generation=str(a["runs"][old_run].get("generation", "")),
                new_generation=str(b["runs"][new_run].get("generation", "")),
            )
        )
    result = Comparison(
        metric=spec.name,
        old=aggregate(olds),
        new=aggregate(news),
        n=len(olds),
        fixed=[c for c in changes if c.verdict == "fixed"],
        broken=[c for c in changes if c.verdict == "broken"],
        unchanged=unchanged,
    )
    if result.old.mean is None or result.new.mean is None:
        result.n = 0  # a side with no value: nothing to test, and never "p = 1"
        return result
    both = all(v is not None for v in olds + news)
    if spec.compare == "sign" and both and all(v in (0.0, 1.0) for v in olds + news):
        result.test = SIGN_TEST
        result.p_value = sign_test_p(len(result.fixed), len(result.broken))
        significant, improved = result.p_value < ALPHA, len(result.fixed) > len(result.broken)
    else:
        result.test = BOOTSTRAP
        result.interval = bootstrap_interval(olds, news)
        up = result.interval[0] > 0
        significant = up or result.interval[1] < 0
        improved = up == spec.higher_is_better
    moved = bool(changes) or not both
    result.label = label(significant, improved, result.n, moved)
    return result


def prompt_sets_note(pairing: Pairing, old: str, new: str, split: str = "plain") -> str | None:
    """One line when the two sides' prompt sets of ``split`` differ (shared / only-old / only-new counts), else
    None: every figure and test of the diff is then over the shared prompts."""
    if not pairing.differs():
        return None
    return (
        f"the prompt sets differ ({split} split): {len(pairing.pairs)} shared, {pairing.only_old} only in {old}, "
        f"{pairing.only_new} only in {new}; figures and tests are over the shared prompts"
    )


def parse_records(text: str, where: str) -> list[dict[str, Any]]:
    """``eval/predictions.jsonl`` as rows, each checked against the row format of :mod:`specs` (a row with a ``key``
    or ``runs``), or an ``InputError`` naming ``where:line`` and what is wrong. A file of rows without ``key`` /
    ``runs`` is an older eval's (metric definitions 1/2): its rows are returned as read (see :func:`keyed`) and
    never paired."""
    rows: list[dict[str, Any]] = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
            raise InputError(f"{where}:{i}: not JSON ({msg}); rerun `dvc repro eval`") from None
        except ValueError as exc:  # an integer of more digits than Python converts
            raise InputError(f"{where}:{i}: not usable JSON ({exc}); rerun `dvc repro eval`") from None
        if not isinstance(record, dict) or "id" not in record and "key" not in record:
            raise InputError(f"{where}:{i}: not a predictions record (no key or id); rerun `dvc repro eval`")
        rows.append(record)
    if keyed(rows):
        seen: dict[tuple[str, str], int] = {}
        lines = [i for i, line in enumerate(text.splitlines(), 1) if line.strip()]
        for line_no, row in zip(lines, rows, strict=True):
            problem = row_problem(row)
            if problem:
                raise InputError(f"{where}:{line_no}: {problem}; rerun `dvc repro eval` or restore the file")
            first = seen.setdefault((row["split"], row["key"]), line_no)
            if first != line_no:
                raise InputError(
                    f"{where}:{line_no}: duplicate prompt key {row['key'][:12]}… in the {row['split']} split (first "
                    f"at line {first}): each prompt is one row; rerun `dvc repro eval` or restore the file"
                )
    return rows


def keyed(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether the rows are of metric definitions 3 (a row carries ``key`` or ``runs``): only those are paired."""
    return any("key" in r or "runs" in r for r in rows)


def row_problem(row: dict[str, Any]) -> str | None:
    """What is wrong with one row of definitions 3 (in words, with the field), or None."""
    key = row.get("key")
    if not isinstance(key, str) or not key.strip():
        return f"key is {_shown(key)}, expected the prompt's content hash (a string)"
    for name in ("id", "category"):
        if name in row and not isinstance(row[name], str):
            return f"{name} is {_shown(row[name])}, expected a string"
    if row.get("split") not in SPLITS:
        return f"split is {_shown(row.get('split'))}, expected one of {', '.join(SPLITS)}"
    runs = row.get("runs")
    if not isinstance(runs, dict):
        return f"runs is {_shown(runs)}, expected an object of run -> {{generation, values}}"
    for run, entry in runs.items():
        if not isinstance(entry, dict):
            return f"runs.{run} is {_shown(entry)}, expected an object with generation and values"
        if "generation" in entry and not isinstance(entry["generation"], str):
            return f"runs.{run}.generation is {_shown(entry['generation'])}, expected a string"
        values = entry.get("values")
        if not isinstance(values, dict):
            return f"runs.{run}.values is {_shown(values)}, expected an object of metric -> value"
        for metric, v in values.items():
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if v is not None and not (number and 0 <= v <= 1):  # NaN fails the comparison too
                return f"runs.{run}.values.{metric} is {_shown(v)}, expected a number in [0, 1] or null"
    return None


def _shown(v: Any) -> str:
    """A value as the message shows it: short, one line (a huge integer is not spelled out)."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**12:
        return "a huge integer"
    text = json.dumps(v) if not isinstance(v, float) or math.isfinite(v) else str(v)
    return text if len(text) <= 40 else text[:39] + "…"


def change_label(name: str, delta: float, comparisons: dict[str, Comparison] | None) -> str:
    """The word for a change of ``delta`` in metric ``name`` (bare, or ``run.metric``): the paired test's label
    when ``comparisons`` (keyed by bare metric name) hold it, else the direction alone."""
    from kwanzaa_hub.contract.metrics import registry

    bare = name.rpartition(".")[2]
    if comparisons and bare in comparisons:
        return comparisons[bare].label
    return registry.change_word(name, delta)
