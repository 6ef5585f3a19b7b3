"""Hub requests that cannot hang: connect and read timeouts on the HTTP client ``huggingface_hub`` shares.

``huggingface_hub`` builds its client without a timeout, so a Hub (or a proxy) that accepts the connection and
never answers would hold every command forever. Each Hub request here gives up after
``KWANZAA_HUB_CONNECT_TIMEOUT`` seconds without a connection or ``KWANZAA_HUB_READ_TIMEOUT`` seconds without a
byte of the answer; ``huggingface_hub``'s own backoff then decides, or ``kwanzaa_hub.hub.client.call``'s retry budget
for the requests the library sends once. transformers and
peft download through the same client, so the base model's files get the same timeouts.
"""

from __future__ import annotations

import math
import os

from kwanzaa_hub.errors import InputError

CONNECT_ENV, READ_ENV = "KWANZAA_HUB_CONNECT_TIMEOUT", "KWANZAA_HUB_READ_TIMEOUT"
DEFAULTS = {CONNECT_ENV: 10.0, READ_ENV: 60.0}
_installed: tuple[float, float] | None = None


def timeouts() -> tuple[float, float]:
    """(connect, read) seconds from the environment, or the defaults; anything but a positive number is refused."""
    found = []
    for name, default in DEFAULTS.items():
        raw = os.environ.get(name, "").strip()
        try:
            seconds = float(raw) if raw else default
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise InputError(f"{name}={raw!r}: give the timeout in seconds, a positive number (default {default:g})")
        found.append(seconds)
    return found[0], found[1]


def with_timeouts() -> None:
    """Give ``huggingface_hub``'s shared client the timeouts of :func:`timeouts` (again when they changed)."""
    global _installed
    wanted = timeouts()
    if wanted == _installed:
        return
    import httpx2
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils._http import default_client_factory

    connect, read = wanted

    def client_with_timeouts() -> httpx2.Client:
        client = default_client_factory()  # the library's own client (its request hooks), with timeouts
        client.timeout = httpx2.Timeout(read, connect=connect)
        return client

    set_client_factory(client_with_timeouts)
    _installed = wanted
