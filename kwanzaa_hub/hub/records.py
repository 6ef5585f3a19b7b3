"""Two sides of a review (two versions, a version and the workspace, or local folders) and their comparison: the
one place ``diff`` and the card's "Changes since vN-1" get their rows, notes and tests from.

A side is read from the Hub (every file checked against the version's manifest), from the workspace's eval outputs
(``diff --workspace``, before a push), or from a folder with a version's layout (a version ``kwanzaa-hub pull``
wrote, checked against its manifest, or another project's eval outputs). A side whose ``eval/predictions.jsonl``
is missing, or whose rows are of older metric definitions (1/2: rows without ``key`` / ``runs``), has headline
numbers only; :func:`review` says so in one line and never labels a change across definitions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import Params
from kwanzaa_hub.contract.metrics import paired, registry
from kwanzaa_hub.contract.metrics import specs as metric_specs
from kwanzaa_hub.contract.metrics.paired import Comparison, parse_records
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.hub.versions import (
    MANIFEST,
    REPO_LAYOUT,
    _version_key,
    checked_version,
    metric_numbers,
    sha256_file,
    tags,
    verified_file,
)

#: The run a server returns (the adapter held to the decoding schema), then the adapter's free run: what ``diff``
#: and the card compare by default; ``diff --all`` adds the rest.
SERVED = registry.SERVED
DEFAULT_RUNS = (SERVED, registry.FREE_ADAPTER)
RUN_ORDER = (*DEFAULT_RUNS, registry.run_name("base", "constrained"), registry.run_name("base", "free"))


@dataclass
class Results:
    """One side of a review: ``name`` (``v1``, ``workspace`` or a folder), its metrics and its per-example rows
    (keyed rows of metric definitions 3; None when it has none, or only rows of older definitions)."""

    name: str
    metrics: dict[str, float]
    records: list[dict[str, Any]] | None
    missing: str = ""  # why ``records`` is None
    #: the metric definitions its eval scored under (``metric_definitions`` of its eval report; 1 before it was kept)
    definitions: int = 1


def definitions_of(report: Any) -> int:
    """The metric definitions an eval report names (:data:`kwanzaa_hub.contract.metrics.specs.DEFINITIONS`); a report
    of code before the field existed scored under definitions 1."""
    value = report.get("metric_definitions") if isinstance(report, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def results(
    name: str, where: str, metrics: dict[str, float], report: Any, rows: list[dict[str, Any]] | None
) -> Results:
    """A side from what it holds: keyed rows are of the current definitions; rows without keys (or none) leave
    ``records`` None with the reason in ``missing``."""
    if rows is None:
        return Results(
            name,
            metrics,
            None,
            f"{where} has no per-example records ({REPO_LAYOUT['predictions']}: pushed before versions carried them)",
            definitions_of(report),
        )
    if not paired.keyed(rows):
        older = min(definitions_of(report), metric_specs.DEFINITIONS - 1)
        return Results(
            name,
            metrics,
            None,
            f"{name} was scored under metric definitions {older} (rows not keyed by prompt)",
            older,
        )
    return Results(name, metrics, rows, definitions=metric_specs.DEFINITIONS)


def definitions_note(old: Results, new: Results) -> str | None:
    """One line when the two sides were scored under different metric definitions (their numbers differ in what
    they average over, so a change is not the model's alone, and no change is labelled), else None."""
    if old.definitions == new.definitions:
        return None
    return (
        f"{old.name} was scored under metric definitions {old.definitions} and {new.name} under {new.definitions}: "
        "headline numbers only, no label across definitions (they average over different prompts and judge "
        "differently); rerun the eval of the older one with this code to compare like with like"
    )


def version_results(repo_id: str, version: str) -> Results:
    """``repo_id@version``'s metrics and records, read as every version is read (:func:`versions.checked_version`:
    the tag is a version's and its own record names it; each file checked against the version's manifest). An
    unknown version, a moved tag or an altered file is refused with one line."""
    commit, manifest = checked_version(repo_id, version)
    where = f"{repo_id}@{version}"

    def text(key: str) -> str | None:
        path = verified_file(repo_id, version, commit, manifest, REPO_LAYOUT[key])
        return None if path is None else _text(Path(path), f"{where}: {REPO_LAYOUT[key]}")

    metrics = metric_numbers(_json(text("metrics"), where), _json(text("eval_details"), where))
    report = _json(text("eval_report"), where)
    predictions = text("predictions")
    if predictions is None:
        return Results(
            version,
            metrics,
            None,
            f"{where} was pushed before versions carried per-example records ({REPO_LAYOUT['predictions']} is not "
            "in its manifest)",
            definitions_of(report),
        )
    return results(version, where, metrics, report, parse_records(predictions, f"{where}:{REPO_LAYOUT['predictions']}"))


def workspace_results(params: Params) -> Results:
    """The workspace's eval outputs (``eval.metrics_file``, ``eval.details_file``, ``eval.predictions_file``)."""
    e = params.eval
    missing = [p for p in (e.metrics_file, e.predictions_file) if not Path(p).is_file()]
    if missing:
        raise InputError(f"{', '.join(missing)} not found: run `dvc repro eval` first")
    return _local(
        "workspace",
        "the workspace",
        Path(e.metrics_file),
        Path(e.details_file),
        Path(e.report),
        Path(e.predictions_file),
    )


def folder_results(folder: str | Path) -> Results:
    """A folder with a version's layout (:data:`REPO_LAYOUT`): a version ``kwanzaa-hub pull`` wrote (each file read is
    checked against its manifest first) or another project's eval outputs. Named as given."""
    root, name = Path(folder), str(folder)
    if not (root / REPO_LAYOUT["metrics"]).is_file():
        raise InputError(
            f"{name}: no {REPO_LAYOUT['metrics']} in it; expected a folder `kwanzaa-hub pull --out` wrote or a "
            "project's eval outputs"
        )
    paths = {k: root / REPO_LAYOUT[k] for k in ("metrics", "eval_details", "eval_report", "predictions")}
    if (root / MANIFEST).is_file():
        manifest = _json(_text(root / MANIFEST, f"{name}/{MANIFEST}"), f"{name}/{MANIFEST}")
        for key, path in paths.items():
            listed = manifest.get(REPO_LAYOUT[key]) if isinstance(manifest, dict) else None
            if path.is_file() and listed != sha256_file(path):
                raise InputError(
                    f"{name}/{REPO_LAYOUT[key]}: not the file its {MANIFEST} lists (sha256 differs or unlisted): the "
                    "folder changed after `kwanzaa-hub pull`; pull the version again"
                )
    return _local(name, name, *paths.values())


def _local(name: str, where: str, metrics: Path, details: Path, report: Path, predictions: Path) -> Results:
    def read(path: Path) -> Any:
        return _json(_text(path, str(path)), str(path)) if path.is_file() else None

    rows = parse_records(_text(predictions, str(predictions)), str(predictions)) if predictions.is_file() else None
    return results(name, where, metric_numbers(read(metrics), read(details)), read(report), rows)


@dataclass
class Row:
    """One line of a review: a metric of one run on one split, both figures and the change's label (the paired
    test's where both sides have keyed rows; the direction alone, or nothing across definitions, otherwise)."""

    split: str
    run: str
    metric: str
    old: float | None
    new: float | None
    label: str
    comparison: Comparison | None = None

    @property
    def name(self) -> str:
        return f"{self.run}.{self.metric}"

    def cells(self) -> tuple[str, str, str, str, str]:
        """Old figure, new figure, the change, its label and the test's evidence (``p = 0.031``): what every view of
        a review prints for one row, "-" where a side has no value."""
        a, b = self.old, self.new
        return (
            "-" if a is None else f"{a:.3f}",
            "-" if b is None else f"{b:.3f}",
            f"{b - a:+.3f}" if a is not None and b is not None else "-",
            self.label,
            self.comparison.evidence if self.comparison is not None else "",
        )


@dataclass
class Review:
    """What ``diff`` prints and the card's "Changes since" shows: the rows, and the notes (one line each) saying
    how they were tested, where the prompt sets differ and why a side has no test."""

    old: Results
    new: Results
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tested: bool = False

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(r.split for r in self.rows))


def review(
    old: Results,
    new: Results,
    *,
    everything: bool = False,
    required: bool = False,
    specs: Sequence[metric_specs.Metric] | None = None,
) -> Review:
    """``old`` against ``new``: per split both sides hold, per run (the served run and the adapter; ``everything``:
    every run both hold) and per headline metric of ``specs`` (``everything``: every metric), a :class:`Row` whose
    figures and label come from :func:`paired.compare`. A side without keyed rows gets the headline numbers of its
    metrics only, and one line saying why; ``required`` (``diff --examples``) makes that an ``InputError``."""
    chosen = list(getattr(metric_specs, "SPECS", ()) if specs is None else specs)
    lacking = next((r for r in (old, new) if r.records is None), None)
    if lacking is not None:
        if required:
            raise InputError(f"{lacking.missing}: it has no examples to compare; run the diff without --examples")
        return _headline_only(old, new, lacking, chosen, everything)
    shown = chosen if everything else [m for m in chosen if m.headline]
    result = Review(old, new, notes=[paired.LEVEL], tested=True)
    splits_old, splits_new = paired.splits_of(old.records), paired.splits_of(new.records)
    runs_old, runs_new = paired.runs_of(old.records), paired.runs_of(new.records)
    for run in _runs(runs_old ^ runs_new, everything):
        result.notes.append(f"the {run} run is only in {(old if run in runs_old else new).name}: not compared")
    for split in paired.SPLITS:
        if (split in splits_old) != (split in splits_new):
            side = old if split in splits_old else new
            result.notes.append(f"the {split} split is only in {side.name}: not compared")
        if split not in splits_old or split not in splits_new:
            continue
        pairing = paired.pair(old.records, new.records, split)
        if note := paired.prompt_sets_note(pairing, old.name, new.name, split):
            result.notes.append(note)
        for run in _runs(runs_old & runs_new, everything):
            for metric, c in paired.compare(old.records, new.records, run, run, split, shown).items():
                result.rows.append(Row(split, run, metric, c.old.mean, c.new.mean, c.label, c))
    return result


def _runs(present: set[str], everything: bool) -> list[str]:
    order = [r for r in RUN_ORDER if r in present] + sorted(present - set(RUN_ORDER))
    return order if everything else [r for r in order if r in DEFAULT_RUNS]


def _headline_only(
    old: Results, new: Results, lacking: Results, specs: Sequence[metric_specs.Metric], everything: bool
) -> Review:
    """The metrics files' numbers alone (no rows to test): the headline metrics of the default runs (``everything``:
    every number), labelled by direction only when both sides share their metric definitions."""
    unlike = definitions_note(old, new)
    notes = [unlike] if unlike else [f"{lacking.missing}: headline metrics only, no paired test"]
    direction = {
        **{m.name: m.higher_is_better for m in registry.QUALITY},
        **{m.name: m.higher_is_better for m in specs},
    }
    headline = list(dict.fromkeys([m.name for m in specs if m.headline] + list(registry.HEADLINE)))
    keys = set(old.metrics) | set(new.metrics)
    runs = _runs({k.split(".", 1)[0] for k in keys if "." in k}, everything)
    rows = []
    for run in runs:
        names = headline if not everything else sorted({k.split(".", 1)[1] for k in keys if k.startswith(f"{run}.")})
        for metric in names:
            a, b = old.metrics.get(f"{run}.{metric}"), new.metrics.get(f"{run}.{metric}")
            if a is None and b is None:
                continue
            up = direction.get(metric.rsplit(".", 1)[-1])
            word = ""
            if a is not None and b is not None and up is not None and not unlike:
                word = registry.change_word(metric, b - a, up)
            rows.append(Row("plain", run, metric, a, b, word))
    return Review(old, new, rows, notes)


def changes_section(prev: Results | None, this: Results, skipped: str = "") -> dict[str, Any]:
    """The card's "Changes since vN-1": the review ``diff`` prints (:func:`review`, the same rows, labels and notes:
    the served run and the adapter, per split, each headline metric with its paired test, where the prompt sets
    differ). The first version says there is none; ``skipped`` names earlier versions that did not verify."""
    if prev is None:
        note = "This is the first version: none to compare."
        if skipped:
            note = f"{skipped} No earlier version verifies: none to compare."
        return {"title": "Changes since the previous version", "note": note}
    result = review(prev, this)
    splits = len(result.splits)
    rows = []
    for r in result.rows:
        old, new, change, label, _evidence = r.cells()
        c = r.comparison
        rows.append(
            {
                "name": f"{r.name} ({r.split})" if splits > 1 else r.name,
                "old": old,
                "new": new,
                "change": f"{change} ({label})" if label else change,
                "fixed": len(c.fixed) if c else "—",
                "broken": len(c.broken) if c else "—",
                "evidence": (c.evidence or "—") if c else "—",
            }
        )
    note = " ".join(f"{n[0].upper()}{n[1:]}." for n in result.notes)
    note = f"{skipped} {note}" if skipped else note
    return {"title": f"Changes since {prev.name}", "note": note, "previous": prev.name, "rows": rows}


def previous_version(repo_id: str, version: str) -> str | None:
    """The newest tag before ``version`` (``v1`` before ``v2``), or None for the first version."""
    earlier = [t for t in tags(repo_id) if _version_key(t) < _version_key(version)]
    return max(earlier, key=_version_key) if earlier else None


def _text(path: Path, where: str) -> str:
    """A results file's text; not UTF-8 is one line, not a traceback."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 text (byte {exc.start}); refusing it") from None


def _json(text: str | None, where: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}); refusing it") from None
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply; refusing it") from None
