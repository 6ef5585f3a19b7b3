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
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

import httpx2
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from kwanzaa_hub.errors import InputError, KwanzaaError

T = TypeVar("T")

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


# ------------------------------------------------------------------------ the fault policy: what is retried

# The requests huggingface_hub sends exactly once, read in its 2.4.0 source: whoami, repo_info/model_info, auth_check,
# list_repo_refs, create_repo, create_branch and create_tag call the shared client directly (hf_api.py), and so
# does create_commit's final commit POST (_commit_api._commit, retry_on_error=False), as does validate-yaml.
# Everything else it sends has its own backoff, 6 tries with waits of 1-8 s (utils/_http.py http_backoff): the
# preupload, the LFS batch, upload and verify (lfs.py), paginated listings such as list_repo_files and
# list_repo_commits (utils/_pagination.py), and the download HEAD (file_download.py, retried when nothing is
# cached); a download's GET resumes after a dropped connection. Retrying those here too would multiply the tries.
_REPO_API = r"/api/(?:models|datasets|spaces)/[^/]+/[^/]+"
SENT_ONCE = {
    "GET": re.compile(rf"(?:/api/whoami-v2|{_REPO_API}(?:/revision/[^/]+)?|{_REPO_API}/(?:refs|auth-check))$"),
    "POST": re.compile(rf"(?:/api/repos/create|/api/validate-yaml|{_REPO_API}/(?:branch|tag|commit)/[^/]+)$"),
}
# A download's GET is retried by the library on 408 and 429 only (file_download.py http_get,
# retry_on_status_codes=(408, 429)): a 5xx on it is ours to retry, the rest stays the library's.
DOWNLOAD_GET = re.compile(r"/resolve/[^/]+/.+$")
LIBRARY_RETRIES_ON_DOWNLOAD = (408, 429)


@dataclass
class RetryPolicy:
    """Our own retry of a request the library sends once (:data:`SENT_ONCE`): tries, backoff and time budget."""

    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    budget_s: float = 120.0


DEFAULT_RETRY = RetryPolicy()  # the default of retrying(); hub.client.call keeps its own (tests set a fast one)


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a Hub error (None for transport errors)."""
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def what_happened(exc: BaseException) -> BaseException:
    """The error that says what happened: a download that fails is re-raised by ``huggingface_hub`` as
    ``LocalEntryNotFoundError`` ("not cached") from the Hub's own answer (a 403, a 404, offline mode); that answer
    is what counts."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled

    seen, cause = [], exc
    while isinstance(cause, LocalEntryNotFoundError) and cause not in seen:
        seen.append(cause)
        nxt = cause.__cause__ or cause.__context__
        if isinstance(nxt, (HfHubHTTPError, OfflineModeIsEnabled, LocalEntryNotFoundError)):
            cause = nxt
        else:
            break
    return cause


def offline(exc: BaseException) -> bool:
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    return isinstance(exc, OfflineModeIsEnabled) or bool(constants.HF_HUB_OFFLINE)


def _failed_request(exc: BaseException) -> tuple[str, str] | None:
    """(method, URL path) of the request ``exc`` answers: the response's request for a Hub error, the request of a
    transport error; None when neither is known."""
    from urllib.parse import urlsplit

    response = getattr(exc, "response", None)
    try:
        request = response.request if response is not None else exc.request  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError for a request that was never set
        return None
    return request.method, urlsplit(str(request.url)).path


def ours_to_retry(exc: BaseException) -> bool:
    """True for a transient failure (the library's own list of statuses and errors) of a request the library sent
    once; what the library retried itself, and everything permanent, is final."""
    exc = what_happened(exc)
    if offline(exc):  # offline mode (or a host name that does not resolve) does not pass by waiting
        return False
    request = _failed_request(exc)
    if not transient(exc) or request is None:  # the library's own list
        return False
    method, path = request
    if method == "GET" and DOWNLOAD_GET.search(path):
        return status_of(exc) not in (None, *LIBRARY_RETRIES_ON_DOWNLOAD)
    sent_once = SENT_ONCE.get(method)
    return sent_once is not None and sent_once.search(path) is not None


def _retry_after(exc: BaseException, policy: RetryPolicy) -> float | None:
    """Seconds the server asked us to wait, clamped to ``[0, policy.max_delay_s]``; None when it sent no usable
    number (absent, negative, not finite, or an HTTP date)."""
    response = getattr(exc, "response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, policy.max_delay_s)


def retrying(
    fn: Callable[..., T],
    *args: Any,
    what: str,
    fail: Callable[[BaseException], BaseException],
    retry: RetryPolicy | None = None,
    **kwargs: Any,
) -> T:
    """``fn(*args, **kwargs)`` under the one fault policy of every Hub request this package makes itself (the
    adapter's repo through :func:`kwanzaa_hub.hub.client.call`, the base model's checks through
    :mod:`kwanzaa_hub.runtime.models`): a transient failure of a request the library sent once
    (:func:`ours_to_retry`) is retried with backoff within ``retry``'s budget; every other failure, or the last,
    is raised as ``fail(exc)`` (the caller's message)."""
    from kwanzaa_hub.console import console

    policy = retry or DEFAULT_RETRY
    with_timeouts()  # a Hub that accepts the connection and never answers ends as a transient failure
    start = time.monotonic()
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn(*args, **kwargs)
        except KwanzaaError:
            raise
        except Exception as exc:
            asked = _retry_after(exc, policy)
            delay = asked if asked is not None else min(policy.base_delay_s * 2 ** (attempt - 1), policy.max_delay_s)
            spent = time.monotonic() - start
            if not ours_to_retry(exc) or attempt == policy.attempts or spent + delay > policy.budget_s:
                raise fail(exc) from None
            console.print(
                f"hub: {what}: {status_of(exc) or type(exc).__name__}, retrying in {delay:.1f} s "
                f"(attempt {attempt + 1}/{policy.attempts})"
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


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
