"""What ``kwanzaa-hub diff`` prints: the headline table with each change's paired-test label, and with
``--examples`` the prompts whose per-example verdict changed (fixed / broken) with a one-line excerpt of both
answers; ``--md`` the same as Markdown (for a pull request or a Hub discussion) on stdout."""

from __future__ import annotations

import re

from rich.text import Text

from kwanzaa_hub.cli.tables import change_cells
from kwanzaa_hub.console import console
from kwanzaa_hub.contract.metrics import registry
from kwanzaa_hub.contract.metrics.paired import LEVEL, Change, Comparison

EXCERPT_CHARS = 60


def excerpt(generation: str, width: int = EXCERPT_CHARS) -> str:
    """One line of an answer: its ``answer.text`` (else the raw generation), whitespace collapsed, cut at ``width``."""
    from kwanzaa_hub.contract.metrics.scoring import answer_text

    line = re.sub(r"\s+", " ", answer_text(generation)).strip()
    return line if len(line) <= width else line[: width - 1] + "…"


def headline_rows(old: dict[str, float], new: dict[str, float], comparisons: dict[str, Comparison] | None) -> list:
    """``(metric, old, new, change, label, evidence)`` for each headline metric of the adapter in either version."""
    rows = []
    for name in registry.HEADLINE:
        a, b = old.get(f"adapter.{name}"), new.get(f"adapter.{name}")
        if a is None and b is None:
            continue
        c = (comparisons or {}).get(name)
        rows.append((name, *change_cells(name, a, b, comparisons), c.evidence if c else ""))
    return rows


def _moved(c: Comparison) -> list[tuple[str, Change]]:
    return [("fixed", ch) for ch in c.fixed] + [("broken", ch) for ch in c.broken]


def print_examples(old: str, new: str, rows: list, comparisons: dict[str, Comparison]) -> None:
    """Per headline metric: the change, its label and test, the counts, and each prompt that moved."""
    console.print(f"per example, adapter, {old} -> {new}; {LEVEL}")
    for name, a, b, change, label, evidence in rows:
        c = comparisons[name]
        console.print(
            Text(
                f"\n{name}: {a} -> {b} ({change}), {label}{f' ({evidence})' if evidence else ''}: "
                f"{len(c.fixed)} fixed, {len(c.broken)} broken, {c.unchanged} unchanged"
            )
        )
        for verdict, ch in _moved(c):
            console.print(Text(f"  {verdict:<6} {ch.id} ({ch.category})  {ch.old:g} -> {ch.new:g}"))
            console.print(Text(f"         {old}: {excerpt(ch.old_generation)}"))
            console.print(Text(f"         {new}: {excerpt(ch.new_generation)}"))


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def markdown(title: str, old: str, new: str, rows: list, comparisons: dict[str, Comparison] | None, note: str) -> str:
    """The diff as Markdown: the headline table, then (with ``comparisons``) the prompts that moved per metric."""
    out = [f"### {_cell(title)}", "", _cell(note), ""]
    counts = "| fixed | broken | unchanged " if comparisons else ""
    out += [f"| metric | {old} | {new} | change | label {counts}| test |", "|---" * (9 if comparisons else 6) + "|"]
    for name, a, b, change, label, evidence in rows:
        c = (comparisons or {}).get(name)
        extra = f"| {len(c.fixed)} | {len(c.broken)} | {c.unchanged} " if c else ""
        out.append(f"| {name} | {a} | {b} | {change} | {label} {extra}| {evidence} |")
    for name, *_ in rows:
        c = (comparisons or {}).get(name)
        if c is None or not (c.fixed or c.broken):
            continue
        out += ["", f"#### {name}: {len(c.fixed)} fixed, {len(c.broken)} broken", ""]
        out += [f"| | id | category | {old} | {new} |", "|---|---|---|---|---|"]
        for verdict, ch in _moved(c):
            out.append(
                f"| {verdict} | {_cell(ch.id)} | {_cell(ch.category)} | {_cell(excerpt(ch.old_generation))} "
                f"| {_cell(excerpt(ch.new_generation))} |"
            )
    return "\n".join(out) + "\n"
