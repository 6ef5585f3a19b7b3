"""What ``kwanzaa-hub diff`` prints from a review (:func:`kwanzaa_hub.hub.records.review`): the table of figures
with each change's paired-test label, with ``--examples`` the prompts whose per-example value moved (fixed /
broken) with a one-line excerpt of both answers, with ``--md`` the same as Markdown (for a pull request or a Hub
discussion) on stdout."""

from __future__ import annotations

import re

from rich.text import Text

from kwanzaa_hub.cli.tables import change_cells
from kwanzaa_hub.console import result
from kwanzaa_hub.contract.metrics.paired import Change, Comparison

EXCERPT_CHARS = 60


def excerpt(generation: str, width: int = EXCERPT_CHARS) -> str:
    """One line of an answer: its ``answer.text`` (else the raw generation), whitespace collapsed, cut at ``width``."""
    from kwanzaa_hub.contract.metrics.scoring import answer_text

    line = re.sub(r"\s+", " ", answer_text(generation)).strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def _moved(c: Comparison) -> list[tuple[str, Change]]:
    return [("fixed", ch) for ch in c.fixed] + [("broken", ch) for ch in c.broken]


def _where(row, splits: int) -> str:
    return f"{row.name} ({row.split})" if splits > 1 else row.name


def print_examples(old: str, new: str, review) -> None:
    """Per row: the change, its label and test, the counts, and each prompt that moved."""
    result(Text(f"per example, {old} -> {new}"))
    for note in review.notes:
        result(Text(note))
    for row in review.rows:
        c = row.comparison
        a, b, change, label, evidence = change_cells(row)
        result(
            Text(
                f"\n{_where(row, len(review.splits))}: {a} -> {b} ({change}), {label}"
                f"{f' ({evidence})' if evidence else ''}: {len(c.fixed)} fixed, {len(c.broken)} broken, "
                f"{c.unchanged} unchanged"
            )
        )
        for verdict, ch in _moved(c):
            result(Text(f"  {verdict:<6} {ch.id} ({ch.category})  {ch.old:g} -> {ch.new:g}"))
            result(Text(f"         {old}: {excerpt(ch.old_generation)}"))
            result(Text(f"         {new}: {excerpt(ch.new_generation)}"))


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def markdown(title: str, old: str, new: str, review, examples: bool) -> str:
    """The diff as Markdown: the table, then (with ``examples``) the prompts that moved per row."""
    splits = len(review.splits)
    out = [f"### {_cell(title)}", ""] + [_cell(n) + "  " for n in review.notes] + [""]
    counts = "| fixed | broken | unchanged " if review.tested else ""
    out += [f"| metric | {_cell(old)} | {_cell(new)} | change | label {counts}| test |"]
    out += ["|---" * (9 if review.tested else 6) + "|"]
    for row in review.rows:
        a, b, change, label, evidence = change_cells(row)
        c = row.comparison
        extra = f"| {len(c.fixed)} | {len(c.broken)} | {c.unchanged} " if c else ""
        out.append(f"| {_where(row, splits)} | {a} | {b} | {change} | {label} {extra}| {evidence} |")
    for row in review.rows if examples else []:
        c = row.comparison
        if c is None or not (c.fixed or c.broken):
            continue
        out += ["", f"#### {_where(row, splits)}: {len(c.fixed)} fixed, {len(c.broken)} broken", ""]
        out += [f"| | id | category | {_cell(old)} | {_cell(new)} |", "|---|---|---|---|---|"]
        for verdict, ch in _moved(c):
            out.append(
                f"| {verdict} | {_cell(ch.id)} | {_cell(ch.category)} | {_cell(excerpt(ch.old_generation))} "
                f"| {_cell(excerpt(ch.new_generation))} |"
            )
    return "\n".join(out) + "\n"
