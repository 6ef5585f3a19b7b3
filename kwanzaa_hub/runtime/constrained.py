"""Schema-constrained decoding for Hugging Face ``generate``: decoding schema -> llguidance grammar -> logits
processor.

:class:`SchemaConstraint` compiles the schema once for a tokenizer; :meth:`SchemaConstraint.processor` gives the
``LogitsProcessor`` of one ``generate`` call, with one llguidance matcher per batch row, so batched, left-padded
generation works (the matcher sees only the row's generated tokens, never its padding or prompt). At each step a
row may take only the tokens its matcher allows; once the matcher accepts (the JSON object is closed) the row is
forced to end, with the first of the model's end ids. Every end id (Llama 3: 128001, 128008, 128009) ends a row.

The mask is applied with plain torch: llguidance's own helper is ``torch.compile``d, which costs about 80 s on its
first CPU call.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: What a constrained row that could not continue (the matcher refused every token, or failed) is told.
GRAMMAR_ERROR = "grammar"


def grammar(schema: dict[str, Any]) -> str:
    """The llguidance grammar of a decoding schema (its ``x-guidance`` block sets separators and whitespace)."""
    from llguidance import LLMatcher

    return LLMatcher.grammar_from_json_schema(json.dumps(schema))


class SchemaConstraint:
    """A decoding schema compiled for one tokenizer. ``eos_ids`` are every id that ends a row; the first one is
    what a finished row is forced to write."""

    def __init__(self, tokenizer: Any, schema: dict[str, Any], eos_ids: Sequence[int], vocab_size: int | None = None):
        import llguidance.hf
        from llguidance import LLMatcher

        if not eos_ids:
            raise ValueError("constrained decoding needs at least one end id")
        self.eos_ids = list(eos_ids)
        self.vocab_size = vocab_size
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, eos_token=self.eos_ids[0])
        self.template = LLMatcher(self.tokenizer, grammar(schema), log_level=0)
        if self.template.is_error():
            raise ValueError(f"the decoding schema does not compile: {self.template.get_error()}")
        self.errors: list[str] = []

    def processor(self, rows: int) -> Any:
        """A fresh ``LogitsProcessor`` for a batch of ``rows`` prompts."""
        return _Processor(self, rows)


def _unpack(words: Any, vocab: int) -> Any:
    """(rows, vocab) bool of allowed tokens from llguidance's (rows, words) int32 bitmask."""
    import torch

    shifts = torch.arange(32, dtype=torch.int32)
    bits = (words.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(words.shape[0], -1)[:, :vocab].bool()


class _Processor:
    def __init__(self, constraint: SchemaConstraint, rows: int) -> None:
        self.c = constraint
        self.matchers = [constraint.template.deep_copy() for _ in range(rows)]
        self.done = [False] * rows
        self.width: int | None = None  # prompt width: the first call sees no generated token

    def _consume(self, input_ids: Any) -> None:
        last = input_ids[:, -1].tolist()
        for i, (m, tok) in enumerate(zip(self.matchers, last, strict=True)):
            if self.done[i]:
                continue
            if tok in self.c.eos_ids:
                self.done[i] = True
                continue
            if not m.consume_token(tok):
                self.c.errors.append(m.get_error())

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        if self.width is None:
            self.width = input_ids.shape[1]
        else:
            self._consume(input_ids)
        vocab = scores.shape[-1]
        force_end, masks = [], {}
        for i, m in enumerate(self.matchers):
            if self.done[i]:
                continue  # generate pads a finished row whatever the scores say
            if m.is_error() or m.is_stopped() or m.is_accepting():
                force_end.append(i)
                continue
            masks[i] = np.frombuffer(m.compute_bitmask(), dtype=np.int32)
        # the mask's width is llguidance's to choose: a vocabulary of a multiple of 32 ids (SmolLM2: 49,152) gets
        # one word more than ceil(vocab / 32), so the width is read from the masks, never computed here
        n_words = max((len(w) for w in masks.values()), default=(self.c.tokenizer.vocab_size + 31) // 32)
        words = np.full((len(self.matchers), n_words), -1, dtype=np.int32)
        for i, w in masks.items():
            words[i, : len(w)] = w
        allowed = _unpack(torch.from_numpy(words), min(vocab, n_words * 32))
        if allowed.shape[1] < vocab:  # ids past the tokenizer's vocabulary (a padded embedding) are never text
            pad = torch.zeros(allowed.shape[0], vocab - allowed.shape[1], dtype=torch.bool)
            allowed = torch.cat([allowed, pad], dim=1)
        eos = self.c.eos_ids
        for i in range(len(self.matchers)):
            if self.done[i]:
                allowed[i] = True
            else:
                allowed[i, [e for e in eos if e < vocab]] = False  # a row ends only where the grammar has ended
        for i in force_end:
            allowed[i] = False
            allowed[i, eos[0]] = True
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))
