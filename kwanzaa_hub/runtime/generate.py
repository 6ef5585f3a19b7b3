"""Batched greedy generation: left padding, prompts sorted by length, and three ways an answer ends.

Each generation records why it stopped, so truncation is measured instead of guessed:

- ``eot``: the model wrote an end-of-turn / end-of-text token;
- ``json_end``: the model closed its top-level JSON object and then wrote :data:`GRACE_TOKENS` more tokens
  without ending its turn. The row stops there, which saves the CPU eval whatever a model rambles on with after
  its JSON; those few tokens stay in the answer, so text after the JSON still fails ``json.loads`` and is
  scored as non-compliant (a caller would receive it too);
- ``length``: ``max_new_tokens`` ran out first: the answer was cut off;
- ``budget`` (constrained decoding only): the budget was running out, so the row wrote the shortest ending its
  schema allows and closed its object (:mod:`kwanzaa_hub.runtime.constrained`): valid JSON, its text cut short.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kwanzaa_hub.runtime import chat
from kwanzaa_hub.runtime.jsontext import Strings
from kwanzaa_hub.runtime.models import set_pad_token

OPEN, CLOSE = 0x7B, 0x7D  # { }

STOP_REASONS = ("eot", "json_end", "length", "budget")
GRACE_TOKENS = 8  # generated after a closed JSON object before the row is stopped


@dataclass
class Generations:
    texts: list[str]
    new_tokens: int
    seconds: float
    stop_reasons: list[str] = field(default_factory=list)
    token_counts: list[int] = field(default_factory=list)
    #: decoding steps over all batches (a batch steps until its last row stops; finished rows still take part)
    steps: int = 0
    #: constrained decoding: milliseconds each distinct schema took to compile (a request schema: one per prompt)
    schema_ms: list[float] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


def stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """End-of-turn and end-of-text ids: whatever the generation config and tokenizer name."""
    ids = model.generation_config.eos_token_id
    ids = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
    for tok in ("<|eot_id|>", "<|end_of_text|>", tokenizer.eos_token):
        tid = tokenizer.convert_tokens_to_ids(tok) if tok else None
        if isinstance(tid, int) and tid != tokenizer.unk_token_id and tid not in ids:
            ids.append(tid)
    return ids


class JsonEnd:
    """Follows generated text chunk by chunk and says when the first top-level JSON object has closed.

    Braces inside strings (and escaped quotes) do not count. Text before the first ``{`` (prose, a code
    fence) is skipped, so a prose answer never "ends" here and runs to its end-of-turn token."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = self.closed = False
        self.strings = Strings()

    def feed(self, text: str) -> bool:
        for code in map(ord, text):
            if self.closed:
                break
            if not self.started:
                self.started = code == OPEN
                self.depth = int(self.started)
            elif self.strings.step(code) and code in (OPEN, CLOSE):
                self.depth += 1 if code == OPEN else -1
                self.closed = self.depth == 0
        return self.closed


def _json_stopper(tokenizer: Any, prompt_len: int, rows: int) -> Any:
    """A ``StoppingCriteria`` that stops each row :data:`GRACE_TOKENS` tokens after its JSON object closed."""
    import torch
    from transformers import StoppingCriteria

    class StopAtJsonEnd(StoppingCriteria):
        def __init__(self) -> None:
            self.trackers = [JsonEnd() for _ in range(rows)]
            self.after = [0] * rows  # tokens generated since the row's JSON closed

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = []
            for i, (tracker, row) in enumerate(zip(self.trackers, input_ids, strict=True)):
                if tracker.closed:
                    self.after[i] += 1
                elif row.shape[0] > prompt_len:
                    tracker.feed(tokenizer.decode(row[-1:], skip_special_tokens=True))
                done.append(self.after[i] >= GRACE_TOKENS)
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StopAtJsonEnd()


def finish(
    tail: Sequence[int], eos: Sequence[int], pad_id: int | None, tokenizer: Any, max_new_tokens: int
) -> tuple[str, int, str]:
    """(text, tokens generated, stop reason) of one row's generated ids. A row that stopped early is padded after
    its stop (where the pad token is the end-of-turn token, as in SmolLM2, such a stop reads as ``eot``)."""
    keep: list[int] = []
    ended = False
    for t in tail:
        if t in eos or t == pad_id:
            ended = t in eos
            break
        keep.append(t)
        if len(keep) == max_new_tokens:
            break
    text = tokenizer.decode(keep, skip_special_tokens=True)
    if ended:
        reason = "eot"
    elif JsonEnd().feed(text):
        reason = "json_end"  # the object is whole: not cut by the budget, whatever followed it
    else:
        reason = "length" if len(keep) >= max_new_tokens else "eot"
    return text, len(keep) + ended, reason


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict]],
    *,
    chat_date: str,
    max_new_tokens: int,
    batch_size: int,
    progress: Any = None,
    schema: dict | Sequence[dict] | None = None,
) -> Generations:
    """Greedy answers for chat prompts (system + user messages), in input order.

    ``progress``, when given, is called as ``progress(done_samples, new_tokens, seconds)`` after each batch.
    With a decoding ``schema`` every row is constrained to it (:mod:`kwanzaa_hub.runtime.constrained`) and ends when its
    JSON object is complete; a list gives each prompt its own schema (a request schema, in input order).
    ``Generations.schema_ms`` then holds what compiling each distinct schema cost.
    """
    import torch
    from transformers import LogitsProcessorList, StoppingCriteriaList

    set_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    # documents and questions stay plain text: only the template's own special tokens are special
    encoded = [chat.plain_text_ids(tokenizer, p, chat_date, add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
    texts: list[str] = [""] * len(encoded)
    reasons: list[str] = [""] * len(encoded)
    counts: list[int] = [0] * len(encoded)
    eos = stop_ids(tokenizer, model)
    device = next(model.parameters()).device
    constraint = None
    per_row = None if schema is None or isinstance(schema, dict) else list(schema)
    if per_row is not None and len(per_row) != len(prompts):
        raise ValueError(f"{len(per_row)} schemas for {len(prompts)} prompts")
    if schema is not None:
        from kwanzaa_hub.runtime.constrained import SchemaConstraint

        constraint = SchemaConstraint(tokenizer, schema if per_row is None else None, eos)
    start = time.perf_counter()
    steps = 0
    model.eval()
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(device)
        width = batch["input_ids"].shape[1]
        stoppers = StoppingCriteriaList([_json_stopper(tokenizer, width, len(idx))])
        rows = None if per_row is None else [per_row[i] for i in idx]
        processor = constraint.processor(len(idx), max_new_tokens, rows) if constraint else None
        processors = LogitsProcessorList([processor] if processor else [])
        with torch.inference_mode():
            gen = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=stoppers,
                logits_processor=processors,
            )
        steps += gen.shape[1] - width
        for row, i in zip(gen[:, width:].tolist(), idx, strict=False):
            texts[i], counts[i], reasons[i] = finish(row, eos, tokenizer.pad_token_id, tokenizer, max_new_tokens)
        if processor:  # rows the constraint closed early to fit the budget: whole objects, their text cut short
            for k, i in enumerate(idx):
                if processor.closed[k] and reasons[i] != "length":
                    reasons[i] = "budget"
        if progress:
            progress(min(b + batch_size, len(order)), sum(counts), time.perf_counter() - start)
    schema_ms = constraint.compile_ms if constraint else []
    return Generations(texts, sum(counts), time.perf_counter() - start, reasons, counts, steps, schema_ms)
