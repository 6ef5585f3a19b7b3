"""What ``model.base`` names (a Hub id, a local model folder or a GGUF file), decided once, and how DVC follows it.

:func:`base_ref` is the one place that reads the text: the params (is it an input?), the runtime (what to load,
what identifies its weights), the model card (a Hub id in the metadata, or a local name), the preflight (a Hub
access check) and ``kwanzaa-hub set`` (a DVC dependency) all ask it. The rules, in order:

1. a name ending in ``.gguf`` is a GGUF file;
2. a name written as a path (``./m``, ``../m``, ``~/m``, ``/abs/m``) is a local folder, whether it exists yet or not;
3. a name that exists relative to the project (``models/base``) is a local folder;
4. a name the project declared local is a local folder, even once it is missing: ``params.yaml`` names it and
   ``dvc.yaml``'s stages depend on ``${model.base}`` (what ``kwanzaa-hub set`` writes for a local base). A local
   base is never looked up on the Hub: a folder moved away is "not found" (exit 2), not a Hub download;
5. a valid Hub repo id ``org/name`` is a Hub model;
6. anything else is a local folder that does not exist (loading it says so).

A URL (``hf://org/name``, ``https://...``) and, on Linux, a Windows path (``C:\\models\\base``) are refused with a
hint (:func:`base_problem`): neither can be loaded here, and as a "local folder" each would only fail later.

A local base is a DVC dependency of the stages that load it (:data:`BASE_STAGES`): :func:`declare_local_base`
keeps ``${model.base}`` among their deps, and :func:`check_declared` stops a stage whose dvc.yaml does not list it
(a base edited into params.yaml by hand), since `dvc repro` would then not see it rebuilt in place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kwanzaa_hub.config.names import repo_id_problem
from kwanzaa_hub.errors import InputError, KwanzaaError

#: The stages that load the base model: a local base folder or file is a DVC dependency of each.
BASE_STAGES = ("data", "train", "eval")
DEP = "${model.base}"


@dataclass(frozen=True)
class BaseRef:
    """``model.base`` read once: ``kind`` says what it names; ``path`` is where a local one is (``~`` expanded,
    relative to the project, resolved), None for a Hub id."""

    text: str
    kind: Literal["hub", "local", "gguf"]
    path: Path | None
    declared: bool = False  # a local base the project's dvc.yaml follows (rule 4)

    @property
    def hub_id(self) -> str | None:
        """The Hub id, or None for a local folder or GGUF file."""
        return self.text if self.kind == "hub" else None

    @property
    def name(self) -> str:
        """How to name it where machine paths do not belong (a card, a report): the Hub id or the file's name."""
        return self.text if self.path is None else self.path.name

    @property
    def exists(self) -> bool:
        return self.path is None or self.path.exists()

    def describe(self) -> str:
        return {"hub": "Hub model", "local": "local model folder", "gguf": "local GGUF file"}[self.kind]


_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WINDOWS = re.compile(r"^[A-Za-z]:[\\/]|\\")


def base_problem(text: str) -> str | None:
    """Why ``text`` cannot name a base model here (a URL; a Windows path on Linux), with what to write instead;
    None when it can."""
    if _URL.match(text):
        rest = text.split("://", 1)[1].strip("/")
        for prefix in ("huggingface.co/", "hf.co/", "models/"):
            rest = rest[len(prefix) :] if rest.startswith(prefix) else rest
        if repo_id_problem(rest) is None:
            return f"{text!r} is a URL; write the Hub id alone: kwanzaa-hub set model.base={rest}"
        return f"{text!r} is a URL; write a Hub id (org/name), a local model folder or a .gguf file"
    if os.sep == "/" and _WINDOWS.search(text):
        return (
            f"{text!r} is a Windows path, and this machine's paths use '/': write the folder as this machine sees it "
            "(e.g. /content/drive/MyDrive/base in Colab)"
        )
    return None


def base_ref(text: str, root: str | Path | None = None, *, follow_declaration: bool = True) -> BaseRef:
    """Read ``model.base`` (or ``--base``); relative paths are relative to ``root`` (default: the working
    directory, which is the project root when DVC runs a stage). An ``InputError`` for a value that cannot name a
    base here (:func:`base_problem`). ``follow_declaration=False`` reads the text alone, without rule 4 (for
    :func:`declare_local_base`, which writes the declaration)."""
    text = str(text)
    problem = base_problem(text)
    if problem:
        raise InputError(f"model.base: {problem}")
    where = Path(os.path.expanduser(text))
    project = Path(root or Path.cwd())
    path = (where if where.is_absolute() else project / where).resolve()
    if text.lower().endswith(".gguf"):
        return BaseRef(text, "gguf", path)
    written_as_path = text.startswith(("~", "/", "./", "../")) or text in (".", "..") or "\\" in text
    if written_as_path or path.exists():
        return BaseRef(text, "local", path, declared=follow_declaration and _declared_local(text, project))
    if follow_declaration and _declared_local(text, project):
        return BaseRef(text, "local", path, declared=True)
    if repo_id_problem(text) is None:
        return BaseRef(text, "hub", None)
    return BaseRef(text, "local", path)


def _declared_local(text: str, project: Path) -> bool:
    """The project at ``project`` declared ``text`` a local base: its params.yaml's ``model.base`` is ``text`` and
    its dvc.yaml lists ``${model.base}`` among the deps of a stage that loads the base."""
    import yaml

    from kwanzaa_hub.config.yamlfile import read_params_file

    try:
        stages = yaml.safe_load((project / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
        if not any(DEP in (stages.get(stage, {}).get("deps") or []) for stage in BASE_STAGES):
            return False
        return str(read_params_file(project / "params.yaml").get("model", {}).get("base", "")) == text
    except (OSError, yaml.YAMLError, KwanzaaError, KeyError, TypeError, AttributeError):
        return False  # no project here (a test, a direct call), or one this check cannot read: nothing declared


def for_params(key: str, value: object) -> tuple[str, object]:
    """A ``KEY=VALUE`` as ``kwanzaa-hub set`` writes it: a ``model.base`` named with ``~`` is written expanded,
    because DVC does not expand ``~`` in the dependency that follows a local base."""
    if key == "model.base" and isinstance(value, str) and value.startswith("~"):
        return key, os.path.expanduser(value)
    return key, value


def declare_local_base(project: Path) -> bool:
    """Keep ``${model.base}`` among the deps of the stages that load the base exactly when ``model.base`` is a local
    folder or file, so `dvc status` sees a base rebuilt in place; a Hub id cannot be a DVC dependency (deps are
    paths): its commit is resolved by the train stage and recorded in the checkpoint fingerprint and the train
    report, and a dep left from a local base is removed. Returns True when the deps name the base."""
    import yaml

    from kwanzaa_hub.config.yamlfile import read_params_file
    from kwanzaa_hub.fs.atomic import atomic_write_text

    project = Path(project)
    base = str(read_params_file(project / "params.yaml").get("model", {}).get("base", ""))
    local = base_ref(base, project, follow_declaration=False).kind != "hub"  # what the text names, as `set` wrote it
    dvc_yaml = project / "dvc.yaml"
    text = dvc_yaml.read_text(encoding="utf-8")
    stages = yaml.safe_load(text)["stages"]
    out, stage = [], None
    for line in text.splitlines(keepends=True):
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            stage = line.strip()[:-1]
        if stage in BASE_STAGES and line.strip() == f"- {DEP}" and not local:
            continue  # a Hub id now: the dep would name a path that does not exist
        out.append(line)
        if local and stage in BASE_STAGES and line.strip() == "deps:" and DEP not in stages[stage]["deps"]:
            out.append(line[: len(line) - len(line.lstrip())] + f"  - {DEP}\n")
    if "".join(out) != text:
        atomic_write_text(dvc_yaml, "".join(out))
    return local


def check_declared(base: str, stage: str, project: str | Path = ".") -> None:
    """Stop (exit 2) a stage that loads a local base DVC does not follow: its dvc.yaml stage lacks the dep (the
    base was edited into params.yaml by hand, or set before its folder existed), or the base is named with ``~``
    (DVC does not expand it in a dep). Nothing to check for a Hub id or outside a DVC project."""
    import yaml

    ref = base_ref(base, project)
    if ref.kind == "hub":
        return
    dvc_yaml = Path(project) / "dvc.yaml"
    try:
        deps = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"][stage].get("deps") or []
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return  # not run by this project's dvc.yaml (a test, a direct call): DVC is not the one to follow it
    if base.startswith("~"):
        raise InputError(
            f"model.base: {base!r}: DVC does not expand '~' in a dependency, so `dvc repro` would not see this "
            f"base rebuilt; write the full path: kwanzaa-hub set model.base={ref.path}"
        )
    if DEP not in deps and base not in deps:
        raise InputError(
            f"model.base: {base!r} is a {ref.describe()}, but dvc.yaml does not list it among the deps of the "
            f"{stage} stage, so `dvc repro` would not see it rebuilt in place: run `kwanzaa-hub set "
            f"model.base={base}` (it adds {DEP} to the deps of {', '.join(BASE_STAGES)}), then `dvc repro`"
        )
