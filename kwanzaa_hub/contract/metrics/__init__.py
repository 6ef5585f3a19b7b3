"""The metric suite: one spec per metric (:mod:`.specs`), the views' helpers (:mod:`.registry`), the per-example
judgements (:mod:`.scoring`), and the whole spec table as one ``evaluate`` module kept in the repo and loaded from
its local path (never the Hub): ``load()`` returns it.
"""

from __future__ import annotations

import functools
from pathlib import Path

NAMES = ("answer_quality",)
HERE = Path(__file__).resolve().parent


@functools.cache
def load(name: str = "answer_quality"):
    """``evaluate.load`` on the module's local folder (never the network); loaded once per process."""
    import evaluate

    if name not in NAMES:
        raise ValueError(f"unknown metric {name!r}; expected one of {NAMES}")
    return evaluate.load(str(HERE / name))
