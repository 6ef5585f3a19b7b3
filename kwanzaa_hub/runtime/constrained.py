"""Schema-constrained decoding for Hugging Face ``generate``: decoding schema -> llguidance grammar -> logits
processor.

:class:`SchemaConstraint` compiles the schema once for a tokenizer; :meth:`SchemaConstraint.processor` gives the
``LogitsProcessor`` of one ``generate`` call, with one llguidance matcher per batch row, so batched, left-padded
generation works (the matcher sees only the row's generated tokens, never its padding or prompt). At each step a
row may take only the tokens its matcher allows; once the matcher accepts (the JSON object is closed) the row is
forced to end, with the first of the model's end ids. Every end id (Llama 3: 128001, 128008, 128009) ends a row.

**The budget.** A bound on every field does not bound the whole answer by ``max_new_tokens`` (the team's schema
allows about three times its longest reference answer), and a model that loops would be cut inside the grammar.
Given the budget, the processor keeps, for every row, the plan that would finish the object from where it stands
(:class:`Closer`: end the open string, write the smallest value each remaining required key accepts, close every
container; about 60 tokens mid-answer on the team's schema). It is re-planned whenever a token touches the
structure (a byte outside a string). Once the budget comes within the plan's length plus :data:`LOOKAHEAD`, each
step also plans after the token the model is about to take (the row's best allowed token: exact for greedy
decoding, which is what this project runs); when that plan and the end token would no longer fit, the row writes
its closing plan instead. Such a row ends with a whole, schema-valid object whose text was cut short, and is listed
in ``closed`` so the caller reports it (stop reason ``budget``), never as a natural end.

**Digits.** JSON Schema bounds a float's range but not its digits (``multipleOf`` would refuse the references'
17-digit scores), so a model can write ``1.000000...`` until the budget ends (the tiny demo model did). A row that
has written :data:`MAX_DIGITS` digits in a row outside a string may not start another token with a digit: the
number ends there, and the grammar takes what follows.

The mask is applied with plain torch: llguidance's own helper is ``torch.compile``d, which costs about 80 s on its
first CPU call.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Sequence
from typing import Any

from kwanzaa_hub.runtime.jsontext import DIGITS, Strings

#: How far ahead of its closing plan a row starts looking one token ahead: the most one token raised the plan on
#: the team's reference answers (SmolLM2's tokenizer) was 64 tokens (a ``{`` opening a source's 9 required keys).
LOOKAHEAD = 128
#: The most digits one number of an answer may write in a row: the team's reference answers' longest run is 17 (a
#: float's shortest repr, ``0.12345678901234567``); 3 more leave room for leading zeros.
MAX_DIGITS = 20


def grammar(schema: dict[str, Any]) -> str:
    """The llguidance grammar of a decoding schema (its ``x-guidance`` block sets separators and whitespace)."""
    from llguidance import LLMatcher

    return LLMatcher.grammar_from_json_schema(json.dumps(schema))


class SchemaConstraint:
    """Decoding schemas compiled for one tokenizer. ``schema`` is the default one (every row's, unless a processor is
    given one schema per row: a request schema, :mod:`kwanzaa_hub.contract.request_schema`). ``eos_ids`` are every id
    that ends a row; the first one is what a finished row is forced to write. The tokenizer is converted once; each
    distinct schema is compiled once, and :attr:`compile_ms` records what each compile cost (first and repeated)."""

    def __init__(
        self, tokenizer: Any, schema: dict[str, Any] | None, eos_ids: Sequence[int], vocab_size: int | None = None
    ):
        import llguidance.hf

        if not eos_ids:
            raise ValueError("constrained decoding needs at least one end id")
        self.eos_ids = list(eos_ids)
        self.vocab_size = vocab_size
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, eos_token=self.eos_ids[0])
        self.compile_ms: list[float] = []
        self._compiled: dict[str, Any] = {}
        self.template = self.matcher(schema) if schema is not None else None
        self.errors: list[str] = []
        self.closer = Closer(self.tokenizer)
        self._digit_first: Any = None

    def digit_first(self, width: int) -> Any:
        """(width,) bool: the token ids whose text starts with a digit (ids past the tokenizer's vocabulary: none)."""
        if self._digit_first is None or len(self._digit_first) != width:
            import torch

            first = [self.tokenizer.decode_bytes([t])[:1] for t in range(min(width, self.tokenizer.vocab_size))]
            flags = [bool(b) and b[0] in DIGITS for b in first]
            self._digit_first = torch.tensor(flags + [False] * (width - len(flags)), dtype=torch.bool)
        return self._digit_first

    def matcher(self, schema: dict[str, Any]) -> Any:
        """The compiled matcher of ``schema`` (a fresh copy to consume tokens with); compiled on first use."""
        from llguidance import LLMatcher

        key = json.dumps(schema, sort_keys=True)
        if key not in self._compiled:
            start = time.perf_counter()
            m = LLMatcher(self.tokenizer, grammar(schema), log_level=0)
            if m.is_error():
                raise ValueError(f"the decoding schema does not compile: {m.get_error()}")
            self.compile_ms.append((time.perf_counter() - start) * 1000)
            self._compiled[key] = m
        return self._compiled[key].deep_copy()

    def processor(
        self, rows: int, max_new_tokens: int | None = None, schemas: Sequence[dict[str, Any]] | None = None
    ) -> Any:
        """A fresh ``LogitsProcessor`` for a batch of ``rows`` prompts, held to ``schemas`` (one per row) or else to
        the default schema. With ``max_new_tokens`` (the ``generate`` call's budget) every row closes its object in
        time (see the module's docstring)."""
        if schemas is None:
            if self.template is None:
                raise ValueError("no decoding schema: give one per row or a default one")
            matchers = [self.template.deep_copy() for _ in range(rows)]
        else:
            if len(schemas) != rows:
                raise ValueError(f"{len(schemas)} schemas for {rows} rows")
            matchers = [self.matcher(s) for s in schemas]
        return _Processor(self, matchers, max_new_tokens)


def _unpack(words: Any, vocab: int) -> Any:
    """(rows, vocab) bool of allowed tokens from llguidance's (rows, words) int32 bitmask."""
    import torch

    shifts = torch.arange(32, dtype=torch.int32)
    bits = (words.unsqueeze(-1) >> shifts) & 1
    return bits.reshape(words.shape[0], -1)[:, :vocab].bool()


#: The closer's order of preference, one character (one token) at a time. Outside a string: end what is open, then
#: the separator a required key needs, then the smallest values; inside one: end it, else the plainest characters
#: that a pattern, an enum or a minimum length wants. Where the grammar forces bytes (keys, separators) it writes
#: them whole.
_OUTSIDE = '}]",:0123456789[{ftn.-\n '  # whitespace last: the grammar never needs it
_INSIDE = '"abcdefghijklmnopqrstuvwxyz0123456789:/.-_TZ+ ABCDEFGHIJKLMNOPQRSTUVWXYZ'


class Closer:
    """Plans the tokens that finish an open answer: a deterministic walk of the grammar that ends strings and
    containers as soon as the schema allows and writes the smallest value each remaining required key accepts."""

    def __init__(self, tokenizer: Any) -> None:
        def single(data: bytes) -> int | None:
            ids = tokenizer.tokenize_bytes(data)
            return ids[0] if len(ids) == 1 else None

        def tokens(chars: list[bytes]) -> list[int]:
            return [t for t in map(single, chars) if t is not None]

        self.tokenizer = tokenizer
        self.outside = tokens([c.encode() for c in _OUTSIDE])
        # a row may stop inside a multi-byte character (a token holding its first bytes): a continuation byte
        # (0x80-0xBF) completes it before the string can end
        self.inside = tokens([c.encode() for c in _INSIDE] + [bytes([b]) for b in range(0x80, 0xC0)])

    def plan(self, matcher: Any, strings: Strings, limit: int) -> list[int] | None:
        """The closing tokens from ``matcher``'s state (left unchanged), or None when the walk is stuck or needs
        more than ``limit`` tokens. The walk goes one character at a time (bytes the grammar forces at once); its
        bytes are then tokenized whole, which takes about a third of the tokens, and kept when the grammar accepts
        that tokenization too."""
        m, s, walked = matcher.deep_copy(), strings.copy(), []
        while not m.is_accepting():
            if len(walked) >= 4 * limit or m.is_error() or m.is_stopped():
                return None
            forced = m.compute_ff_bytes()
            taken: list[int] = []
            if forced:
                ids = self.tokenizer.tokenize_bytes(forced)
                taken = ids[: m.try_consume_tokens(ids)]
            if not taken:
                order = self.inside if s.inside else self.outside
                taken = next(([t] for t in order if m.try_consume_tokens([t])), [])
            if not taken:
                return None
            walked.extend(taken)
            s.feed(self.tokenizer.decode_bytes(taken))
        whole = self.tokenizer.tokenize_bytes(self.tokenizer.decode_bytes(walked))
        check = matcher.deep_copy()
        best = whole if check.try_consume_tokens(whole) == len(whole) and check.is_accepting() else walked
        return best if len(best) <= limit else None


#: The closer of each Hugging Face tokenizer :func:`smallest_answer` has seen: converting a tokenizer for llguidance
#: costs about 0.3 s (SmolLM2's), so an adapter that answers many questions converts it once.
_CLOSERS: weakref.WeakKeyDictionary[Any, Closer] = weakref.WeakKeyDictionary()


def smallest_answer(tokenizer: Any, schema: dict[str, Any]) -> int:
    """The fewest new tokens (``max_new_tokens``) in which constrained decoding under ``schema`` is sure to write a
    whole answer with ``tokenizer``: the closing plan from an empty answer (:class:`Closer`: the smallest value of
    every required key, tokenized whole) plus the end token, which the processor keeps room for. Below it, no row
    can be closed in time and the answer is cut."""
    import llguidance.hf
    from llguidance import LLMatcher

    closer = _CLOSERS.get(tokenizer)
    if closer is None:
        closer = _CLOSERS[tokenizer] = Closer(llguidance.hf.from_tokenizer(tokenizer))
    matcher = LLMatcher(closer.tokenizer, grammar(schema), log_level=0)
    if matcher.is_error():
        raise ValueError(f"the decoding schema does not compile: {matcher.get_error()}")
    plan = closer.plan(matcher, Strings(), 100_000)
    if plan is None:
        raise ValueError("no answer under the decoding schema could be planned: the closer found no way to finish it")
    return len(plan) + 1


class _Processor:
    def __init__(self, constraint: SchemaConstraint, matchers: list[Any], max_new_tokens: int | None) -> None:
        self.c = constraint
        self.budget = max_new_tokens
        self.matchers = matchers
        rows = len(matchers)
        self.strings = [Strings() for _ in range(rows)]
        self.done = [False] * rows
        self.closed = [False] * rows  # rows that wrote their closing plan because the budget was running out
        self.plans: list[list[int] | None] = [None] * rows  # each row's closing plan, kept fresh near the budget
        self.forcing: list[list[int]] = [[] for _ in range(rows)]  # what a closing row has still to write
        self.width: int | None = None  # prompt width: the first call sees no generated token

    def _consume(self, input_ids: Any) -> None:
        last = input_ids[:, -1].tolist()
        for i, (m, tok) in enumerate(zip(self.matchers, last, strict=True)):
            if self.done[i]:
                continue
            if tok in self.c.eos_ids:
                self.done[i] = True
                continue
            if self.forcing[i]:
                self.forcing[i].pop(0)
            if not m.consume_token(tok):
                self.c.errors.append(m.get_error())
            elif self.strings[i].feed(self.c.tokenizer.decode_bytes([tok])) and self.budget is not None:
                self.plans[i] = None  # the structure moved: re-plan when the budget is near

    def _plan(self, i: int, left: int) -> list[int] | None:
        if self.plans[i] is None:
            self.plans[i] = self.c.closer.plan(self.matchers[i], self.strings[i], left)
        return self.plans[i]

    def _fits_after(self, i: int, tok: int, left: int) -> bool:
        """Whether the row can still close (plan + end token) within ``left`` after writing ``tok`` now."""
        m, s = self.matchers[i].deep_copy(), self.strings[i].copy()
        if not m.consume_token(tok):
            return False
        s.feed(self.c.tokenizer.decode_bytes([tok]))
        plan = self.c.closer.plan(m, s, left - 2) if not m.is_accepting() else []
        return plan is not None and len(plan) + 2 <= left

    def _budget(self, i: int, generated: int, scores_row: Any) -> int | None:
        """The token row ``i`` must write now to close in time, or None to let the model choose."""
        if self.forcing[i]:
            return self.forcing[i][0]
        left = self.budget - generated  # tokens this row may still write, this one included
        plan = self._plan(i, left)
        if plan is None or left > len(plan) + 1 + LOOKAHEAD:
            return None
        if self._fits_after(i, int(scores_row.argmax()), left):
            return None
        # planned afresh: a plan kept from earlier in an open string may no longer fit it (a length bound, a pattern)
        plan = self.c.closer.plan(self.matchers[i], self.strings[i], left - 1)
        if not plan:
            return None  # too late to close (a budget below the smallest answer): the row runs to its cut
        self.closed[i] = True
        self.forcing[i] = plan
        return plan[0]

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
        long_numbers = [i for i in masks if self.strings[i].digits >= MAX_DIGITS]
        if long_numbers:
            allowed[long_numbers] &= ~self.c.digit_first(allowed.shape[1])
        eos = self.c.eos_ids
        for i in range(len(self.matchers)):
            if self.done[i]:
                allowed[i] = True
            else:
                allowed[i, [e for e in eos if e < vocab]] = False  # a row ends only where the grammar has ended
        for i in force_end:
            allowed[i] = False
            allowed[i, eos[0]] = True
        out = scores.masked_fill(~allowed.to(scores.device), float("-inf"))
        if self.budget is not None:
            generated = input_ids.shape[1] - self.width
            for i in masks:
                tok = self._budget(i, generated, out[i])
                if tok is not None:
                    out[i] = float("-inf")
                    out[i, tok] = 0.0
        return out
