"""Checkpoints that survive a lost VM: each one saved by the trainer is also copied to a mirror.

A Colab disconnect wipes the local disk, so ``train.checkpoint_dir`` alone cannot resume there. The
mirror is either the ``checkpoints`` branch of ``hub.repo_id`` (private, never tagged, apart from the
versions on ``main``) or a folder such as a mounted Google Drive. The mirror carries the run's
fingerprint (data + params); a rerun with no local checkpoint downloads the newest mirrored one when the
fingerprint matches, and ignores the mirror otherwise.

Checkpoints hold the trainer's optimizer/scheduler/RNG files (torch files, which transformers reloads
itself); they never reach a version on ``main``, which carries safetensors only.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from kwanzaa_hub import hub
from kwanzaa_hub.console import console
from kwanzaa_hub.errors import KwanzaaError
from kwanzaa_hub.params import Params

BRANCH = "checkpoints"
STAMP = "fingerprint.txt"
KEEP = 1  # mirrored checkpoints besides the newest


def _step(path: str | Path) -> int:
    return int(Path(path).name.split("-")[1])


def stamped(folder: Path, fingerprint: str) -> bool:
    """True when ``folder`` holds checkpoints of the run with this fingerprint (data + params)."""
    stamp = folder / STAMP
    return stamp.is_file() and stamp.read_text().strip() == fingerprint


def newest_complete(folder: Path) -> Path | None:
    """The highest ``checkpoint-N`` in ``folder`` that was written to the end (has ``trainer_state.json``)."""
    done = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return max(done, key=_step) if done else None


class DirMirror:
    """Checkpoints copied into a folder (e.g. ``/content/drive/MyDrive/kwanzaa-checkpoints``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __str__(self) -> str:
        return f"{self.root}/"

    def upload(self, ckpt: Path, fingerprint: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not stamped(self.root, fingerprint):
            for old in self.root.glob("checkpoint-*"):
                shutil.rmtree(old)
            (self.root / STAMP).write_text(fingerprint)
        tmp = self.root / f".{ckpt.name}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(ckpt, tmp)
        shutil.rmtree(self.root / ckpt.name, ignore_errors=True)
        tmp.rename(self.root / ckpt.name)  # a checkpoint appears whole or not at all
        for old in sorted(self.root.glob("checkpoint-*"), key=_step)[:-(KEEP + 1)]:
            shutil.rmtree(old)

    def fetch_latest(self, dest: Path, fingerprint: str) -> Path | None:
        newest = newest_complete(self.root) if stamped(self.root, fingerprint) else None
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

    def _ensure_branch(self) -> None:
        if not self._ready:
            hub.ensure_repo(self.repo_id, private=self.private, allow_public=self.allow_public)
            hub.call(hub.api().create_branch, self.repo_id, branch=BRANCH, exist_ok=True,
                     what=f"creating the {BRANCH} branch", repo_id=self.repo_id)
            self._ready = True

    def upload(self, ckpt: Path, fingerprint: str) -> None:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        self._ensure_branch()
        api = hub.api()
        current = hub.call(api.list_repo_files, self.repo_id, revision=BRANCH, what="listing checkpoints",
                           repo_id=self.repo_id)
        stale = {p.split("/")[0] for p in current if p.startswith("checkpoint-")}
        remote_stamp = self._remote_stamp()
        keep = set(sorted(stale, key=_step)[-KEEP:]) if remote_stamp == fingerprint else set()
        ops: list[Any] = [CommitOperationAdd(f"{ckpt.name}/{f.relative_to(ckpt).as_posix()}", str(f))
                          for f in sorted(ckpt.rglob("*")) if f.is_file()]
        ops.append(CommitOperationAdd(STAMP, fingerprint.encode()))
        ops += [CommitOperationDelete(f"{d}/", is_folder=True) for d in sorted(stale - keep - {ckpt.name})]
        hub.call(api.create_commit, self.repo_id, operations=ops, revision=BRANCH,
                 commit_message=f"{ckpt.name} (resume point)", what=f"mirroring {ckpt.name}", repo_id=self.repo_id)

    def _remote_stamp(self) -> str | None:
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(self.repo_id, STAMP, revision=BRANCH)
        except Exception:  # noqa: BLE001 - no stamp yet, no branch yet, no repo yet: nothing to resume
            return None
        return Path(path).read_text().strip()

    def fetch_latest(self, dest: Path, fingerprint: str) -> Path | None:
        from huggingface_hub import snapshot_download

        if self._remote_stamp() != fingerprint:
            return None
        files = hub.call(hub.api().list_repo_files, self.repo_id, revision=BRANCH, what="listing checkpoints",
                         repo_id=self.repo_id)
        done = {p.split("/")[0] for p in files if p.endswith("/trainer_state.json") and p.startswith("checkpoint-")}
        if not done:
            return None
        newest = max(done, key=_step)
        hub.call(snapshot_download, self.repo_id, revision=BRANCH, allow_patterns=[f"{newest}/*"],
                 local_dir=str(dest), what=f"downloading {newest}", repo_id=self.repo_id)
        shutil.rmtree(dest / ".cache", ignore_errors=True)
        return dest / newest


def mirror_for(params: Params) -> DirMirror | HubMirror | None:
    target = params.train.checkpoint_mirror
    if target == "none":
        return None
    if target == "hub":
        h = params.hub
        return HubMirror(h.repo_id, private=h.private, allow_public=h.allow_public) if h.repo_id else None
    return DirMirror(Path(target).expanduser())


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
                console.print(f"[yellow]warning:[/] could not mirror {ckpt.name} to {mirror}: {exc}; training goes on "
                              "(the local checkpoint is kept)", markup=True)

    return MirrorCheckpoints()
