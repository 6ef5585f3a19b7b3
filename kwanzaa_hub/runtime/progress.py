"""What training shows on the console: transformers' progress bar, and one line per logging step where the
Trainer would print a Python dict (the same numbers dvclive records)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import ProgressCallback


def step_line(step: int, max_steps: int, logs: dict[str, Any]) -> str:
    """``step 3/30: loss 7.405, grad_norm 0.4844, learning_rate 0.0001, epoch 0.09``: the logged numbers in the
    Trainer's order, floats to 4 significant digits; ``total_flos`` (not a training signal) left out."""
    shown = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items() if k != "total_flos"]
    return f"step {step}/{max_steps}: " + ", ".join(shown)


class StepLines(ProgressCallback):
    """transformers' ProgressCallback with one plain line per logging step instead of the logs dict."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if state.is_world_process_zero and self.training_bar is not None:
            self.training_bar.write(step_line(state.global_step, state.max_steps, logs or {}))


def one_line_per_step(trainer: Any) -> None:
    """Swap the trainer's progress callback (there is one unless ``disable_tqdm``) for :class:`StepLines`."""
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(StepLines())


@contextmanager
def no_loading_bars() -> Iterator[None]:
    """No bars for loading weights (transformers) and passes over data (datasets) inside the block: while the
    trainer is built (TRL's tokenizing, labels, truncating, dropping: eight bars for a second's work, so training
    shows one bar, :class:`StepLines`, which these switches do not reach), while ``ask`` loads its model (its
    stderr holds real warnings only) and while the data stage saves its splits. Each switch is restored as it
    was."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets_on, hf_on = not datasets.are_progress_bars_disabled(), hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if datasets_on:
            datasets.enable_progress_bars()
        if hf_on:
            hf_logging.enable_progress_bar()
