"""Versions on the Hub: manifests of a version's files, tags, verified downloads, the versions table and metric diff."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.names import version_number
from kwanzaa_hub.hub.client import HubError, RetryPolicy, api, call, scrub

MANIFEST = "kwanzaa_manifest.json"


#: A manifest entry: the sha256 of a file, in lowercase hex.
SHA256 = re.compile(r"[0-9a-f]{64}")


def inside(name: str) -> bool:
    """True when ``name`` is a relative path in a repo that stays inside the folder it is downloaded to."""
    parts = name.split("/")
    return (
        bool(name)
        and "\\" not in name
        and not name.startswith("/")
        and ":" not in parts[0]
        and all(p not in ("", ".", "..") for p in parts)
    )


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
    #: per-example records (id, category, each run's generation, stop reason, scores): ``diff --examples``
    "predictions": "eval/predictions.jsonl",
}


UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_manifest(files: dict[str, Path]) -> dict[str, str]:
    """``{path in repo: sha256}`` of the payload (the card excluded: it carries the git commit)."""
    return {name: sha256_file(path) for name, path in sorted(files.items()) if name != CARD_FILE}


class VersionRefused(HubError):
    """A version tag that leads to something this tool will not read: no manifest, a malformed one, pickles. The
    version named is not one to use: exit 2, as for an unknown version."""

    exit_code = 2


class VersionAltered(VersionRefused):
    """What a version tag leads to is not what was pushed as that version: a file that does not match the version's
    manifest, or a tag moved onto another version's commit."""


class UnknownVersion(HubError):
    """The repo has no such version tag: input the user fixes."""

    exit_code = 2


def _fetch(repo_id: str, filename: str, revision: str, *, missing_ok: bool, retry: RetryPolicy | None) -> Path | None:
    """The file at ``revision`` in the HF cache; None when the Hub says it is not there and ``missing_ok``."""
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
    return Path(path) if path is not None else None


def _parse_json(path: Path, where: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise VersionRefused(f"{where} is not valid JSON ({type(exc).__name__}: {exc}); refusing it") from None


def read_json(
    repo_id: str,
    filename: str,
    revision: str,
    *,
    missing_ok: bool = False,
    retry: RetryPolicy | None = None,
    where: str | None = None,
) -> Any:
    """A JSON file of the repo at ``revision`` (``where`` names it in messages: ``repo@revision`` unless given). A
    file that is not JSON is a ``HubError`` that says so; a file that is not there is None with ``missing_ok``, a
    ``HubError`` otherwise."""
    path = _fetch(repo_id, filename, revision, missing_ok=missing_ok, retry=retry)
    return None if path is None else _parse_json(path, f"{where or f'{repo_id}@{revision}'}: {filename}")


def verified_file(repo_id: str, version: str, commit: str, manifest: dict[str, str], filename: str) -> Path | None:
    """A file of a version, after checking its sha256 against the version's manifest: None when the manifest does
    not list it (the version has no such file), a ``VersionAltered`` when the Hub's copy is not the one pushed."""
    if filename not in manifest:
        return None
    path = _fetch(repo_id, filename, commit, missing_ok=True, retry=None)
    if path is None or sha256_file(path) != manifest[filename]:
        raise VersionAltered(
            f"{repo_id}@{version}: {filename} on the Hub is not the file its {MANIFEST} lists (sha256 differs or it "
            "is gone): the version was altered after it was pushed; refusing to read it (tell the repo's owner)"
        )
    return path


def named_version(params_file: Path) -> Any:
    """The version a commit's own pushed params name (``hub.version``); None when they name none or do not read."""
    from kwanzaa_hub.config.yamlfile import read_params_file
    from kwanzaa_hub.errors import ParamsError

    try:
        return (read_params_file(params_file).get("hub") or {}).get("version")
    except (ParamsError, AttributeError):
        return None


def pushed_as(repo_id: str, commit: str, manifest: dict[str, str], retry: RetryPolicy | None = None) -> Any:
    """The version ``commit`` (with its ``manifest``) was pushed as, by its own params; None without params."""
    if REPO_LAYOUT["params"] not in manifest:
        return None
    path = _fetch(repo_id, REPO_LAYOUT["params"], commit, missing_ok=True, retry=retry)
    return None if path is None else named_version(path)


def check_record(repo_id: str, version: str, params_file: Path | None) -> None:
    """The version's own pushed params name it (``hub.version``): a tag moved onto another version's commit is
    refused. A version pushed without params has no record to check."""
    if params_file is None:
        return
    named = named_version(params_file)
    if named != version:
        raise VersionAltered(
            f"{repo_id}: the tag {version} points to a commit whose own params name version {named!r}: the tag "
            f"was moved after the push; refusing it (list the versions with `kwanzaa-hub versions {repo_id}`)"
        )


def checked_version(repo_id: str, version: str, commit: str | None = None) -> tuple[str, dict[str, str]]:
    """(commit, manifest) of the version tag ``version`` (tags only: not a branch, not a commit id; ``commit`` when
    the tag was just listed), after checking that the version's own record names that tag."""
    commit = commit or resolve_version(repo_id, version)
    manifest = remote_manifest(repo_id, commit, version)
    check_record(repo_id, version, verified_file(repo_id, version, commit, manifest, REPO_LAYOUT["params"]))
    return commit, manifest


def verified_json(repo_id: str, version: str, commit: str, manifest: dict[str, str], filename: str) -> Any:
    """A JSON file of a checked version (:func:`checked_version`), verified against its manifest; None when the
    version has no such file."""
    path = verified_file(repo_id, version, commit, manifest, filename)
    return None if path is None else _parse_json(path, f"{repo_id}@{version}: {filename}")


def check_manifest(data: Any, where: str) -> dict[str, str]:
    """``data`` as a manifest (``{path: sha256}``), or a ``HubError`` saying what is wrong with it."""
    if not isinstance(data, dict) or not data:
        raise VersionRefused(f"{where}: {MANIFEST} is not a non-empty object of file -> sha256; refusing this version")
    bad = [k for k, v in data.items() if not isinstance(k, str) or not isinstance(v, str) or not SHA256.fullmatch(v)]
    if bad:
        raise VersionRefused(
            f"{where}: {MANIFEST} has entries that are not a 64-hex sha256: {bad[:5]}; refusing this version"
        )
    outside = [k for k in data if not inside(k)]
    if outside:
        raise VersionRefused(
            f"{where}: {MANIFEST} names paths outside the download folder: {outside[:5]}; refusing this version"
        )
    return data


def tags(repo_id: str, retry: RetryPolicy | None = None) -> dict[str, str]:
    refs = call(api().list_repo_refs, repo_id, what=f"listing the refs of {repo_id}", repo_id=repo_id, retry=retry)
    return {t.name: t.target_commit for t in refs.tags}


def manifest_bytes(manifest: dict[str, str]) -> bytes:
    """The manifest as uploaded (``kwanzaa_manifest.json``)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def head_manifest(repo_id: str, head: str, current: list[str], retry: RetryPolicy | None = None) -> dict | None:
    """The manifest of ``main`` at ``head`` (whose files are ``current``); None when main has none."""
    if MANIFEST not in current:
        return None
    return check_manifest(read_json(repo_id, MANIFEST, head, retry=retry), f"{repo_id}@main")


def owned_files(manifest: dict[str, str] | None) -> set[str]:
    """The files on ``main`` this tool wrote: those its ``manifest`` lists, the card and the manifest. Without a
    manifest, none."""
    return set() if manifest is None else set(manifest) | {MANIFEST, CARD_FILE}


def resolve_version(repo_id: str, version: str) -> str:
    """The commit the tag ``version`` points to now (a ``HubError`` naming the versions when it does not exist)."""
    found = tags(repo_id)
    if version not in found:
        known = ", ".join(sorted(found, key=_version_key)) or "none yet"
        raise UnknownVersion(
            f"{repo_id} has no version {version!r} (versions: {known}); list them with `kwanzaa-hub versions {repo_id}`"
        )
    return found[version]


def remote_manifest(repo_id: str, revision: str, version: str | None = None) -> dict[str, str]:
    """The manifest at ``revision`` (the commit of the tag ``version``, named in messages when given), refusing
    versions that would need unsafe (pickle) files or lack safetensors."""
    where = f"{repo_id}@{version} (commit {revision[:12]})" if version else f"{repo_id}@{revision}"
    found = read_json(repo_id, MANIFEST, revision, missing_ok=True, where=where)
    if found is None:
        raise VersionRefused(f"{where} has no {MANIFEST}: not a version kwanzaa-hub pushed; refusing it")
    manifest = check_manifest(found, where)
    unsafe = [p for p in manifest if p.lower().endswith(UNSAFE_SUFFIXES)]
    if unsafe:
        raise VersionRefused(f"{where} lists pickle files {unsafe}; refusing to load them (safetensors only)")
    if "adapter_model.safetensors" not in manifest:
        raise VersionRefused(f"{where} has no adapter_model.safetensors; refusing to load it")
    return manifest


def verified_download(repo_id: str, version: str, *, local_dir: Path | None = None) -> tuple[Path, str]:
    """Download the version's manifest files (into the HF cache or ``local_dir``) at the commit its tag points to,
    and check every sha256. Returns (folder, commit): what is in the folder is exactly what was verified."""
    from huggingface_hub import snapshot_download

    commit = resolve_version(repo_id, version)
    manifest = remote_manifest(repo_id, commit, version)
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
        raise VersionAltered(
            f"{repo_id}@{version}: {bad} do not match the sha256 in {MANIFEST}; refusing this version "
            "(delete the cached copy and pull again, or report a tampered repo)"
        )
    params = REPO_LAYOUT["params"]
    check_record(repo_id, version, root / params if params in manifest else None)
    return root, commit


def version_table(repo_id: str) -> list[dict[str, Any]]:
    """Each tag: version, commit, date and the version's metrics.json, checked against the version's manifest and
    record; a version that fails the check has no metrics and says why in ``problem``."""
    hub = api()
    rows = []
    for name, commit in sorted(tags(repo_id).items(), key=lambda kv: _version_key(kv[0])):
        commits = call(hub.list_repo_commits, repo_id, revision=commit, what=f"reading {name}", repo_id=repo_id)
        try:
            checked = checked_version(repo_id, name, commit)
            metrics, problem = _numbers(verified_json(repo_id, name, *checked, REPO_LAYOUT["metrics"])), ""
        except VersionRefused as exc:  # this version is flagged; the others are still listed
            metrics, problem = {}, scrub(str(exc))  # printed in the table: through the one scrubber
        rows.append(
            {
                "version": name,
                "commit": commit,
                "date": commits[0].created_at.isoformat() if commits else "",
                "metrics": metrics,
                "problem": problem,
            }
        )
    return rows


def _version_key(tag: str) -> tuple:
    """Version tags in version order (:func:`config.names.version_number`), then any other tag by name."""
    number = version_number(tag)
    return (0, number) if number is not None else (1, tag)


def metric_numbers(metrics: Any, details: Any = None) -> dict[str, float]:
    """A version's numeric metrics: ``metrics.json``, over every metric per category of its eval details."""
    found = _numbers(metrics)
    if isinstance(details, dict):
        found = {**_numbers(details.get("metrics")), **found}
    return found


def _numbers(data: Any) -> dict[str, float]:
    """The numeric entries of a version's metrics (anything else in a hand-edited file is left out)."""
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
