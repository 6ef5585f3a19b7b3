"""Every Hub request under one transport policy: the HTTP client ``huggingface_hub`` shares, as this package sets it.

``huggingface_hub`` sends every request through one shared client (:func:`huggingface_hub.get_session`), and so do
transformers and peft when they download the base model, so the policy set here holds for all Hub I/O: the
adapter's repo (:mod:`kwanzaa_hub.hub.client`, which adds its retry budget and messages) and the base model's
files (:mod:`kwanzaa_hub.runtime.models`). :func:`with_timeouts` installs it before each Hub call.

- **Timeouts**: ``KWANZAA_HUB_CONNECT_TIMEOUT`` seconds to connect, ``KWANZAA_HUB_READ_TIMEOUT`` seconds without a
  byte (the library sets none: a Hub that accepts and never answers would hold a command forever).
- **An overall deadline per request** (:class:`DeadlineExceeded`): ``KWANZAA_HUB_DEADLINE`` seconds for the whole
  request, plus one second per :data:`MIN_RATE` bytes sent or received, so a big file that flows is never cut
  while a Hub that trickles (a byte a second restarts the read timeout each time) ends. Not retried, not resumed.
- **A host name that does not resolve** (:class:`NameNotResolved`): no network, no DNS, a typo in
  ``HF_ENDPOINT``. Not a transient fault: it fails at once, and a download falls back to the cache.
- **Which faults are transient**: the library's own lists (:func:`transient`); its backoff retries those on the
  requests it retries, :func:`kwanzaa_hub.hub.client.call` on the requests it sends once.

The private names of ``huggingface_hub`` this needs are read in one place, :func:`_library_private`, and
tests/test_hub.py fails loudly when one disappears (the tested versions are pinned in ``constraints.txt``).
"""

from __future__ import annotations

import contextvars
import math
import os
import socket
import threading
import time
from types import SimpleNamespace
from typing import Any

import httpx2
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from kwanzaa_hub.errors import InputError, KwanzaaError

CONNECT_ENV, READ_ENV, DEADLINE_ENV = "KWANZAA_HUB_CONNECT_TIMEOUT", "KWANZAA_HUB_READ_TIMEOUT", "KWANZAA_HUB_DEADLINE"
DEFAULTS = {CONNECT_ENV: 10.0, READ_ENV: 60.0, DEADLINE_ENV: 300.0}
#: Bytes a second below which a transfer no longer holds its request's deadline open.
MIN_RATE = 16 * 1024
_installed: tuple[float, float, float] | None = None


class DeadlineExceeded(httpx2.TransportError):
    """A request that did not complete within its deadline. Deliberately none of the library's transient errors
    (a timeout would make its download resume, again and again, as long as a byte arrives)."""


class NameNotResolved(OfflineModeIsEnabled):
    """The Hub's host name does not resolve. To ``huggingface_hub`` this is offline mode: it retries nothing and a
    download uses the cached copy when there is one."""


def advice(exc: BaseException) -> str:
    """What to do about a :class:`NameNotResolved` or a :class:`DeadlineExceeded`."""
    if isinstance(exc, NameNotResolved):
        return "check the network connection (and HF_ENDPOINT), then rerun; not retried: it is not a transient fault"
    return f"the Hub sent its answer too slowly; rerun later (a slow link: raise {DEADLINE_ENV})"


def settings() -> tuple[float, float, float]:
    """(connect, read, deadline) seconds from the environment, or the defaults; anything but a positive number is
    refused."""
    found = []
    for name, default in DEFAULTS.items():
        raw = os.environ.get(name, "").strip()
        try:
            seconds = float(raw) if raw else default
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise InputError(f"{name}={raw!r}: give the time in seconds, a positive number (default {default:g})")
        found.append(seconds)
    return found[0], found[1], found[2]


def timeouts() -> tuple[float, float]:
    """(connect, read) seconds (see :func:`settings`)."""
    return settings()[:2]


def with_timeouts() -> None:
    """Make ``huggingface_hub``'s shared client the one of this module's policy (again when the settings changed)."""
    global _installed
    wanted = settings()
    if wanted == _installed:
        return
    from huggingface_hub import set_client_factory

    _library_private()  # fail here, loudly, if the library changed under the code
    set_client_factory(_client)
    _installed = wanted


def transient(exc: BaseException) -> bool:
    """True for a failure ``huggingface_hub`` itself counts as transient (and retries where it has a backoff)."""
    lib = _library_private()
    if isinstance(exc, HfHubHTTPError):
        return getattr(exc.response, "status_code", None) in lib.retry_statuses
    return isinstance(exc, lib.retry_errors)


def _library_private() -> SimpleNamespace:
    """The private names of ``huggingface_hub`` read here, and only here: its default client factory (no public
    function builds the library's own client, with its request hooks: offline mode, request ids) and its lists of
    transient statuses and errors (its file_download.py imports them the same way)."""
    try:
        from huggingface_hub.utils._http import (
            _DEFAULT_RETRY_ON_EXCEPTIONS,
            _DEFAULT_RETRY_ON_STATUS_CODES,
            default_client_factory,
        )
    except ImportError as exc:
        from huggingface_hub import __version__

        raise KwanzaaError(
            f"huggingface_hub {__version__} no longer has {exc.name or exc}, which kwanzaa_hub reads: install the "
            "tested versions (pip install -c constraints.txt -e .)"
        ) from None
    return SimpleNamespace(
        client_factory=default_client_factory,
        retry_errors=tuple(_DEFAULT_RETRY_ON_EXCEPTIONS),
        retry_statuses=tuple(_DEFAULT_RETRY_ON_STATUS_CODES),
    )


def _client() -> httpx2.Client:
    """The library's own client (its hooks, its redirects), with this module's timeouts, deadline and DNS rule."""
    connect, read, deadline = settings()
    library = _library_private().client_factory()
    client = _HubClient(
        event_hooks=library.event_hooks,
        follow_redirects=library.follow_redirects,
        trust_env=library.trust_env,
        timeout=httpx2.Timeout(read, connect=connect),
    )
    library.close()
    client.deadline_s = deadline
    return client


class _Deadline:
    def __init__(self, seconds: float, request: httpx2.Request):
        self.seconds, self.request = seconds, request
        self.end = time.monotonic() + seconds

    def moved(self, n: int) -> None:
        self.end += n / MIN_RATE

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(
            f"no complete answer from {self.request.url.host} within {self.seconds:g} s ({DEADLINE_ENV})",
            request=self.request,
        )


class _HubClient(httpx2.Client):
    """``send`` under a deadline: the answer's head is awaited on a worker thread for what is left of it (a read
    blocked on a trickle cannot be interrupted otherwise), its body is checked between chunks."""

    deadline_s: float = DEFAULTS[DEADLINE_ENV]

    def send(self, request: httpx2.Request, *, stream: bool = False, **kwargs: Any) -> httpx2.Response:
        deadline = _Deadline(self.deadline_s, request)
        deadline.moved(int(request.headers.get("content-length") or 0))
        try:
            response = _within(deadline, super().send, request, stream=True, **kwargs)
        except httpx2.ConnectError as exc:
            reason = _unresolved(exc)
            if reason is None:
                raise
            raise NameNotResolved(f"cannot resolve {request.url.host} ({reason})") from exc
        response.stream = _DeadlineStream(response.stream, deadline)
        if not stream:
            try:
                response.read()
            except BaseException:
                response.close()
                raise
        return response


class _DeadlineStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, deadline: _Deadline):
        self._inner, self._deadline = inner, deadline

    def __iter__(self):
        for chunk in self._inner:
            self._deadline.moved(len(chunk))
            if self._deadline.remaining() < 0:
                raise self._deadline.exceeded()
            yield chunk

    def close(self) -> None:
        self._inner.close()


def _within(deadline: _Deadline, fn: Any, *args: Any, **kwargs: Any) -> httpx2.Response:
    """``fn(*args, **kwargs)`` (with this thread's context), or :class:`DeadlineExceeded` when the deadline passes
    first; an answer that arrives after that is closed by the worker."""
    context, lock, done = contextvars.copy_context(), threading.Lock(), threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            result = context.run(fn, *args, **kwargs)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        else:
            with lock:
                late = box.get("abandoned", False)
                box["response"] = result
            if late:
                result.close()
        finally:
            done.set()

    threading.Thread(target=work, name="kwanzaa-hub-request", daemon=True).start()
    if not done.wait(max(0.0, deadline.remaining())):
        with lock:
            if "response" not in box and "error" not in box:
                box["abandoned"] = True
                raise deadline.exceeded()
        done.wait()
    if "error" in box:
        raise box["error"]
    return box["response"]


def _unresolved(exc: BaseException) -> str | None:
    """The resolver's words when ``exc`` was caused by a host name that does not resolve, else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, socket.gaierror):
            return exc.strerror or str(exc)
        exc = exc.__cause__ or exc.__context__
    return None
