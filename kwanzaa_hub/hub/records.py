"""A version's results for review: its metrics and per-example records, read from the Hub and checked against the
version's manifest, or from the workspace's eval outputs (``diff --workspace``, before a push).

A version pushed before versions carried ``eval/predictions.jsonl`` has metrics but no records; ``missing`` says
so in one line, and the diff stays at the headline level.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import Params
from kwanzaa_hub.contract.metrics.paired import Comparison, compare, parse_records
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.hub.versions import (
    REPO_LAYOUT,
    _version_key,
    checked_version,
    metric_numbers,
    tags,
    verified_file,
)


@dataclass
class Results:
    """One side of a review: ``name`` (``v1`` or ``workspace``), its metrics and its per-example records."""

    name: str
    metrics: dict[str, float]
    records: list[dict[str, Any]] | None
    missing: str = ""  # why ``records`` is None
    #: the metric definitions its eval scored under (``metric_definitions`` of its eval report; 1 before it was kept)
    definitions: int = 1


def definitions_of(report: Any) -> int:
    """The metric definitions an eval report names (:data:`kwanzaa_hub.contract.metrics.suite.DEFINITIONS`); a report
    of code before the field existed scored under definitions 1."""
    value = report.get("metric_definitions") if isinstance(report, dict) else None
    return value if isinstance(value, int) else 1


def definitions_note(old: Results, new: Results) -> str | None:
    """One line when the two sides were scored under different metric definitions (their numbers differ in what
    they average over, so a change is not the model's alone), else None."""
    if old.definitions == new.definitions:
        return None
    return (
        f"{old.name} was scored under metric definitions {old.definitions} and {new.name} under {new.definitions}: "
        "citation and grounding metrics average over different prompts (definitions 2: prompts with a real "
        "reference only); rerun the eval of the older one with this code to compare like with like"
    )


def version_results(repo_id: str, version: str) -> Results:
    """``repo_id@version``'s metrics and records, read as every version is read (:func:`versions.checked_version`:
    the tag is a version's and its own record names it; each file checked against the version's manifest). An
    unknown version, a moved tag or an altered file is refused with one line."""
    commit, manifest = checked_version(repo_id, version)
    where = f"{repo_id}@{version}"

    def text(key: str) -> str | None:
        path = verified_file(repo_id, version, commit, manifest, REPO_LAYOUT[key])
        return None if path is None else Path(path).read_text(encoding="utf-8")

    metrics = metric_numbers(_json(text("metrics"), where), _json(text("eval_details"), where))
    definitions = definitions_of(_json(text("eval_report"), where))
    predictions = text("predictions")
    if predictions is None:
        return Results(
            version,
            metrics,
            None,
            f"{where} was pushed before versions carried per-example records ({REPO_LAYOUT['predictions']} is not "
            "in its manifest)",
            definitions,
        )
    return Results(
        version, metrics, parse_records(predictions, f"{where}:{REPO_LAYOUT['predictions']}"), definitions=definitions
    )


def workspace_results(params: Params) -> Results:
    """The workspace's eval outputs (``eval.metrics_file``, ``eval.details_file``, ``eval.predictions_file``)."""
    e = params.eval
    missing = [p for p in (e.metrics_file, e.predictions_file) if not Path(p).is_file()]
    if missing:
        raise InputError(f"{', '.join(missing)} not found: run `dvc repro eval` first")
    details = Path(e.details_file)
    metrics = metric_numbers(
        _json(Path(e.metrics_file).read_text(encoding="utf-8"), e.metrics_file),
        _json(details.read_text(encoding="utf-8"), e.details_file) if details.is_file() else None,
    )
    report = Path(e.report)
    return Results(
        "workspace",
        metrics,
        parse_records(Path(e.predictions_file).read_text(encoding="utf-8"), e.predictions_file),
        definitions=definitions_of(_json(report.read_text(encoding="utf-8"), e.report) if report.is_file() else None),
    )


def compare_results(old: Results, new: Results, *, required: bool = False) -> dict[str, Comparison] | None:
    """The adapter's headline metrics compared prompt by prompt (:func:`paired.compare`), or None when a side has no
    records; with ``required`` (``diff --examples``) that is an ``InputError`` naming the side."""
    lacking = next((r for r in (old, new) if r.records is None), None)
    if lacking is None:
        return compare(old.records, new.records)
    if required:
        raise InputError(f"{lacking.missing}: it has no examples to compare; run the diff without --examples")
    return None


def previous_version(repo_id: str, version: str) -> str | None:
    """The newest tag before ``version`` (``v1`` before ``v2``), or None for the first version."""
    earlier = [t for t in tags(repo_id) if _version_key(t) < _version_key(version)]
    return max(earlier, key=_version_key) if earlier else None


def _json(text: str | None, where: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}); refusing it") from None
