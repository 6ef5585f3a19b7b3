"""Talking to the Hub: token and preflight, repo visibility, immutable version pushes, verified pulls.

Every call goes through :func:`call`, which retries what is transient (429 with ``Retry-After``, 5xx,
dropped connections, truncated downloads) within a bounded budget and turns the rest into a
:class:`HubError` that says what went wrong and what to do. The token is read by ``huggingface_hub``
(``HF_TOKEN`` or the saved login) and never formatted into a message: :func:`scrub` removes it from any
text that leaves this module.

A version is a commit holding the payload files plus ``kwanzaa_manifest.json`` (sha256 of every payload
file), with a tag ``vN`` on it. Pushing the same payload again is a no-op; pushing a different payload
under an existing tag is refused. Pulls download exactly the manifest's files and check every hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kwanzaa_hub.errors import InputError, KwanzaaError

MANIFEST = "kwanzaa_manifest.json"
CARD_FILE = "README.md"
#: Where a version keeps the pipeline's outputs in the Hub repo: fixed names, whatever the local paths are, so
#: every version of every project reads the same way (``versions``, ``diff``, ``pull``).
REPO_LAYOUT = {
    "metrics": "metrics.json",
    "data_report": "reports/data.json",
    "train_report": "reports/train.json",
    "eval_report": "reports/eval.json",
    "eval_details": "eval/details.json",
    "params": "params.yaml",
    #: the decoding schema a server enforces (vLLM ``response_format``, llama.cpp ``json_schema``, ``ask``)
    "decoding_schema": "answer.schema.json",
}
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
T = TypeVar("T")


class HubError(KwanzaaError):
    """A Hub call failed for good (after retries where it was transient)."""


class VersionConflict(HubError):
    """The tag exists on different content."""

    exit_code = 2


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    budget_s: float = 120.0


DEFAULT_RETRY = RetryPolicy()


def get_token() -> str | None:
    from huggingface_hub import get_token as hf_get_token

    return hf_get_token()


def scrub(text: str) -> str:
    """``text`` with the active token replaced by ``***``."""
    token = get_token()
    return text.replace(token, "***") if token else text


def api() -> Any:
    from huggingface_hub import HfApi

    return HfApi()


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


def _offline(exc: BaseException) -> bool:
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    return isinstance(exc, OfflineModeIsEnabled) or bool(constants.HF_HUB_OFFLINE)


def _is_transient(exc: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    exc = what_happened(exc)
    if _offline(exc):  # offline mode does not pass by waiting
        return False
    if isinstance(exc, LocalEntryNotFoundError):  # the download could not reach the Hub and nothing was cached
        return True
    if isinstance(exc, HfHubHTTPError):
        return status_of(exc) in TRANSIENT_STATUS
    if type(exc).__module__.startswith("httpx") or isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return isinstance(exc, OSError) and "Consistency check failed" in str(exc)


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
    if _offline(exc):
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
        hint = "the Hub is failing (server error); rerun later, finished uploads are kept."
    elif isinstance(exc, HfHubHTTPError):
        hint = "see the Hub's answer above; fix what it names and rerun."
    else:
        hint = "the Hub could not be reached or kept failing; check the network (and HF_ENDPOINT) and rerun later."
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    said = (getattr(exc, "server_message", None) or "").strip()
    if said and said not in detail:
        detail = f"{detail.rstrip(': ')}: {said}"  # the Hub's own words ("see the Hub's answer" points here)
    detail = scrub(" ".join(detail.split()))
    return HubError(f"{what} failed ({status or type(exc).__name__}): {detail}\n  {hint}")


def call(
    fn: Callable[..., T], *args: Any, what: str, repo_id: str = "", retry: RetryPolicy | None = None, **kwargs: Any
) -> T:
    """``fn(*args, **kwargs)``, retrying transient failures with backoff; other failures become ``HubError``."""
    from kwanzaa_hub.console import console

    policy = retry or DEFAULT_RETRY
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
            if not _is_transient(exc) or attempt == policy.attempts or spent + delay > policy.budget_s:
                raise explain(exc, what, repo_id) from None
            console.print(
                f"hub: {what}: {status_of(exc) or type(exc).__name__}, retrying in {delay:.1f} s "
                f"(attempt {attempt + 1}/{policy.attempts})"
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------- preflight


def check_repo_id(repo_id: str) -> str:
    """``repo_id`` when it is ``namespace/name``; an ``InputError`` otherwise."""
    from kwanzaa_hub.config.params import repo_id_problem

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


# ---------------------------------------------------------------------------------------- versions


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(files: dict[str, Path]) -> dict[str, str]:
    """``{path in repo: sha256}`` of the payload (the card excluded: it carries the git commit)."""
    return {name: sha256_file(path) for name, path in sorted(files.items()) if name != CARD_FILE}


@dataclass
class PushResult:
    repo_id: str
    version: str
    commit: str
    url: str
    noop: bool
    files: dict[str, str] = field(default_factory=dict)


def read_json(
    repo_id: str, filename: str, revision: str, *, missing_ok: bool = False, retry: RetryPolicy | None = None
) -> Any:
    """A JSON file of the repo at ``revision``. A file that is not JSON is a ``HubError`` that says so; a file
    that is not there is None with ``missing_ok``, a ``HubError`` otherwise."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    def download() -> str | None:
        try:
            return hf_hub_download(repo_id, filename, revision=revision)
        except RemoteEntryNotFoundError:  # the Hub says it is not there (not: the Hub could not be reached)
            if missing_ok:
                return None
            raise

    path = call(download, what=f"downloading {filename}@{revision}", repo_id=repo_id, retry=retry)
    if path is None:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HubError(f"{repo_id}@{revision}: {filename} is not valid JSON ({exc}); refusing it") from None


_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_manifest(data: Any, where: str) -> dict[str, str]:
    """``data`` as a manifest (``{path: sha256}``), or a ``HubError`` saying what is wrong with it."""
    if not isinstance(data, dict) or not data:
        raise HubError(f"{where}: {MANIFEST} is not a non-empty object of file -> sha256; refusing this version")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str) or not _SHA256.fullmatch(v)]
    if bad:
        raise HubError(
            f"{where}: {MANIFEST} has entries that are not a 64-hex sha256: {bad[:5]}; refusing this version"
        )
    outside = [k for k in data if not _inside(k)]
    if outside:
        raise HubError(
            f"{where}: {MANIFEST} names paths outside the download folder: {outside[:5]}; refusing this version"
        )
    return data


def _inside(name: str) -> bool:
    """True when ``name`` is a relative path in a repo that stays inside the folder it is downloaded to."""
    parts = name.split("/")
    return (
        bool(name)
        and "\\" not in name
        and not name.startswith("/")
        and ":" not in parts[0]
        and all(p not in ("", ".", "..") for p in parts)
    )


def tags(repo_id: str, retry: RetryPolicy | None = None) -> dict[str, str]:
    refs = call(api().list_repo_refs, repo_id, what=f"listing the refs of {repo_id}", repo_id=repo_id, retry=retry)
    return {t.name: t.target_commit for t in refs.tags}


def manifest_bytes(manifest: dict[str, str]) -> bytes:
    """The manifest as uploaded (``kwanzaa_manifest.json``)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def owned_files(repo_id: str, head: str, current: list[str], retry: RetryPolicy | None = None) -> set[str]:
    """The files on ``main`` this tool wrote: those its manifest at ``head`` lists, the card and the manifest.
    Without a manifest, none."""
    if MANIFEST not in current:
        return set()
    previous = check_manifest(read_json(repo_id, MANIFEST, head, retry=retry), f"{repo_id}@main")
    return set(previous) | {MANIFEST, CARD_FILE}


def plan_commit(repo_id: str, current: list[str], owned: set[str], wanted: set[str], *, adopt: bool) -> list[str]:
    """The files to delete from ``main`` (only ones this tool wrote and no longer ships), after refusing a main
    that holds files of others (unless ``adopt``) or whose files of others the push would replace."""
    foreign = set(current) - owned - {".gitattributes"}
    if foreign and not adopt:
        raise InputError(
            f"{repo_id}: main holds files kwanzaa_hub did not write: {', '.join(sorted(foreign)[:8])}"
            f"{' ...' if len(foreign) > 8 else ''}. Refusing to push over them: use an empty repo, or set "
            "hub.adopt_existing: true to push beside them (they are kept)."
        )
    clash = sorted(foreign & wanted)
    if clash:
        raise InputError(
            f"{repo_id}: main holds {', '.join(clash)}, not written by kwanzaa_hub, and this push would "
            "replace it. Rename or remove it on the Hub first."
        )
    return sorted(owned - wanted - {".gitattributes"})


def push_version(
    repo_id: str,
    version: str,
    files: dict[str, Path],
    *,
    message: str,
    manifest: dict[str, str] | None = None,
    adopt: bool = False,
    retry: RetryPolicy | None = None,
) -> PushResult:
    """One commit with ``files`` (path in repo -> local file) and the manifest (``build_manifest(files)`` unless
    given), then tag ``version`` on it. Only files this tool wrote before are replaced or removed."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    hub = api()
    manifest = manifest if manifest is not None else build_manifest(files)
    url = f"{hub.endpoint}/{repo_id}/tree/{version}"
    existing = tags(repo_id, retry)
    if version in existing:
        return _same_or_conflict(repo_id, version, existing[version], manifest, url, retry)

    adds = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(files.items())]
    adds.append(CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=manifest_bytes(manifest)))
    wanted = {op.path_in_repo for op in adds}
    for attempt in range(3):  # optimistic concurrency: the commit is based on the head we listed
        head = call(hub.repo_info, repo_id, what=f"reading {repo_id}", repo_id=repo_id, retry=retry).sha
        current = call(hub.list_repo_files, repo_id, revision=head, what="listing files", repo_id=repo_id, retry=retry)
        deletes = plan_commit(repo_id, current, owned_files(repo_id, head, current, retry), wanted, adopt=adopt)
        try:
            info = call(
                hub.create_commit,
                repo_id,
                operations=[*adds, *(CommitOperationDelete(path_in_repo=p) for p in deletes)],
                parent_commit=head,
                commit_message=message,
                what=f"committing {version} to {repo_id}",
                repo_id=repo_id,
                retry=retry,
            )
            break
        except HubError as err:
            if "(412)" not in str(err) or attempt == 2:
                raise
    commit = info.oid
    if not _tag(repo_id, version, commit, message, retry):
        # 409: the tag exists. Ours, when an earlier attempt of this call landed; else someone tagged meanwhile.
        tagged = tags(repo_id, retry).get(version)
        if tagged == commit:
            return PushResult(repo_id, version, commit, url, noop=False, files=manifest)
        if tagged is None:
            raise HubError(f"tagging {version} failed (409) but {repo_id} has no such tag; rerun the push")
        return _same_or_conflict(repo_id, version, tagged, manifest, url, retry)
    return PushResult(repo_id, version, commit, url, noop=False, files=manifest)


def _tag(repo_id: str, version: str, commit: str, message: str, retry: RetryPolicy | None) -> bool:
    """Tag ``commit`` as ``version`` through the retry policy; False when the Hub answers 409 (the tag exists)."""
    from huggingface_hub.errors import HfHubHTTPError

    def create() -> bool:
        try:
            api().create_tag(repo_id, tag=version, revision=commit, tag_message=message)
            return True
        except HfHubHTTPError as exc:
            if status_of(exc) == 409:
                return False
            raise

    return call(create, what=f"tagging {version}", repo_id=repo_id, retry=retry)


def _same_or_conflict(
    repo_id: str, version: str, commit: str, manifest: dict, url: str, retry: RetryPolicy | None = None
) -> PushResult:
    """The tag exists: a no-op when it holds this payload, a ``VersionConflict`` when it holds another. A manifest
    that cannot be read is a ``HubError`` (rerun later), never taken for a conflict."""
    remote = read_json(repo_id, MANIFEST, commit, missing_ok=True, retry=retry)
    if remote is None:
        raise VersionConflict(
            f"{repo_id}@{version} exists on commit {commit[:12]} but holds no {MANIFEST}: it was "
            "not pushed by kwanzaa_hub. Set hub.version to a tag that does not exist yet."
        )
    remote = check_manifest(remote, f"{repo_id}@{version}")
    if remote == manifest:
        return PushResult(repo_id, version, commit, url, noop=True, files=manifest)
    changed = sorted(k for k in set(manifest) | set(remote) if remote.get(k) != manifest.get(k))
    raise VersionConflict(
        f"{repo_id}@{version} already exists on commit {commit[:12]} with different files ({', '.join(changed[:6])}). "
        f"Versions are immutable: bump hub.version in params.yaml (e.g. v{int(version[1:]) + 1}) and rerun."
    )


def resolve_version(repo_id: str, version: str) -> str:
    """The commit the tag ``version`` points to now (a ``HubError`` naming the versions when it does not exist)."""
    found = tags(repo_id)
    if version not in found:
        known = ", ".join(sorted(found, key=_version_key)) or "none yet"
        raise HubError(
            f"{repo_id} has no version {version!r} (versions: {known}); list them with `kwanzaa-hub versions {repo_id}`"
        )
    return found[version]


def remote_manifest(repo_id: str, revision: str) -> dict[str, str]:
    """The manifest at ``revision``, refusing versions that would need unsafe (pickle) files or lack safetensors."""
    manifest = check_manifest(read_json(repo_id, MANIFEST, revision), f"{repo_id}@{revision}")
    unsafe = [p for p in manifest if p.lower().endswith(UNSAFE_SUFFIXES)]
    if unsafe:
        raise HubError(f"{repo_id}@{revision} lists pickle files {unsafe}; refusing to load them (safetensors only)")
    if "adapter_model.safetensors" not in manifest:
        raise HubError(f"{repo_id}@{revision} has no adapter_model.safetensors; refusing to load it")
    return manifest


def verified_download(repo_id: str, version: str, *, local_dir: Path | None = None) -> tuple[Path, str]:
    """Download the version's manifest files (into the HF cache or ``local_dir``) at the commit its tag points to,
    and check every sha256. Returns (folder, commit): what is in the folder is exactly what was verified."""
    from huggingface_hub import snapshot_download

    commit = resolve_version(repo_id, version)
    manifest = remote_manifest(repo_id, commit)
    root = Path(
        call(
            snapshot_download,
            repo_id,
            revision=commit,
            allow_patterns=[*manifest, MANIFEST, CARD_FILE],
            local_dir=str(local_dir) if local_dir else None,
            what=f"downloading {repo_id}@{version}",
            repo_id=repo_id,
        )
    )
    bad = []
    for name, expected in manifest.items():
        path = root / name
        if not path.is_file() or sha256_file(path) != expected:
            bad.append(name)
    if bad:
        raise HubError(
            f"{repo_id}@{version}: {bad} do not match the sha256 in {MANIFEST}; refusing this version "
            "(delete the cached copy and pull again, or report a tampered repo)"
        )
    return root, commit


def version_table(repo_id: str) -> list[dict[str, Any]]:
    """Each tag: version, commit, date and the version's metrics.json."""
    hub = api()
    rows = []
    for name, commit in sorted(tags(repo_id).items(), key=lambda kv: _version_key(kv[0])):
        commits = call(hub.list_repo_commits, repo_id, revision=commit, what=f"reading {name}", repo_id=repo_id)
        metrics = _numbers(read_json(repo_id, REPO_LAYOUT["metrics"], commit, missing_ok=True))
        rows.append(
            {
                "version": name,
                "commit": commit,
                "date": commits[0].created_at.isoformat() if commits else "",
                "metrics": metrics,
            }
        )
    return rows


def _version_key(tag: str) -> tuple:
    return (0, int(tag[1:])) if tag[1:].isdigit() else (1, tag)


def metric_diff(repo_id: str, old: str, new: str) -> list[tuple[str, float | None, float | None]]:
    """``(metric, old value, new value)`` for every numeric metric in either version's ``metrics.json``, and in its
    eval details (every metric per category) where the version has them."""

    def numbers(version: str) -> dict[str, float]:
        found = _numbers(read_json(repo_id, REPO_LAYOUT["metrics"], version))
        details = read_json(repo_id, REPO_LAYOUT["eval_details"], version, missing_ok=True)
        if isinstance(details, dict):
            found = {**_numbers(details.get("metrics")), **found}
        return found

    a, b = numbers(old), numbers(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))]


def _numbers(data: Any) -> dict[str, float]:
    """The numeric entries of a version's metrics (anything else in a hand-edited file is left out)."""
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
