"""Helpers for ``notebooks/kwanzaa_colab.ipynb``: every first-run problem stops the notebook with one line that
says what to do, instead of a library traceback.

:class:`Stop` is a ``SystemExit``: Jupyter and Colab show its message and stop "Run all" there, with no
traceback. Outside Colab (the notebook test) ``google.colab`` is a stub module; see ``tests/colab_stub``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

PLACEHOLDER_URL = "YOUR-ORG"
PLACEHOLDER_REPO = "your-namespace/"


class Stop(SystemExit):
    """Stops the notebook with one line."""


def check_settings(repo_url: str, repo_id: str, version: str) -> None:
    """The first cell's settings, before anything is cloned or installed, held to the params' own rules."""
    from kwanzaa_hub.config.names import repo_id_problem, version_problem

    if PLACEHOLDER_URL in repo_url:
        raise Stop(f"Set REPO_URL in the first cell to your fork of kwanzaa_hub (it says {repo_url!r}), then Run all.")
    problem = repo_id_problem(repo_id)
    if repo_id.startswith(PLACEHOLDER_REPO) or problem:
        raise Stop(
            f"Set REPO_ID in the first cell to your private Hub repo, namespace/name (it says {repo_id!r}"
            + (f": {' '.join(problem.split())}" if problem else "")
            + ")."
        )
    if version_problem(version):
        raise Stop(f"Set VERSION in the first cell to v1, v2, ... (it says {version!r}).")


def token_from_secrets(name: str = "HF_TOKEN") -> None:
    """Copy the Hub token from Colab's Secrets into the environment; never printed."""
    try:
        from google.colab import userdata
    except ImportError:
        if os.environ.get(name):
            return
        raise Stop(f"Not in Colab and {name} is not set: export {name}=<your Hub token with write access>.") from None
    try:
        token = userdata.get(name)
    except Exception as exc:
        kind = type(exc).__name__
        if "NotFound" in kind:
            raise Stop(
                f"No Colab secret named {name}: open Secrets (the key icon on the left), add {name} with a "
                "Hub token that has write access, and switch on 'Notebook access'."
            ) from None
        if "Access" in kind:
            raise Stop(
                f"The Colab secret {name} exists but this notebook may not read it: switch on 'Notebook "
                f"access' next to {name} in Secrets (the key icon), then Run all."
            ) from None
        raise Stop(
            f"Could not read the Colab secret {name} ({kind}); open Secrets (the key icon) and check it."
        ) from None
    if not token:
        raise Stop(f"The Colab secret {name} is empty: paste your Hub token (write access) into it.")
    os.environ[name] = token


def check_drive_remote(path: str, mount_point: str = "/content/drive") -> None:
    """The team's DVC remote folder on Google Drive is there (Drive mounted, folder shared with this account)."""
    if path.startswith(mount_point) and not Path(mount_point, "MyDrive").is_dir():
        raise Stop(
            f"Google Drive is not mounted at {mount_point}: run `drive.mount({mount_point!r})` in this cell "
            "and accept the prompt, then Run all."
        )
    if not Path(path).is_dir():
        raise Stop(
            f"TEAM_REMOTE {path} does not exist: ask the team for the Drive folder they `dvc push`ed to, "
            "add a shortcut to it in My Drive, and set TEAM_REMOTE in the first cell."
        )


def sh(command: str, **values: str) -> None:
    """Run a command with its output shown in the notebook; a failure stops the notebook.

    No shell: the command is split into words first, then each ``{NAME}`` is filled in from ``values`` inside its
    word, so a value with a space (a Drive folder) stays one argument, and one holding ``;`` or ``$(...)`` is
    text, never a command."""
    argv = [word.format(**values) for word in shlex.split(command)] if values else shlex.split(command)
    print(f"$ {shlex.join(argv)}", flush=True)
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    except FileNotFoundError:
        raise Stop(f"`{argv[0]}` is not installed here: run the set-up cell (1.) first.") from None
    assert proc.stdout is not None
    for line in proc.stdout:
        print(line, end="", flush=True)
    if proc.wait():
        raise Stop(f"`{shlex.join(argv)}` failed (exit {proc.returncode}); the lines above say why.")


def eval_request(eval_file: str | Path, index: int = 0) -> tuple[str, list[dict]]:
    """The question and documents of one eval sample (``data.eval_file``), as the team's backend sends them to
    ``kwanzaa_hub.ask``."""
    import json

    from kwanzaa_hub.contract.showcase import request_from_prompt

    lines = [line for line in Path(eval_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise Stop(f"{eval_file} holds no eval sample: run the data cell (3.) first.")
    sample = json.loads(lines[min(index, len(lines) - 1)])
    user = next(m["content"] for m in sample["messages"] if m["role"] == "user")
    return request_from_prompt(user)


def show_answer(question: str, documents: list[dict], answer: str) -> None:
    """Print one answer of ``kwanzaa_hub.ask`` as a person reads it (the whole JSON is ``answer``)."""
    from kwanzaa_hub.contract.showcase import readable_answer

    n = len(documents)
    print(f"question: {question}\n({n} retrieved document{'' if n == 1 else 's'})")
    print(readable_answer(answer))


def previous_version(repo_id: str, version: str) -> str | None:
    """The newest version of ``repo_id`` before ``version`` (``v2`` before ``v3``; a gap is skipped), None if none:
    the version rule of :mod:`kwanzaa_hub.config.names`, through :func:`kwanzaa_hub.hub.records.previous_version`."""
    from kwanzaa_hub.hub.records import previous_version as newest_before

    return newest_before(repo_id, version)
