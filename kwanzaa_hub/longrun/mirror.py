"""Resumable checkpoints: the local folder, and a mirror that survives a lost VM.

The trainer saves ``checkpoint-N`` folders into ``train.checkpoint_dir``. That folder carries the
ownership marker and a stamp of the run's fingerprint (the params that change the weights, and the
prepared data): a rerun with the same fingerprint resumes from the newest complete checkpoint, anything
else starts fresh. A checkpoint at the run's last step is a finished run: the trainer restores its weights
instead of resuming (resuming would train past the planned steps).

A Colab disconnect wipes the local disk, so each checkpoint is also copied to a mirror: the
``checkpoints`` branch of ``hub.repo_id`` (private, never tagged, apart from the versions on ``main``) or a
folder such as a mounted Google Drive. Only folders named exactly ``checkpoint-<step>`` count; a mirror
whose fingerprint cannot be read says so out loud and training starts without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kwanzaa_hub.config.params import Params
from kwanzaa_hub.console import console, warn
from kwanzaa_hub.errors import InputError, KwanzaaError
from kwanzaa_hub.fs.ownership import claim, is_owned, judged, mark, resolved
from kwanzaa_hub.hub import client as hub

BRANCH = "checkpoints"
STAMP = "fingerprint.txt"
MIRROR_KEY = "train.checkpoint_mirror"  # what a mirror folder's marker names
KEEP = 1  # mirrored checkpoints besides the newest
_NAME = re.compile(r"checkpoint-([0-9]+)")


def step_of(name: str) -> int | None:
    """The step of a folder named ``checkpoint-<step>``; None for any other name (``checkpoint-2 (1)``)."""
    m = _NAME.fullmatch(name)
    return int(m.group(1)) if m else None


def named(names: Iterable[str]) -> list[str]:
    """The checkpoint folder names among ``names``, oldest first."""
    return sorted((n for n in set(names) if step_of(n) is not None), key=step_of)


def stamped(folder: Path, fingerprint: str) -> bool:
    """True when ``folder`` holds checkpoints of the run with this fingerprint."""
    stamp = folder / STAMP
    return stamp.is_file() and stamp.read_text().strip() == fingerprint


def finished(ckpt: Path) -> bool:
    """True when the checkpoint was saved at (or past) the last step its run planned."""
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
        return int(state["global_step"]) >= int(state["max_steps"]) > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


def tokens_seen(ckpt: Path) -> int:
    """The input tokens the run had trained on when ``ckpt`` was saved (0 when the checkpoint does not say)."""
    try:
        return int(json.loads((ckpt / "trainer_state.json").read_text()).get("num_input_tokens_seen") or 0)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def newest_complete(folder: Path) -> Path | None:
    """The highest ``checkpoint-N`` in ``folder`` that was written to the end (has ``trainer_state.json``)."""
    if not folder.is_dir():
        return None
    done = [p for p in folder.iterdir() if step_of(p.name) is not None and (p / "trainer_state.json").is_file()]
    return max(done, key=lambda p: step_of(p.name)) if done else None


def clear(folder: Path) -> None:
    """Remove the checkpoint folders and the stamp of a folder this tool owns; nothing else in it."""
    for name in named(p.name for p in folder.iterdir()):
        shutil.rmtree(folder / name)
    (folder / STAMP).unlink(missing_ok=True)


def local_resume_point(folder: Path, fingerprint: str, *, main: bool = True) -> str | None:
    """The newest unfinished checkpoint of this exact run in ``folder``, or None to start fresh.

    The main process claims the folder (it must be one this tool wrote, or new), clears checkpoints of other
    data or params, and stamps it; other DDP processes only read."""
    if not main:
        newest = newest_complete(folder) if stamped(folder, fingerprint) else None
        return str(newest) if newest else None
    claim("train.checkpoint_dir", folder, "dir")
    if folder.is_dir() and not stamped(folder, fingerprint) and named(p.name for p in folder.iterdir()):
        console.print(f"train: {folder}/ holds checkpoints of other data or params; starting fresh")
        clear(folder)
    newest = newest_complete(folder) if folder.is_dir() else None
    mark(folder, "train.checkpoint_dir")
    (folder / STAMP).write_text(fingerprint)
    return str(newest) if newest else None


class DirMirror:
    """Checkpoints copied into a folder (e.g. ``/content/drive/MyDrive/kwanzaa-checkpoints``) that this tool owns."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __str__(self) -> str:
        return f"{self.root}/"

    def check(self) -> None:
        """Before training: the folder is new, empty or ours; an absolute one is outside the project (a relative
        one was checked with the other outputs) and its parent exists (a Drive that is not mounted is not)."""
        here, root = Path.cwd().resolve(), resolved(judged(MIRROR_KEY, self.root))  # '..' refused, symlinks followed
        if len(root.parts) < 3:
            raise InputError(
                f"train.checkpoint_mirror: {self.root} resolves to {root}, too close to the filesystem root; name a "
                "folder of its own"
            )
        if self.root.is_absolute() and (root == here or here in root.parents or root in here.parents):
            raise InputError(
                f"train.checkpoint_mirror: {self.root} is the project, inside it, or a folder above it; write a "
                "folder inside the project as a relative path, or name one outside it (a mounted Drive folder)"
            )
        if not root.parent.is_dir():
            raise InputError(
                f"train.checkpoint_mirror: {root.parent} does not exist (is Google Drive mounted?); mount it or "
                "create the parent folder, then rerun"
            )
        claim(MIRROR_KEY, self.root, "dir")

    def upload(self, ckpt: Path, fingerprint: str) -> None:
        if self.root.exists() and not is_owned(self.root, MIRROR_KEY) and any(self.root.iterdir()):
            raise InputError(f"{self.root} is not a mirror this tool wrote; not copying checkpoints into it")
        mark(self.root, MIRROR_KEY)
        if not stamped(self.root, fingerprint):
            clear(self.root)
            (self.root / STAMP).write_text(fingerprint)
        tmp = self.root / f".{ckpt.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(ckpt, tmp)
        shutil.rmtree(self.root / ckpt.name, ignore_errors=True)
        tmp.rename(self.root / ckpt.name)  # a checkpoint appears whole or not at all
        for old in named(p.name for p in self.root.iterdir())[: -(KEEP + 1)]:
            shutil.rmtree(self.root / old)

    def fetch_latest(self, dest: Path, fingerprint: str) -> Path | None:
        ours = is_owned(self.root, MIRROR_KEY) and stamped(self.root, fingerprint)
        newest = newest_complete(self.root) if ours else None
        if newest is None:
            return None
        shutil.copytree(newest, dest / newest.name, dirs_exist_ok=True)
        return dest / newest.name


class HubMirror:
    """Checkpoints committed to the ``checkpoints`` branch of the (private) adapter repo."""

    def __init__(self, repo_id: str, *, private: bool, allow_public: bool):
        self.repo_id, self.private, self.allow_public = repo_id, private, allow_public
        self._ready = False

    def __str__(self) -> str:
        return f"{self.repo_id}@{BRANCH}"

    def _files(self, revision: str = BRANCH) -> list[str] | None:
        """The files on a branch, or None when the repo or the branch does not exist yet."""
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        def listing() -> list[str] | None:
            try:
                return hub.api().list_repo_files(self.repo_id, revision=revision)
            except (RevisionNotFoundError, RepositoryNotFoundError) as exc:
                if hub.status_of(exc) == 401 and hub.get_token():
                    raise  # a rejected token, not a missing branch
                return None

        return hub.call(listing, what=f"listing {self.repo_id}@{revision}", repo_id=self.repo_id)

    def _check_owned(self, files: list[str] | None) -> None:
        """The branch is this tool's when it holds the stamp, or only what it was forked from (main's files)."""
        if not files or STAMP in files:
            return
        foreign = set(files) - set(self._files("main") or []) - {".gitattributes"}
        if foreign:
            raise InputError(
                f"{self.repo_id} has a '{BRANCH}' branch with files this tool did not write "
                f"({', '.join(sorted(foreign)[:5])}); set train.checkpoint_mirror: none (or a folder), "
                "or remove that branch on the Hub"
            )

    def check(self) -> None:
        """Before training: a ``checkpoints`` branch that exists must be one this tool made."""
        self._check_owned(self._files())

    def _call(self, fn: Any, what: str, **kwargs: Any) -> Any:
        """``fn(repo_id, **kwargs)`` through the Hub client (its errors and retries), on this mirror's repo."""
        return hub.call(fn, self.repo_id, what=what, repo_id=self.repo_id, **kwargs)

    def _ensure_branch(self) -> None:
        if not self._ready:
            hub.ensure_repo(self.repo_id, private=self.private, allow_public=self.allow_public)
            self._call(hub.api().create_branch, f"creating the {BRANCH} branch", branch=BRANCH, exist_ok=True)
            self._ready = True

    def upload(self, ckpt: Path, fingerprint: str) -> None:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        self._ensure_branch()
        current = self._files() or []
        self._check_owned(current)
        stale = named(p.split("/")[0] for p in current)
        keep = set(stale[-KEEP:]) if self.remote_stamp() == fingerprint else set()
        ops: list[Any] = [
            CommitOperationAdd(f"{ckpt.name}/{f.relative_to(ckpt).as_posix()}", str(f))
            for f in sorted(ckpt.rglob("*"))
            if f.is_file()
        ]
        ops.append(CommitOperationAdd(STAMP, fingerprint.encode()))
        ops += [CommitOperationDelete(f"{d}/", is_folder=True) for d in stale if d not in keep and d != ckpt.name]
        message = f"{ckpt.name} (resume point)"
        commit = hub.api().create_commit
        self._call(commit, f"mirroring {ckpt.name}", operations=ops, revision=BRANCH, commit_message=message)

    def remote_stamp(self) -> str | None:
        """The mirrored run's fingerprint; None when nothing is mirrored yet. A read that fails for another
        reason is a visible warning (and None): the run then starts without the mirror."""
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

        def read() -> str | None:
            try:
                return Path(hf_hub_download(self.repo_id, STAMP, revision=BRANCH)).read_text().strip()
            except (RemoteEntryNotFoundError, RevisionNotFoundError):
                return None
            except RepositoryNotFoundError as exc:
                if hub.status_of(exc) == 401 and hub.get_token():
                    raise
                return None

        try:
            return hub.call(read, what=f"reading the fingerprint of {self}", repo_id=self.repo_id)
        except KwanzaaError as exc:
            warn(f"could not read the checkpoint mirror's fingerprint: {exc}; not resuming from {self}")
            return None

    def fetch_latest(self, dest: Path, fingerprint: str) -> Path | None:
        from huggingface_hub import snapshot_download

        if self.remote_stamp() != fingerprint:
            return None
        files = self._files() or []
        done = [d for d in named(p.split("/")[0] for p in files) if f"{d}/trainer_state.json" in files]
        if not done:
            return None
        newest = done[-1]
        pattern = f"{newest}/*"
        self._call(
            snapshot_download, f"downloading {newest}", revision=BRANCH, allow_patterns=[pattern], local_dir=str(dest)
        )
        shutil.rmtree(dest / ".cache", ignore_errors=True)  # huggingface_hub's local_dir bookkeeping
        return dest / newest


#: What DVC sets in the environment of a stage that ``dvc exp run`` runs (dvc/env.py), and nowhere else.
EXPERIMENT_ENV = ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV")
_said: set[str] = set()


def experiment_name() -> str | None:
    """The experiment this process trains for (``dvc exp run``), else None (``dvc repro``, ``kwanzaa-hub train``)."""
    for key in EXPERIMENT_ENV:
        if os.environ.get(key):
            return os.environ.get("DVC_EXP_NAME") or "an experiment"
    return None


def mirror_for(params: Params) -> DirMirror | HubMirror | None:
    """Where this run's checkpoints are copied. An experiment (``dvc exp run``) writes nothing to the Hub: its
    checkpoints stay local (said once on stderr), unless ``train.checkpoint_mirror`` names a folder."""
    target = params.train.checkpoint_mirror
    if target == "none":
        return None
    if target == "hub":
        h = params.hub
        if not h.repo_id:
            return None
        name = experiment_name()
        if name is not None:
            if name not in _said:
                _said.add(name)
                console.print(
                    f"train: experiment {name}: checkpoints stay local ({params.train.checkpoint_dir}/), nothing is "
                    f"written to {h.repo_id}; to keep a copy that survives a lost VM, set train.checkpoint_mirror to "
                    "a folder (a mounted Drive)"
                )
            return None
        return HubMirror(h.repo_id, private=h.private, allow_public=h.allow_public)
    return DirMirror(Path(target))


def mirror_callback(mirror: DirMirror | HubMirror, fingerprint: str) -> Any:
    """A TrainerCallback that copies every saved checkpoint to ``mirror``; a failed copy warns, training goes on."""
    from transformers import TrainerCallback

    class MirrorCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if not state.is_world_process_zero:
                return
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            try:
                mirror.upload(ckpt, fingerprint)
                console.print(f"train: mirrored {ckpt.name} to {mirror}")
            except (KwanzaaError, OSError) as exc:
                warn(
                    f"could not mirror {ckpt.name} to {mirror}: {exc}; training goes on (the local checkpoint is kept)"
                )

    return MirrorCheckpoints()
