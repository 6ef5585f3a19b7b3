"""Rich tables for the stages' on-screen summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from kwanzaa_hub.console import console, error, warn
from kwanzaa_hub.contract.answer import CATEGORIES

SHORT = ("grnd", "multi", "part", "refuse", "uncited")  # CATEGORIES, abbreviated for 80 columns


def _warning_kinds(warnings: list[str]) -> Counter:
    """Group warnings by their message with the place and numbers stripped."""
    import re

    return Counter(re.sub(r"\d+", "N", w.split(": ", 1)[-1].split("'")[0])[:90] for w in warnings)


def print_data_summary(report: dict[str, Any], warnings: list[str]) -> None:
    table = Table(title="data report", show_lines=False)
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
    if warnings:
        warn(f"{len(warnings)} in the data (full list in the report):")
        for kind, n in _warning_kinds(warnings).most_common(8):
            console.print(f"  {n} x {kind}")


def print_validation(results: list) -> int:
    """Print one row per file and every error; return the error count."""
    table = Table(title="validation")
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
    console.print(table)
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
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    table.add_column("metric", no_wrap=True, min_width=2 + max(len(s.name) for s in registry.QUALITY))
    for col in (*runs, *(["change", ""] if len(runs) == 2 else [])):
        table.add_column(col, justify="left" if col == "" else "right", no_wrap=col != "")
    for h in held:
        table.add_column(h.replace("_constrained", " schema"), justify="right")
    floor = any(k.startswith(f"{registry.FLOOR}.") for k in metrics)
    if floor:
        table.add_column("best floor", justify="right")
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


def generation_summary(report: dict[str, Any]) -> str:
    """One line per model: how generations stopped and the speed (kept apart from the quality metrics); then, per
    headline metric, the served run against the best floor in words (``does NOT beat`` where it does not), and any
    headline metric on which the references themselves do not outrank a floor."""
    from kwanzaa_hub.contract.metrics import registry

    lines = []
    for name in (registry.run_name(m, d) for m in reversed(registry.MODELS) for d in registry.DECODINGS):
        r = report.get(name)
        if r:
            stops = ", ".join(f"{k} {v}" for k, v in r["stop_reasons"].items())
            lines.append(
                f"{name}: stopped by {stops}; {r['new_tokens']} new tokens in {r['seconds']} s "
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

    table = Table(title=f"{repo_id} versions (headline metrics of the adapter)")
    for col in ("version", "commit", "date"):
        table.add_column(col)
    for name in registry.HEADLINE:
        table.add_column(f"{name} {'(higher)' if registry.spec(name).higher_is_better else '(lower)'}", justify="right")
    for row in rows:
        m = row["metrics"]
        values = [f"{m[f'adapter.{k}']:.3f}" if f"adapter.{k}" in m else "-" for k in registry.HEADLINE]
        table.add_row(
            row["version"] + (" (refused)" if row.get("problem") else ""), row["commit"][:12], row["date"][:19], *values
        )
    refused = [row["problem"] for row in rows if row.get("problem")]
    if refused:  # a version whose files or tag do not match what was pushed: its numbers are not shown
        table.caption = Text("\n".join(f"refused: {problem}" for problem in refused))  # the Hub's text, never markup
    return table


def diff_table(
    repo_id: str, old: str, new: str, rows: list[tuple[str, Any, Any]], *, per_category: bool, comparisons=None
) -> Table:
    """Each quality metric of two versions, the change, and whether it is better or worse for that metric (for a
    headline metric with per-example ``comparisons``: the paired test's label)."""
    from kwanzaa_hub.contract.metrics import registry

    known = [(k, a, b) for k, a, b in rows if k.rsplit(".", 1)[-1] in registry.BY_NAME]
    known = [(k, a, b) for k, a, b in known if per_category or k.count(".") == 1]
    order = registry.ordered({k: 0 for k, _, _ in known})
    values = {k: (a, b) for k, a, b in known}
    table = Table(title=f"{repo_id}: {old} -> {new}")
    for col in ("metric", old, new, "change", ""):
        table.add_column(col, justify="left" if col in ("metric", "") else "right")
    for key in order:
        table.add_row(key, *change_cells(key, *values[key], comparisons))
    return table


def change_cells(name: str, a: Any, b: Any, comparisons: dict | None) -> tuple[str, str, str, str]:
    """Old value, new value, the change and its label (``within noise (n = 27)`` where a paired test ran): the cells
    every diff prints for one metric, "-" where a side has no value."""
    from kwanzaa_hub.contract.metrics import paired

    numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
    return (
        "-" if a is None else f"{a:.3f}",
        "-" if b is None else f"{b:.3f}",
        f"{b - a:+.3f}" if numbers else "-",
        paired.change_label(name, b - a, comparisons) if numbers else "",
    )
