"""Task metrics as ``evaluate`` modules kept in the repo and loaded from their local path (no Hub).

Each module is a folder ``<name>/<name>.py`` holding one ``evaluate.Metric``; ``load(name)`` returns it.
The scoring functions live in :mod:`kwanzaa_hub.contract.metrics.scoring` so they are plain, importable and
tested directly; the modules are thin ``evaluate`` wrappers around them.
"""

from __future__ import annotations

import functools
from pathlib import Path

NAMES = ("format_compliance", "citation_accuracy", "grounding", "refusal")
HERE = Path(__file__).resolve().parent


@functools.cache
def load(name: str):
    """``evaluate.load`` on the module's local folder (never the network); loaded once per process,
    since eval scores every sample and every category with the same modules."""
    import evaluate

    if name not in NAMES:
        raise ValueError(f"unknown metric {name!r}; expected one of {NAMES}")
    return evaluate.load(str(HERE / name))


def metric_info(fn, inputs: str):
    """The ``evaluate.MetricInfo`` every module returns: the scoring function's docstring as description,
    string predictions and references as features."""
    import datasets
    import evaluate

    return evaluate.MetricInfo(
        description=fn.__doc__,
        citation="",
        inputs_description=inputs,
        features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
    )
