"""The one scrubber: the Hub token never leaves the process, not even inside a library's error.

Lowest layer, so that every layer can use it: ``runtime`` (the base model's downloads), ``hub`` (the adapter's
repo) and :mod:`kwanzaa_hub.console` (``error`` and ``warn``, the CLI's last line of defence). Every message
built from an exception goes through :func:`scrub` or :func:`describe`.

What is removed: the token ``huggingface_hub`` sends (:func:`get_token`: ``HF_TOKEN``, the saved login, a Colab
secret), ``HF_TOKEN`` itself, whatever follows ``Bearer`` (a server or proxy that quotes the ``Authorization``
header back), and anything shaped like a Hugging Face token (``hf_`` and 30+ letters or digits).
"""

from __future__ import annotations

import os
import re

MASK = "***"
_BEARER = re.compile(r"\b(Bearer)(\s+|%20|\+)(?!\*\*\*)[^\s'\",;)\]}]+")
_HF_TOKEN = re.compile(r"\bhf_[A-Za-z0-9]{30,}")


def get_token() -> str | None:
    """The token ``huggingface_hub`` sends with a Hub request (None without one)."""
    from huggingface_hub import get_token as hf_get_token

    return hf_get_token()


def scrub(text: str) -> str:
    """``text`` with every token (see the module's docstring) replaced by ``***``."""
    text = str(text)
    for token in {get_token(), os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")}:
        if token and token.strip():
            text = text.replace(token.strip(), MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _HF_TOKEN.sub(MASK, text)


def describe(exc: BaseException) -> str:
    """An exception as one scrubbed line: its message with whitespace folded (its type name when it has none)."""
    text = " ".join(str(exc).split())
    return scrub(text or type(exc).__name__)
