"""Where a stream of JSON text stands: inside a string or not, escapes followed.

One lexer for the two places that follow generated JSON as it is written: the free-decoding stop at the end of
the object (text, :class:`~kwanzaa_hub.runtime.generate.JsonEnd`) and the constrained closer (bytes,
:mod:`kwanzaa_hub.runtime.constrained`). It takes code points and bytes alike: the characters it looks for are
ASCII, and neither a non-ASCII code point nor a UTF-8 continuation byte can equal one.
"""

from __future__ import annotations

from collections.abc import Iterable

QUOTE, BACKSLASH = 0x22, 0x5C
DIGITS = range(0x30, 0x3A)


class Strings:
    """Whether the text so far stands inside a JSON string, whether its last character escapes the next, and how
    many digits in a row end it outside a string (``digits``: the run of the number being written, 0 elsewhere)."""

    __slots__ = ("digits", "escaped", "inside")

    def __init__(self, inside: bool = False, escaped: bool = False, digits: int = 0) -> None:
        self.inside, self.escaped, self.digits = inside, escaped, digits

    def copy(self) -> Strings:
        return Strings(self.inside, self.escaped, self.digits)

    def step(self, code: int) -> bool:
        """Take one character (code point or byte); True when it is structure: it stood outside a string, or it
        is the quote that ends one."""
        if not self.inside:
            self.inside = code == QUOTE
            self.digits = self.digits + 1 if code in DIGITS else 0
            return True
        if self.escaped:
            self.escaped = False
        elif code == BACKSLASH:
            self.escaped = True
        elif code == QUOTE:
            self.inside = False
            return True
        return False

    def feed(self, data: Iterable[int]) -> bool:
        """Take every character of ``data``; True when any of them was structure (see :meth:`step`)."""
        structural = False
        for code in data:
            structural = self.step(code) or structural
        return structural
