"""Rich tables for the stages' on-screen summaries and the commands' results.

Every table is built by :func:`new_table`: no cell ever loses a character (a name or a number too long for its
column folds onto the next line instead of ending in "…"), and the frame is light so that the tables fit 80
columns. Headers are short; where a short header stands for a longer name, the table's caption is the legend."""

from __future__ import annotations

import textwrap
from collections import Counter
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from kwanzaa_hub.console import console, error, result, warn
from kwanzaa_hub.contract.answer import CATEGORIES

SHORT = ("grnd", "multi", "part", "refuse", "uncited")  # CATEGORIES, abbreviated for 80 columns


class WholeTable(Table):
    """A :class:`rich.table.Table` whose columns fold what does not fit (``overflow="fold"``) instead of cutting it
    with an ellipsis."""

    def add_column(self, header: Any = "", *args: Any, overflow: str = "fold", **kwargs: Any) -> None:
        super().add_column(header, *args, overflow=overflow, **kwargs)


def new_table(title: str | None = None, **options: Any) -> Table:
    """The way every table here is built: whole cells (:class:`WholeTable`), no vertical rules, no outer edge, a rule
    under the header. ``options`` are :class:`rich.table.Table`'s."""
    frame = {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False, "collapse_padding": True}
    return WholeTable(title=title, **{**frame, **options})


def legend(names: Any) -> str:
    """The caption naming what each short header stands for, and its direction."""
    from kwanzaa_hub.contract.metrics import registry

    def better(n: str) -> str:
        return "higher" if registry.spec(n).higher_is_better else "lower"

    text = "; ".join(f"{registry.spec(n).header} = {n} ({better(n)} is better)" for n in names)
    return textwrap.fill(text, 79, break_long_words=False, break_on_hyphens=False)  # fits 80 columns, in a file too


def _warning_kinds(warnings: list[str]) -> Counter:
    """Group warnings by their message with the place and numbers stripped."""
    import re

    return Counter(re.sub(r"\d+", "N", w.split(": ", 1)[-1].split("'")[0])[:90] for w in warnings)


def print_data_summary(report: dict[str, Any], warnings: list[str]) -> None:
    table = new_table("data report")
    for col in ("split", "n", *SHORT, "tok p50", "p90", "max", "ans%"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split in ("train", "eval"):
        r = report[split]
        table.add_row(
            split,
            str(r["samples"]),
            *(str(r["categories"][c]) for c in CATEGORIES),
            str(r["tokens"]["p50"]),
            str(r["tokens"]["p90"]),
            str(r["tokens"]["max"]),
            f"{r['answer_token_share']:.0%}",
        )
    console.print(table)
    if "placeholders" in report:
        ph, policy = report["placeholders"], report["placeholder_policy"]
        if policy == "mask":
            m = report["placeholders_masked"]["train"]
            policy = (
                f"mask: {m['samples']} train sample(s) trained without their text, {m['answer_tokens']:,} of "
                f"{m['of_answer_tokens']:,} train answer tokens out of the loss"
            )
        console.print(
            f"placeholder answers (answer.text is a template): train {ph['train']}, eval {ph['eval']} "
            f"({policy}; data.placeholders decides)"
        )
    if report.get("answer_format") == "compact":
        chars, changed = report["answer_chars"], report["answers_rewritten"]
        console.print(
            f"answers compact (data.answer_format): {chars['as_written']:,} -> {chars['prepared']:,} characters; "
            f"{changed['layout']} rewritten, {changed['fields']} with fields moved (labels/URLs out of metadata)"
        )
    console.print(
        f"overflow (> {report['max_length']} tokens): {report['overflow']} dropped; "
        f"duplicates: {report['duplicates']}; refusals citing context: {report['refusals_citing_context']}"
    )
    d = report.get("distractors") or {}
    if d.get("per_prompt"):
        docs = d["documents_per_prompt"]
        console.print(
            f"distractors (data.distractors {d['per_prompt']}): {d['added']} added to the training prompts, documents "
            f"per prompt {docs['as_written']['mean']:.2f} -> {docs['trained']['mean']:.2f}, {d['answers_renumbered']} "
            f"answers renumbered, {d['over_max_length']['count']} over max_length with them; "
            f"{d['pool_documents_in_eval']} of {d['pool_documents']} pool documents are also in eval prompts"
        )
    if warnings:
        warn(f"{len(warnings)} in the data (full list in the report):")
        for kind, n in _warning_kinds(warnings).most_common(8):
            console.print(f"  {n} x {kind}")


def print_validation(results: list) -> int:
    """Print one row per file and every error; return the error count."""
    table = new_table("validation")
    for col in ("file", "n", "errors", "warn", *SHORT, "tok max", "> max"):
        table.add_column(col, justify="left" if col == "file" else "right")
    errors = 0
    for check, stats in results:
        cats = Counter(s.category for s in check.samples)
        over = str(stats["over_max_length"]) if stats and "over_max_length" in stats else "-"
        table.add_row(
            check.path,
            str(len(check.samples)),
            str(len(check.errors)),
            str(len(check.warnings)),
            *(str(cats[c]) for c in CATEGORIES),
            str(stats["tokens"]["max"]) if stats else "-",
            over,
        )
        errors += len(check.errors)
    result(table)
    for check, _ in results:
        for e in check.errors:
            error(e)
        for kind, n in _warning_kinds(check.warnings).most_common(8):
            warn(f"{n} x {kind}")
    return errors


def metrics_table(metrics: dict[str, float], title: str = "eval", records: list | None = None) -> Table:
    """Each whole-split quality metric (headline ones first, marked *) for the base model (when scored) and
    the adapter, with the change and whether it is better or worse (the direction is the metric's own; with the
    per-example ``records``, a headline metric's label is the paired test's), and the best floor (a trivial answerer
    built from the prompt alone, ``floor.<metric>``) beside them where ``metrics`` has it."""
    from kwanzaa_hub.contract.metrics import paired, registry

    runs = [m for m in ("base", "adapter") if any(k.startswith(f"{m}.") for k in metrics)]
    held = [f"{m}_constrained" for m in ("base", "adapter") if any(k.startswith(f"{m}_constrained.") for k in metrics)]
    # Whole names and numbers at 80 columns: no vertical rules, a constrained run's header wraps ("adapter" over
    # "schema"), and so do long change labels.
    table = new_table(
        title,
        caption="* a headline metric (metric definitions 3); every metric with its n, per split: reports/eval.json",
    )
    table.caption_justify = "left"
    table.add_column("metric", no_wrap=True, min_width=2 + max(len(s.name) for s in registry.QUALITY))
    for col in (*runs, *(["change", ""] if len(runs) == 2 else [])):
        table.add_column(col, justify="left" if col == "" else "right", no_wrap=col != "")
    for h in held:
        table.add_column(h.replace("_constrained", "\nschema"), justify="right")
    floor = any(k.startswith(f"{registry.FLOOR}.") for k in metrics)
    if floor:
        table.add_column("best\nfloor", justify="right")
    last = (runs or held)[-1]
    tested = paired.compare(records, records, old_run="base", new_run="adapter") if records and len(runs) == 2 else None
    for spec in registry.QUALITY:
        if f"{last}.{spec.name}" not in metrics:
            continue
        row = [("* " if spec.headline else "  ") + spec.name]
        row += [f"{metrics[f'{r}.{spec.name}']:.3f}" if f"{r}.{spec.name}" in metrics else "-" for r in runs]
        if len(runs) == 2:
            delta = metrics[f"adapter.{spec.name}"] - metrics[f"base.{spec.name}"]
            row += (
                [f"{delta:+.3f}", paired.change_label(spec.name, delta, tested)]
                if f"base.{spec.name}" in metrics
                else ["-", ""]
            )
        row += [f"{metrics[f'{h}.{spec.name}']:.3f}" if f"{h}.{spec.name}" in metrics else "-" for h in held]
        if floor:
            key = f"{registry.FLOOR}.{spec.name}"
            row.append(f"{metrics[key]:.3f}" if key in metrics else "-")
        table.add_row(*row)
    return table


#: How a generation stopped (:data:`kwanzaa_hub.runtime.generate.STOP_REASONS`), in words.
STOPPED = {  # tests/test_cli.py holds these keys equal to STOP_REASONS (importing them here would make the data
    # stage's command, which prints this module's data table, depend on the generation code)
    "eot": "ended their turn",
    "json_end": "stopped after a closed JSON object",
    "length": "cut by max_new_tokens",
    "budget": "closed early to fit max_new_tokens",
}


def generation_summary(report: dict[str, Any]) -> str:
    """One line per model: how generations stopped and the speed (kept apart from the quality metrics); then, per
    headline metric, the served run against the best floor in words (``does NOT beat`` where it does not), and any
    headline metric on which the references themselves do not outrank a floor."""
    from kwanzaa_hub.contract.metrics import registry

    lines = []
    for name in (registry.run_name(m, d) for m in reversed(registry.MODELS) for d in registry.DECODINGS):
        r = report.get(name)
        if r:
            stops = ", ".join(f"{v} {STOPPED.get(k, k)}" for k, v in r["stop_reasons"].items())
            lines.append(
                f"{name}: {stops}; {r['new_tokens']} new tokens in {r['seconds']} s "
                f"({r['tokens_per_s']} tokens/s, {r.get('ms_per_token', '?')} ms/token); "
                f"{r.get('placeholder_answers', 0)} placeholder answers"
            )
    per_step = report.get("constrained_cost_per_step") or {}
    for model, ratio in (report.get("constrained_cost") or {}).items():
        lines.append(
            f"{model}: constrained decoding costs {ratio}x the free time per token, {per_step.get(model, '?')}x per "
            "decoding step (same batches)"
        )
    floors = report.get("floors") or {}
    best = floors.get("best") or {}
    if best:
        lines.append(
            f"best floor per headline metric (metric definitions {report.get('metric_definitions', '?')}; trivial "
            "answers built from the prompt alone): "
            + ", ".join(f"{name} {b['floor']} {b['value']:.3f}" for name, b in best.items())
        )
    lines += floors.get("verdicts") or []
    for split, part in (report.get("splits") or {}).items():
        lines += [
            f"yardstick ({split} split): the references do not outrank a floor on {f}"
            for f in part.get("yardstick_failures", [])
        ]
    return "\n".join(lines)


def versions_table(repo_id: str, rows: list[dict[str, Any]]) -> Table:
    """One row per pushed version: commit, date and the adapter's headline metrics."""
    from kwanzaa_hub.contract.metrics import registry

    table = new_table(f"{repo_id} versions (headline metrics of the adapter)")
    for col in ("version", "commit", "date"):
        table.add_column(col)
    for name in registry.HEADLINE:
        table.add_column(registry.spec(name).header, justify="right")
    for row in rows:
        m = row["metrics"]
        values = [f"{m[f'adapter.{k}']:.3f}" if f"adapter.{k}" in m else "-" for k in registry.HEADLINE]
        name = row["version"] + (" (refused)" if row.get("problem") else "")
        table.add_row(name, row["commit"][:7], row["date"][:10], *values)
    refused = [f"refused: {row['problem']}" for row in rows if row.get("problem")]
    # a version whose files or tag do not match what was pushed: its numbers are not shown; the Hub's text, never markup
    table.caption = Text("\n".join([legend(registry.HEADLINE), *refused]), justify="left")
    return table


def diff_table(title: str, old: str, new: str, rows: list) -> Table:
    """The rows of a review (:class:`kwanzaa_hub.hub.records.Row`): per metric of a run (and split, when the review
    has two), both figures, the change, its label and the test that gave it."""
    splits = len({r.split for r in rows}) > 1
    # names come from the command line and the Hub: never markup; vertical rules between the cells of a review
    table = new_table(Text(title), box=box.HEAVY_HEAD, show_edge=True, pad_edge=True, collapse_padding=False)
    widest = max((len(r.name) for r in rows), default=6)
    for col in (*(["split"] if splits else []), "metric", old, new, "change", "", "test"):
        left = col in ("split", "metric", "", "test")
        table.add_column(Text(col), justify="left" if left else "right", min_width=widest if col == "metric" else None)
    for r in rows:
        cells = change_cells(r)
        table.add_row(*([r.split] if splits else []), r.name, *(Text(c) for c in cells))
    return table


def change_cells(row: Any) -> tuple[str, str, str, str, str]:
    """The cells every diff prints for one row of a review (:meth:`kwanzaa_hub.hub.records.Row.cells`)."""
    return row.cells()
