"""Talking to the Hub: token and preflight, repo visibility, immutable version pushes, verified pulls.

Every call goes through :func:`call`, which turns a failure into a :class:`HubError` that says what went wrong
and what to do. What is retried is the one Hub fault policy of :mod:`kwanzaa_hub.runtime.hubhttp`: retrying is
``huggingface_hub``'s own (``http_backoff``) wherever it has one; :func:`call` retries only the requests the library
sends once (``SENT_ONCE``), on the library's own transient statuses and errors, within a bounded budget and
honouring ``Retry-After``. The token is read by ``huggingface_hub``
(``HF_TOKEN`` or the saved login) and never formatted into a message: :func:`kwanzaa_hub.redact.scrub` removes it
from any text that leaves this module.

A version is a commit holding the payload files plus ``kwanzaa_manifest.json`` (sha256 of every payload
file), with a tag ``vN`` on it. Pushing the same payload again is a no-op; pushing a different payload
under an existing tag is refused. Pulls download exactly the manifest's files and check every hash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kwanzaa_hub.errors import InputError, KwanzaaError
from kwanzaa_hub.redact import get_token, scrub
from kwanzaa_hub.runtime.hubhttp import (  # noqa: F401 - SENT_ONCE, what_happened: this module's API, kept
    READ_ENV,
    SENT_ONCE,
    DeadlineExceeded,
    NameNotResolved,
    RetryPolicy,
    advice,
    offline,
    retrying,
    status_of,
    timeouts,
    what_happened,
    with_timeouts,
)

T = TypeVar("T")
DEFAULT_RETRY: RetryPolicy = RetryPolicy()  # call()'s default policy (a test sets a fast one here)


class HubError(KwanzaaError):
    """A Hub call failed for good (after retries where it was transient). ``status`` is the Hub's HTTP status
    (None for a transport error)."""

    status: int | None = None


class VersionConflict(HubError):
    """The tag exists on different content."""

    exit_code = 2


def api() -> Any:
    from huggingface_hub import HfApi

    with_timeouts()
    return HfApi()


def explain(exc: BaseException, what: str, repo_id: str = "") -> HubError:
    """A Hub failure as a message that says what happened and how to fix it."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    exc = what_happened(exc)
    status = status_of(exc)
    said = (getattr(exc, "server_message", None) or str(exc)).lower()
    reading = what.startswith(("downloading", "reading", "listing"))
    if isinstance(exc, (NameNotResolved, DeadlineExceeded)):  # one line: what happened is the whole story
        return HubError(f"{what} failed: {scrub(str(exc))}; {advice(exc)}")
    if offline(exc):
        hint = (
            "offline mode is on (HF_HUB_OFFLINE=1) and this needs the Hub; unset HF_HUB_OFFLINE (or set it to 0) "
            "and rerun."
        )
    elif status == 401 and get_token() and ("credential" in said or "token" in said):
        hint = "the token was rejected. Create a new one at https://huggingface.co/settings/tokens and set HF_TOKEN."
    elif status == 403 and reading:
        hint = (
            f"the Hub refused this token read access to {repo_id or 'that repo'} (403 Forbidden): use a token that "
            "may read it (a fine-grained token needs repo read on it; a gated model needs its license accepted)."
        )
    elif isinstance(exc, TimeoutError) or type(exc).__name__.endswith("Timeout"):
        hint = (
            f"the Hub did not answer within {timeouts()[1]:g} s, on every try; rerun later (a slow link: raise "
            f"{READ_ENV})."
        )
    elif isinstance(exc, LocalEntryNotFoundError):
        hint = "the Hub could not be reached or kept failing, and no copy is cached; rerun later."
    elif isinstance(exc, RemoteEntryNotFoundError):
        hint = f"that file is not in {repo_id} at this revision."
    elif isinstance(exc, GatedRepoError):
        hint = f"{repo_id} is gated: accept its license on the Hub, then log in (`hf auth login`) or set HF_TOKEN."
    elif isinstance(exc, RevisionNotFoundError):
        hint = f"that version does not exist in {repo_id}; list them with `kwanzaa-hub versions {repo_id}`."
    elif isinstance(exc, RepositoryNotFoundError) or status == 404:
        hint = (
            f"{repo_id} does not exist or this token cannot see it (private). Check hub.repo_id and log in "
            "with `hf auth login` or set HF_TOKEN."
        )
    elif status == 401:
        hint = "the token was rejected. Create a new one at https://huggingface.co/settings/tokens and set HF_TOKEN."
    elif status == 403:
        hint = (
            f"this token cannot write to {repo_id.split('/')[0] if repo_id else 'that namespace'}. Use a token with "
            "write access (a 'write' token, or a fine-grained one with repo write on the namespace)."
        )
    elif status == 409:
        hint = "the Hub reports a conflict (the tag or repo already exists)."
    elif status == 412:
        hint = "someone else committed to the repo at the same time; rerun to push on top of their commit."
    elif status == 413:
        hint = "a file is too large for the Hub; check what train.output_dir holds."
    elif status == 429:
        hint = "the Hub is rate-limiting this token; wait a few minutes and rerun."
    elif status is not None and status >= 500:
        hint = "the Hub is failing (server error); rerun later." + (
            " Large files (LFS) already uploaded are not sent again: the Hub keeps them by hash."
            if what.startswith(("committing", "uploading", "mirroring"))
            else ""
        )
    elif isinstance(exc, HfHubHTTPError):
        hint = "see the Hub's answer above; fix what it names and rerun."
    else:
        hint = "the Hub could not be reached or kept failing; check the network (and HF_ENDPOINT) and rerun later."
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    said = (getattr(exc, "server_message", None) or "").strip()
    if said and said not in detail:
        detail = f"{detail.rstrip(': ')}: {said}"  # the Hub's own words ("see the Hub's answer" points here)
    detail = scrub(" ".join(detail.split()))
    failed = HubError(f"{what} failed ({status or type(exc).__name__}): {detail}\n  {hint}")
    failed.status = status
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError)) and status != 401:
        failed.exit_code = 2  # a repo or version name to fix (or a token to give), not a Hub failure
    return failed


def call(
    fn: Callable[..., T], *args: Any, what: str, repo_id: str = "", retry: RetryPolicy | None = None, **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)`` under the one Hub fault policy (:func:`kwanzaa_hub.runtime.hubhttp.retrying`: a
    transient failure of a request the library sent once is retried within ``retry``'s budget); the final failure
    becomes a ``HubError`` that says what to do (:func:`explain`)."""
    return retrying(
        fn, *args, what=what, retry=retry or DEFAULT_RETRY, fail=lambda exc: explain(exc, what, repo_id), **kwargs
    )


# ---------------------------------------------------------------------------------------- preflight


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is ``namespace/name``; an ``InputError`` otherwise."""
    from kwanzaa_hub.config.names import repo_id_problem

    problem = repo_id_problem(repo_id)
    if problem:
        raise InputError(f"{repo_id!r} is not a Hub repo id: {problem}")
    return repo_id


def preflight(repo_id: str) -> dict[str, Any]:
    """Check, before any long work, that a token exists and may write to ``repo_id``'s namespace."""
    check_repo_id(repo_id)
    if not get_token():
        raise InputError(
            "no Hub token: set HF_TOKEN (in Colab: add it to the notebook's secrets) or run "
            "`hf auth login` with a write token"
        )
    who = call(api().whoami, what="checking the Hub token")
    namespace = repo_id.split("/")[0]
    orgs = {o.get("name"): o.get("roleInOrg") for o in who.get("orgs", [])}
    token = (who.get("auth") or {}).get("accessToken") or {}
    role = token.get("role")
    if role == "fineGrained":
        scoped = (token.get("fineGrained") or {}).get("scoped", [])
        can_write = any(
            s.get("entity", {}).get("name") == namespace and "repo.write" in s.get("permissions", []) for s in scoped
        ) or "repo.write" in ((token.get("fineGrained") or {}).get("global") or [])
    else:
        can_write = role in ("write", "admin")
    if not can_write:
        raise InputError(
            f"the Hub token of {who.get('name')} is {role or 'unknown'}-only: {repo_id} needs a token with "
            "write access (https://huggingface.co/settings/tokens)"
        )
    if namespace != who.get("name") and orgs.get(namespace) not in ("write", "admin", "contributor"):
        raise InputError(
            f"hub.repo_id: {who.get('name')} cannot write to namespace {namespace!r} "
            f"(user {who.get('name')!r}, orgs {sorted(orgs) or 'none'}); use your own namespace or an org "
            "where you have write access"
        )
    return {"user": who.get("name"), "namespace": namespace, "role": role}


def ensure_repo(repo_id: str, *, private: bool, allow_public: bool) -> bool:
    """Create the repo (private unless told otherwise) or check the existing one's visibility. True if created."""
    from huggingface_hub.errors import RepositoryNotFoundError

    hub = api()

    def info_or_none():
        try:
            return hub.repo_info(repo_id)
        except RepositoryNotFoundError as exc:
            if status_of(exc) == 401 and get_token():
                raise  # a rejected token, not a missing repo
            return None

    info = call(info_or_none, what=f"reading {repo_id}", repo_id=repo_id)
    if info is None:
        call(hub.create_repo, repo_id, private=private, exist_ok=True, what=f"creating {repo_id}", repo_id=repo_id)
        return True
    if not info.private and not allow_public:
        raise InputError(
            f"{repo_id} exists and is public, and hub.private is {private}: refusing to push there. "
            "Make it private on the Hub, or set hub.allow_public: true to publish."
        )
    return False
