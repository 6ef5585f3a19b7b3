"""What training shows on the console: one readable line per logging step (loss, learning rate, tokens/s, time
left), where transformers would draw a progress bar and print a Python dict of raw trainer keys; the eval-loss pass
as a labelled bar on a terminal. Nothing is redrawn with ``\\r`` when stderr is a file or a pipe (a log, Colab's
cells): lines only. The same numbers go to DVCLive."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from transformers import PrinterCallback, ProgressCallback, TrainerCallback


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else (f"{seconds // 60}:{seconds % 60:02d}")
    )


def step_line(
    step: int, max_steps: int, logs: dict[str, Any], tokens_per_s: float | None = None, eta_s: float | None = None
) -> str | None:
    """``step 3/30  loss 7.4051  lr 9.97e-04  2,997 tokens/s  eta 0:07`` for a training log, ``step 30/30  eval
    loss 7.1424`` for an evaluation; None for the run's closing summary (the stage's last line says it)."""
    head = f"step {step}/{max_steps}"
    if "loss" in logs:
        parts = [head, f"loss {logs['loss']:.4f}"]
        if isinstance(logs.get("learning_rate"), (int, float)):
            lr = logs["learning_rate"]
            parts.append(f"lr {lr:.2e}" if lr else "lr 0 (warm-up)")
        if tokens_per_s:
            parts.append(f"{tokens_per_s:,.0f} tokens/s")
        if eta_s is not None:
            parts.append(f"eta {_clock(eta_s)}")
        return "  ".join(parts)
    if "eval_loss" in logs:
        return f"{head}  eval loss {logs['eval_loss']:.4f}"
    return None


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class StepLines(TrainerCallback):
    """One plain line per logging step (:func:`step_line`, on stderr) in place of transformers' progress bar and its
    logs dict; the pace (tokens/s, time left) is measured from this process's start, so a resumed run's is its
    own. The eval-loss pass is a bar labelled "eval loss" on a terminal, nothing otherwise."""

    def __init__(self) -> None:
        self._start: tuple[float, int, int] | None = None
        self._bar: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._start = (time.perf_counter(), state.global_step, int(state.num_input_tokens_seen or 0))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        tokens_per_s = eta = None
        if self._start is not None:
            began, step0, tokens0 = self._start
            elapsed = time.perf_counter() - began
            done = state.global_step - step0
            if elapsed > 0 and done > 0:
                tokens_per_s = (int(state.num_input_tokens_seen or 0) - tokens0) / elapsed or None
                eta = (state.max_steps - state.global_step) * elapsed / done
        line = step_line(state.global_step, state.max_steps, logs or {}, tokens_per_s, eta)
        if line:
            print(line, file=sys.stderr, flush=True)

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any):
        if not state.is_world_process_zero or not is_terminal(sys.stderr) or eval_dataloader is None:
            return
        if self._bar is None:
            from tqdm.auto import tqdm

            total = len(eval_dataloader) if hasattr(eval_dataloader, "__len__") else None
            self._bar = tqdm(total=total, desc="eval loss", unit="batch", leave=False, file=sys.stderr)
        self._bar.update(1)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    on_predict = on_evaluate


def one_line_per_step(trainer: Any) -> None:
    """Swap the trainer's progress bar (or its printer of logs dicts) for :class:`StepLines`."""
    trainer.pop_callback(ProgressCallback)
    trainer.pop_callback(PrinterCallback)
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
