"""Batched greedy generation: left padding, stop at end of turn, prompts sorted by length per batch."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

from kwanzaa_hub import chat


@dataclass
class Generations:
    texts: list[str]
    new_tokens: int
    seconds: float

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


def generate(model: Any, tokenizer: Any, prompts: Sequence[list[dict]], *, chat_date: str, max_new_tokens: int,
             batch_size: int, progress: Any = None) -> Generations:
    """Greedy answers for chat prompts (system + user messages), in input order.

    ``progress``, when given, is called as ``progress(done_samples, new_tokens, seconds)`` after each batch.
    """
    import torch

    from kwanzaa_hub.train import set_pad_token

    set_pad_token(tokenizer)
    tokenizer.padding_side = "left"
    rendered = [chat.render_text(tokenizer, p, chat_date, add_generation_prompt=True) for p in prompts]
    encoded = [tokenizer(r, add_special_tokens=False)["input_ids"] for r in rendered]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]), reverse=True)
    out: list[str] = [""] * len(encoded)
    eos = stop_ids(tokenizer, model)
    device = next(model.parameters()).device
    new_tokens = 0
    start = time.perf_counter()
    model.eval()
    for b in range(0, len(order), batch_size):
        idx = order[b:b + batch_size]
        batch = tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt").to(device)
        with torch.inference_mode():
            gen = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos,
                                 pad_token_id=tokenizer.pad_token_id)
        tail = gen[:, batch["input_ids"].shape[1]:]
        for row, i in zip(tail, idx):
            real = row[row != tokenizer.pad_token_id]
            keep = []
            for t in real.tolist():
                if t in eos:
                    break
                keep.append(t)
            new_tokens += len(keep) + (1 if len(keep) < len(real) else 0)
            out[i] = tokenizer.decode(keep, skip_special_tokens=True)
        if progress:
            progress(min(b + batch_size, len(order)), new_tokens, time.perf_counter() - start)
    return Generations(out, new_tokens, time.perf_counter() - start)
