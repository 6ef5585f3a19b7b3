"""Text as compared for leakage between the splits: two prompts a reader takes for the same are the same here.

One rule (:func:`comparable`), used for whole prompts and for queries: Unicode NFKC (compatibility forms such as
full-width letters and ligatures become the plain ones), zero-width and other invisible format characters removed,
every run of whitespace one space, no space before punctuation (``what ?`` is ``what?``), no space at either end,
case folded."""

from __future__ import annotations

import re
import unicodedata

#: Characters that take no room on screen: zero-width space, joiners, word joiner, byte-order mark, soft hyphen, the
#: invisible operators. NFKC keeps them, so they are removed by name (every other format character goes too).
_INVISIBLE = {"\u00ad", "\u180e", "\u200b", "\u200c", "\u200d", "\u2060", "\u2061", "\u2062", "\u2063", "\u2064"}
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)\]}»”’。、？！，：；])")
_SPACES = re.compile(r"\s+")


def comparable(text: str) -> str:
    """``text`` in the form two texts are compared in for leakage (see the module)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if c not in _INVISIBLE and unicodedata.category(c) != "Cf")
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return text.strip().casefold()
