"""The offline picture of a training run: train and eval loss and the learning rate per step, as an SVG the train
stage writes beside DVCLive's files (dvc.yaml declares it as a plot). Text, no plotting library, no network: any
browser, Colab (``IPython.display.SVG``) or ``dvc plots show`` shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import Params


def curves_file(params: Params) -> Path:
    """The offline picture of the run (dvc.yaml's train plot): train and eval loss, and the learning rate."""
    return Path(params.train.dvclive_dir) / "curves.svg"


def curves_svg(history: list[dict[str, Any]]) -> str:
    """Two charts side by side, drawn from the Trainer's log history: train and eval loss per step, and the learning
    rate per step. SVG (text, no plotting library, no network): any browser or ``dvc plots show`` shows it."""
    series = [
        ("loss", [("train loss", "#1f77b4", "loss"), ("eval loss", "#d62728", "eval_loss")]),
        ("learning rate", [("learning rate", "#2ca02c", "learning_rate")]),
    ]
    width, height, pad = 380, 260, 50
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        f'<rect width="{2 * width}" height="{height}" fill="white"/>',
    ]
    for panel, (title, lines) in enumerate(series):
        x0, points = panel * width, {}
        for label, _, key in lines:
            points[label] = [(h["step"], float(h[key])) for h in history if isinstance(h.get(key), (int, float))]
        every = [p for pts in points.values() for p in pts]
        parts.append(f'<text x="{x0 + width / 2}" y="16" text-anchor="middle" font-size="13">{title}</text>')
        if not every:
            parts.append(f'<text x="{x0 + width / 2}" y="{height / 2}" text-anchor="middle">nothing logged</text>')
            continue
        (xmin, xmax), (ymin, ymax) = ((min(v), max(v)) for v in ([p[0] for p in every], [p[1] for p in every]))
        xspan, yspan = (xmax - xmin) or 1, (ymax - ymin) or abs(ymax) or 1
        left, right, top, bottom = x0 + pad + 10, x0 + width - 15, 30, height - pad

        def at(
            step: float, value: float, box: tuple[float, ...] = (left, right, top, bottom, xmin, xspan, ymin, yspan)
        ):
            l_, r_, t_, b_, x_min, x_span, y_min, y_span = box
            return f"{l_ + (step - x_min) / x_span * (r_ - l_):.1f},{b_ - (value - y_min) / y_span * (b_ - t_):.1f}"

        parts.append(
            f'<polyline points="{left},{top} {left},{bottom} {right},{bottom}" fill="none" stroke="#444"/>'
            f'<text x="{left - 4}" y="{top + 4}" text-anchor="end">{ymax:.3g}</text>'
            f'<text x="{left - 4}" y="{bottom}" text-anchor="end">{ymin:.3g}</text>'
            f'<text x="{left}" y="{bottom + 14}" text-anchor="middle">{xmin:g}</text>'
            f'<text x="{right}" y="{bottom + 14}" text-anchor="middle">{xmax:g}</text>'
            f'<text x="{(left + right) / 2}" y="{bottom + 14}" text-anchor="middle">step</text>'
        )
        for i, (label, colour, _) in enumerate(lines):
            pts = points[label]
            if pts:
                drawn = " ".join(at(*p) for p in pts)
                parts.append(f'<polyline points="{drawn}" fill="none" stroke="{colour}" stroke-width="2"/>')
                parts += [
                    f'<circle cx="{c.split(",")[0]}" cy="{c.split(",")[1]}" r="2.5" fill="{colour}"/>'
                    for c in drawn.split()
                ]
            parts.append(
                f'<text x="{left + 8 + i * 110}" y="{height - 12}" fill="{colour}">&#9632; {label}'
                f"{'' if pts else ' (none logged)'}</text>"
            )
    return "\n".join([*parts, "</svg>"]) + "\n"
