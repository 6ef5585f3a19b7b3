"""What ``model.base`` names (a Hub id, a local model folder or a GGUF file), decided once, and how DVC follows it.

:func:`base_ref` is the one place that reads the text: the params (is it an input?), the runtime (what to load,
what identifies its weights), the model card (a Hub id in the metadata, or a local name), the preflight (a Hub
access check) and ``kwanzaa-hub set`` (a DVC dependency) all ask it. The rules, in order:

1. a name ending in ``.gguf`` is a GGUF file;
2. a name written as a path (``./m``, ``../m``, ``~/m``, ``/abs/m``) is a local folder, whether it exists yet or not;
3. a name that exists relative to the project (``models/base``) is a local folder;
4. a valid Hub repo id ``org/name`` is a Hub model;
5. anything else is a local folder that does not exist (loading it says so).

A local base is a DVC dependency of the stages that load it (:data:`BASE_STAGES`): :func:`declare_local_base`
keeps ``${model.base}`` among their deps, and :func:`check_declared` stops a stage whose dvc.yaml does not list it
(a base edited into params.yaml by hand), since `dvc repro` would then not see it rebuilt in place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kwanzaa_hub.config.names import repo_id_problem
from kwanzaa_hub.errors import InputError

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


def base_ref(text: str, root: str | Path | None = None) -> BaseRef:
    """Read ``model.base`` (or ``--base``); relative paths are relative to ``root`` (default: the working
    directory, which is the project root when DVC runs a stage)."""
    text = str(text)
    where = Path(os.path.expanduser(text))
    path = (where if where.is_absolute() else Path(root or Path.cwd()) / where).resolve()
    if text.lower().endswith(".gguf"):
        return BaseRef(text, "gguf", path)
    written_as_path = text.startswith(("~", "/", "./", "../")) or text in (".", "..") or "\\" in text
    if not written_as_path and not path.exists() and repo_id_problem(text) is None:
        return BaseRef(text, "hub", None)
    return BaseRef(text, "local", path)


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
    local = base_ref(base, project).kind != "hub"
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
