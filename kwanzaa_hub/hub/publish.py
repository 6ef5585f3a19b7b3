"""The push's commit and tag: plan which files a version replaces, commit them in one commit on main, tag it.

Versions are immutable: the same payload under an existing tag is a no-op, a different one a conflict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kwanzaa_hub.config.names import version_number
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.hub.client import HubError, RetryPolicy, VersionConflict, api, call, status_of
from kwanzaa_hub.hub.versions import (
    MANIFEST,
    build_manifest,
    check_manifest,
    head_manifest,
    manifest_bytes,
    owned_files,
    pushed_as,
    read_json,
    tags,
)


@dataclass
class PushResult:
    repo_id: str
    version: str
    commit: str
    url: str
    noop: bool
    files: dict[str, str] = field(default_factory=dict)


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
    given), then tag ``version`` on it. Only files this tool wrote before are replaced or removed.

    Two pushes of one version at once leave ``main`` and the tag on the same commit, and nothing of the loser on
    ``main``: each commit names its parent (the Hub refuses it, 412, when ``main`` moved meanwhile), and before
    each commit the tags and ``main``'s head are read again; a head that is an untagged push of this version (one
    between its commit and its tag, or interrupted there) is tagged when it holds these files, a conflict when
    not: a push never commits over another push of its own version."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    hub = api()
    manifest = manifest if manifest is not None else build_manifest(files)
    url = f"{hub.endpoint}/{repo_id}/tree/{version}"
    adds = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(files.items())]
    adds.append(CommitOperationAdd(path_in_repo=MANIFEST, path_or_fileobj=manifest_bytes(manifest)))
    wanted = {op.path_in_repo for op in adds}
    for attempt in range(3):  # optimistic concurrency: the commit is based on the head we listed
        existing = tags(repo_id, retry)
        if version in existing:
            return _same_or_conflict(repo_id, version, existing[version], manifest, url, retry)
        head = call(hub.repo_info, repo_id, what=f"reading {repo_id}", repo_id=repo_id, retry=retry).sha
        current = call(hub.list_repo_files, repo_id, revision=head, what="listing files", repo_id=repo_id, retry=retry)
        on_main = head_manifest(repo_id, head, current, retry)
        if on_main is not None and pushed_as(repo_id, head, on_main, retry) == version:
            _untagged_same_or_conflict(repo_id, version, head, on_main, manifest)
            commit = head  # this version's files, committed by a push that has not tagged them (yet)
            break
        deletes = plan_commit(repo_id, current, owned_files(on_main), wanted, adopt=adopt)
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
            commit = info.oid
            break
        except HubError as err:
            if err.status != 412 or attempt == 2:  # 412: the head moved; look again (tags first) and plan again
                raise
    if not _tag(repo_id, version, commit, message, retry):
        # 409: the tag exists. Ours, when an earlier attempt of this call landed; else someone tagged meanwhile.
        tagged = tags(repo_id, retry).get(version)
        if tagged == commit:
            return PushResult(repo_id, version, commit, url, noop=False, files=manifest)
        if tagged is None:
            raise HubError(f"tagging {version} failed (409) but {repo_id} has no such tag; rerun the push")
        return _same_or_conflict(repo_id, version, tagged, manifest, url, retry)
    return PushResult(repo_id, version, commit, url, noop=False, files=manifest)


def _untagged_same_or_conflict(repo_id: str, version: str, head: str, on_main: dict, manifest: dict) -> None:
    """``main``'s head is a push of ``version`` with no tag yet: returns when it holds this payload (it is tagged
    next), a ``VersionConflict`` (nothing committed) when it holds another."""
    if on_main == manifest:
        return
    changed = sorted(k for k in set(manifest) | set(on_main) if on_main.get(k) != manifest.get(k))
    raise VersionConflict(
        f"{repo_id}: main is at commit {head[:12]}, a push of {version} with different files "
        f"({', '.join(changed[:6])}) that is not tagged yet: another push of {version} is running, or stopped "
        f"before its tag. Nothing was committed. Bump hub.version in params.yaml (e.g. {_next(version)}) and rerun, "
        "or rerun the push that made that commit to tag it."
    )


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
        f"Versions are immutable: bump hub.version in params.yaml (e.g. {_next(version)}) and rerun."
    )


def _next(version: str) -> str:
    """The version tag after ``version`` (``v2`` -> ``v3``), for the hint to bump it."""
    return f"v{(version_number(version) or 0) + 1}"
