"""The rows of ``eval/predictions.jsonl`` (format: :mod:`.specs`) and every figure aggregated from them.

:func:`split_rows` builds each prompt's :class:`~.specs.Example` once and scores, with every spec, the reference
itself, each run's generation and each floor's answer (:mod:`kwanzaa_hub.contract.floors`). :func:`figures` turns
rows into ``<who>.<metric>`` means (``who`` a run, ``reference`` or a floor), with the n behind each, per category
too; :func:`best_floors` picks the best floor of each headline metric, and :func:`yardstick_failures` names every
headline metric on which some floor is not strictly below the references (empty on a trustworthy yardstick). The eval
stage's views: :func:`headline_metrics` (``metrics.json``), :func:`split_report` (one split in the reports) and
:func:`floor_verdicts` (the served run against the best floor, in words).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kwanzaa_hub.contract import floors
from kwanzaa_hub.contract.metrics import registry, specs

REFERENCE = "reference"


def prompt_key(system: str, user: str) -> str:
    """A prompt's content key (sha256 of its system and user messages): pairs a prompt across versions whatever its
    line number."""
    return hashlib.sha256(json.dumps([system, user], ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Run:
    """One run's generations over a split, in prompt order."""

    texts: Sequence[str]
    stop_reasons: Sequence[str]
    new_tokens: Sequence[int]


def split_rows(
    *,
    split: str,
    ids: Sequence[str],
    categories: Sequence[str],
    systems: Sequence[str],
    users: Sequence[str],
    references: Sequence[str],
    runs: Mapping[str, Run] | None = None,
    mappings: Sequence[dict[str, int] | None] | None = None,
    threshold: float = 0.5,
    team_schema: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The rows of one split: per prompt, the reference's, each run's and each floor's values under every spec."""
    runs = runs or {}
    validator = specs.team_validator(team_schema)
    floor_answers = floors.floor_answers(users, references)
    rows = []
    for i, user in enumerate(users):
        ex = specs.example(user, references[i], threshold=threshold, team_validator=validator)
        rows.append(
            {
                "key": prompt_key(systems[i], user),
                "id": ids[i],
                "category": categories[i],
                "split": split,
                "mapping": mappings[i] if mappings else None,
                REFERENCE: {"text": references[i], "values": specs.values(ex, ex.reference)},
                "runs": {
                    name: {
                        "generation": run.texts[i],
                        "stop_reason": run.stop_reasons[i],
                        "new_tokens": run.new_tokens[i],
                        "values": specs.values(ex, specs.response(run.texts[i], run.stop_reasons[i])),
                    }
                    for name, run in runs.items()
                },
                "floors": {
                    name: {"generation": answers[i], "values": specs.values(ex, specs.response(answers[i]))}
                    for name, answers in floor_answers.items()
                },
            }
        )
    return rows


def _scored(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{who: values}`` of one row: the reference, each run, each floor."""
    return {
        REFERENCE: row[REFERENCE]["values"],
        **{name: r["values"] for name, r in row["runs"].items()},
        **{name: f["values"] for name, f in row["floors"].items()},
    }


def aggregates(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, specs.Aggregate]]:
    """``{who: {metric: Aggregate}}`` over ``rows``: the one :func:`~.specs.aggregate` of every view."""
    whos: list[str] = []
    for row in rows:
        whos += [w for w in _scored(row) if w not in whos]
    return {
        who: {m.name: specs.aggregate([_scored(r).get(who, {}).get(m.name) for r in rows]) for m in specs.SPECS}
        for who in whos
    }


def figures(rows: Sequence[dict[str, Any]]) -> tuple[dict[str, float], dict[str, int]]:
    """``<who>.<metric>`` and ``<who>.<category>.<metric>`` means over ``rows`` (a metric no prompt covers left out),
    and the n behind each key."""
    means: dict[str, float] = {}
    n: dict[str, int] = {}
    groups = [("", rows)] + [
        (f"{c}.", [r for r in rows if r["category"] == c]) for c in sorted({r["category"] for r in rows})
    ]
    for prefix, part in groups:
        for who, per in aggregates(part).items():
            for name, agg in per.items():
                if agg.mean is not None:
                    means[f"{who}.{prefix}{name}"] = agg.mean
                    n[f"{who}.{prefix}{name}"] = agg.n
    return means, n


def best_floors(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per headline metric, the best floor over ``rows``: ``{"floor": name, "value": mean, "n": n}`` (the highest, or
    the lowest for a metric where lower is better; the first in :data:`floors.FLOORS` order on a tie)."""
    agg = aggregates(rows)
    out = {}
    for name in specs.HEADLINE:
        m = specs.BY_NAME[name]
        scored = [(f, agg[f][name]) for f in floors.FLOORS if f in agg and agg[f][name].mean is not None]
        if not scored:
            continue
        sign = 1 if m.higher_is_better else -1
        floor, best = max(scored, key=lambda fa: sign * fa[1].mean)
        out[name] = {"floor": floor, "value": best.mean, "n": best.n}
    return out


def beats(name: str, value: float | None, other: float | None) -> bool:
    """Whether ``value`` is strictly better than ``other`` on metric ``name``."""
    if value is None or other is None:
        return False
    return value > other if specs.BY_NAME[name].higher_is_better else value < other


def yardstick_failures(rows: Sequence[dict[str, Any]]) -> list[str]:
    """``"<metric>: <floor> <value> is not below the references' <value>"`` for every headline metric and floor where
    the references do not score strictly better: empty when the yardstick ranks the references above every floor."""
    agg = aggregates(rows)
    out = []
    for name in specs.HEADLINE:
        ref = agg[REFERENCE][name].mean
        for floor in floors.FLOORS:
            if floor in agg and not beats(name, ref, agg[floor][name].mean):
                out.append(f"{name}: {floor} {agg[floor][name].mean} is not below the references' {ref}")
    return out


def headline_metrics(plain_rows: list[dict[str, Any]], runs: list[str]) -> dict[str, float]:
    """``metrics.json``: each run's headline metrics on the plain split and the best floor's (``floor.<metric>``)."""
    means, _ = figures(plain_rows)
    out = {k: v for k, v in means.items() if k.split(".")[0] in runs}
    out.update({f"{registry.FLOOR}.{m}": best["value"] for m, best in best_floors(plain_rows).items()})
    return registry.headline(out)


def against_floor(rows: Sequence[dict[str, Any]], run: str, floor: str, name: str) -> Any:
    """``run`` against ``floor`` on metric ``name``, paired prompt by prompt: the test ``diff`` labels a change with
    (:func:`.paired.compare_metric`), so "beats" means what "better" means there."""
    from kwanzaa_hub.contract.metrics import paired

    pairs = [
        ({"key": r["key"], "runs": {"x": r["floors"][floor]}}, {"key": r["key"], "runs": {"x": r["runs"][run]}})
        for r in rows
        if floor in r.get("floors", {}) and run in r.get("runs", {})
    ]
    return paired.compare_metric(specs.BY_NAME[name], pairs, "x", "x")


def floor_verdicts(plain_rows: list[dict[str, Any]], runs: list[str]) -> list[str]:
    """In words, per headline metric: the served run against the best floor. It ``beats`` it only when the paired
    test of the two figures says better (:func:`against_floor`); a higher figure within noise is said to be so."""
    served = registry.served_run(runs)
    if served is None:
        return []
    means, _ = figures(plain_rows)
    out = []
    for name, best in best_floors(plain_rows).items():
        value = means.get(f"{served}.{name}")
        shown = "-" if value is None else f"{value:.3f}"
        floor = f"the best floor ({best['floor']} {best['value']:.3f})"
        if not beats(name, value, best["value"]):
            out.append(f"{name}: {served} {shown} does NOT beat {floor}, an answer built from the prompt alone")
            continue
        c = against_floor(plain_rows, served, best["floor"], name)
        if c.label == "better":
            out.append(f"{name}: {served} {shown} beats {floor}: {c.evidence}, n = {c.n}")
        else:
            out.append(
                f"{name}: {served} {shown} does NOT beat {floor} beyond noise ({c.evidence or 'not tested'}, "
                f"n = {c.n}): no better than an answer built from the prompt alone"
            )
    return out


def split_report(part: list[dict[str, Any]]) -> dict[str, Any]:
    """One split's figures: every mean and its n (whole split and per category, for every run, the references and
    every floor), the best floor of each headline metric, and where the references do not outrank a floor (empty on
    a sound yardstick)."""
    means, n = figures(part)
    return {
        "prompts": len(part),
        "metrics": means,
        "n": n,
        "best_floor": best_floors(part),
        "yardstick_failures": yardstick_failures(part),
    }


def headline_views(plain_rows: Sequence[dict[str, Any]], runs: list[str]) -> dict[str, dict[str, float]]:
    """What ``dvc metrics show`` compares, one small file per row of its table: ``served`` (the served run's headline
    metrics on the plain split), ``base`` (the base model under the same decoding, when it ran) and ``floor`` (the
    best floor of each headline metric); each ``{metric: value}`` with the bare headline names, so the table is three
    rows of a few columns."""
    served = registry.served_run(runs)
    if served is None:
        return {}
    means, _ = figures(plain_rows)
    base = served.replace("adapter", "base")
    out = {"served": {m: means[f"{served}.{m}"] for m in specs.HEADLINE if f"{served}.{m}" in means}}
    if base in runs:
        out["base"] = {m: means[f"{base}.{m}"] for m in specs.HEADLINE if f"{base}.{m}" in means}
    out["floor"] = {m: best["value"] for m, best in best_floors(plain_rows).items()}
    return out
