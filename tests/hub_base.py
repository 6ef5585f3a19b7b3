"""A base model on the loopback Hub, and the CLI run as a user runs it (a subprocess: all of its output is seen,
the libraries' own logging included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import HUB_TOKEN


def upload_base(repo_id: str, folder: Path, *, private: bool = True) -> str:
    """``folder`` (a model: config, weights, tokenizer) as the Hub repo ``repo_id``; returns ``repo_id``."""
    from huggingface_hub import HfApi

    api = HfApi(token=HUB_TOKEN)
    api.create_repo(repo_id, private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, ignore_patterns=[".kwanzaa-hub*"])
    return repo_id


def seed_repo(server, repo_id: str, folder: Path) -> str:
    """``folder``'s files as a public repo ``repo_id`` written straight into the loopback Hub's store: for names the
    client will not create (``models/base``: huggingface_hub reads ``models/`` in the answer's URL as a repo type)."""
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    server.add_gated_repo(repo_id, {k: v for k, v in files.items() if not k.startswith(".kwanzaa-hub")})
    with server.store.lock:
        repo = server.store.get(repo_id)
        repo["gated"] = False
        server.store.put(repo_id, repo)
    return repo_id


def cli(*args: str, cwd: Path, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """``kwanzaa-hub ARGS`` in ``cwd`` with the write token in HF_TOKEN (``env`` overrides), output captured."""
    bin_dir = str(Path(sys.executable).parent)
    full = {**os.environ, "HF_TOKEN": HUB_TOKEN, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    return subprocess.run(
        ["kwanzaa-hub", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=timeout, check=False
    )
