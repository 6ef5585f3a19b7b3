"""What the tool may write, replace or remove.

Two layers, so a typo in a path is an exit-2 error and never a wipe:

1. :func:`layout_problems` checks every path in params when they are parsed, before any work: outputs are
   relative paths inside the project (not the project itself, not ``.git``/``.dvc``, no ``..``), have the
   extension their content needs, and overlap neither a stage input (``data/raw``, a local base model) nor
   another output. The checkpoint mirror folder may be absolute (a mounted Drive) but obeys the rest.
2. :func:`claim` runs when a stage starts, before it touches anything: a folder it is about to replace must
   be one it wrote (it carries the :data:`MARKER` file), be empty, or not exist; a file it is about to
   replace must hold what the tool writes there. Anything else stops the stage, naming the key and the path.

``dvc.yaml`` declares every output ``persist: true``: DVC would otherwise delete an output path itself
before the stage command runs, and no check inside the command could protect it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from kwanzaa_hub.errors import InputError

MARKER = ".kwanzaa-hub"  # a file in every folder this tool writes: the proof that it may replace the folder
CARD_SIGNATURE = "<!-- written by kwanzaa_hub: `kwanzaa-hub push` replaces this file -->"
RESERVED = (".git", ".dvc")
Kind = Literal["dir", "json", "jsonl", "card"]
SUFFIX = {"json": ".json", "jsonl": ".jsonl", "card": ".md"}


@dataclass(frozen=True)
class Output:
    """One output path from params: the dotted key, the path, and what the tool writes there. ``fields`` are
    what a file the tool wrote there always holds (top-level keys of a JSON object, keys of a JSON array's rows
    or of a JSONL file's first row; ``adapter.``/``base.`` prefixes for the metrics file)."""

    key: str
    path: str
    kind: Kind
    absolute_ok: bool = False
    fields: tuple[str, ...] = ()


def _parts(path: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(path.replace("\\", "/")).parts if p not in ("", "."))


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True when one path is the other or lies inside it."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def path_problem(key: str, path: str, *, absolute_ok: bool = False) -> str | None:
    """Why ``path`` cannot be an output (None when it can)."""
    if not path.strip():
        return f"{key}: empty path"
    if path != path.strip() or any(ord(c) < 32 for c in path):
        return f"{key}: {path!r} has leading/trailing spaces or control characters"
    if path.startswith("~"):
        return f"{key}: {path!r} starts with '~'; write the path out"
    parts = _parts(path)
    if PurePosixPath(path).is_absolute():
        if ".." in parts:  # judged as written, '..' through a folder that does not exist yet lands elsewhere
            return f"{key}: {path!r} contains '..'; write the folder's path without it"
        if not absolute_ok:
            return f"{key}: {path!r} is absolute; outputs are relative paths inside the project (e.g. models/adapter)"
        if len(parts) < 3:
            return f"{key}: {path!r} is too close to the filesystem root; name a folder of its own"
        return None
    if ".." in parts:
        return f"{key}: {path!r} climbs out of the project with '..'; outputs stay inside the project"
    if not parts:
        return f"{key}: {path!r} is the project folder itself; name a folder or file inside it"
    if parts[0] in RESERVED:
        return f"{key}: {path!r} is inside {parts[0]}/, which belongs to {parts[0][1:]}"
    return None


def layout_problems(outputs: Iterable[Output], inputs: Iterable[tuple[str, str]]) -> list[str]:
    """Every reason the output paths cannot be used together (see the module docstring)."""
    outputs = list(outputs)
    problems = []
    usable = []
    for out in outputs:
        problem = path_problem(out.key, out.path, absolute_ok=out.absolute_ok)
        if problem is None and out.kind in SUFFIX and not out.path.endswith(SUFFIX[out.kind]):
            problem = f"{out.key}: {out.path!r} must end in {SUFFIX[out.kind]}"
        if problem:
            problems.append(problem)
        else:
            usable.append(out)
    # Compared as the filesystem resolves them (symlinked parents, '..' and absolute spellings of an input), so
    # an output cannot reach into an input or another output through another spelling of the same folder.
    here = Path.cwd().resolve()
    # a data file's folder that is the project (or above it) cannot be kept free of outputs; its files still are
    resolved_inputs = [(k, p, r) for k, p in inputs if p for r in [resolved(p)] if r != here and r not in here.parents]
    for out in usable:
        where = resolved(out.path)
        hit = next(((k, p) for k, p, r in resolved_inputs if _overlap(r.parts, where.parts)), None)
        if hit:
            problems.append(f"{out.key}: {out.path!r} overlaps the input {hit[0]} ({hit[1]!r}); choose another path")
        elif not PurePosixPath(out.path).is_absolute():
            inside = where.relative_to(here).parts if here in where.parents else None
            if inside and inside[0] in RESERVED:
                problems.append(f"{out.key}: {out.path!r} resolves inside {inside[0]}/ (a symlink); choose another")
    for i, a in enumerate(usable):
        for b in usable[i + 1 :]:
            if _overlap(resolved(a.path).parts, resolved(b.path).parts):
                problems.append(f"{a.key}: {a.path!r} overlaps {b.key} ({b.path!r}); each output needs its own path")
    return problems


def resolved(path: str | Path) -> Path:
    """``path`` as the filesystem resolves it now (symlinks followed, '..' applied; relative to the working
    folder), for comparing paths whatever their spelling."""
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare it as written
        return Path(path).absolute()


def marker_key(folder: Path) -> str | None:
    """The key (params key or command) recorded in ``folder``'s marker; None when there is no marker or it names
    no key (a file someone made, or one this tool did not write as a marker)."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    key = data.get("key") if isinstance(data, dict) and data.get("written_by") == "kwanzaa_hub" else None
    return key if isinstance(key, str) and key else None


def is_owned(folder: Path, key: str | None = None) -> bool:
    """True when ``folder`` carries this tool's marker (written for ``key``, when given): a folder may be replaced
    only by the output that wrote it."""
    if not (folder / MARKER).is_file():
        return False
    return key is None or marker_key(folder) == key


def mark(folder: Path, key: str) -> None:
    """Write the ownership marker, naming ``key``, into a folder this tool is writing."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"written_by": "kwanzaa_hub", "key": key}) + "\n", encoding="utf-8")


def judged(key: str, path: str | Path) -> Path:
    """``path`` with its parents resolved (symlinks followed), after refusing '..': through a folder that does
    not exist yet, '..' would be judged on one path and written on another. The last part is kept as written,
    so a symlink there is seen (and refused) by :func:`claim`."""
    p = Path(path).expanduser()
    if ".." in p.parts:
        raise InputError(f"{key}: {str(path)!r} contains '..'; write the path without it. Nothing was touched.")
    if not p.name:
        raise InputError(f"{key}: {str(path)!r} names no folder of its own. Nothing was touched.")
    return resolved(p.parent) / p.name


def _holds(data: object, fields: tuple[str, ...]) -> bool:
    """True when ``data`` has the shape the tool writes: an object with ``fields`` as keys (or, for fields ending
    in '.', only keys starting with one of them), or an array whose rows have them."""
    if isinstance(data, list):  # an empty array or object holds none of the tool's fields: not proof of anything
        return bool(data) and all(_holds(row, fields) for row in data)
    if not isinstance(data, dict) or not data:
        return False
    prefixes = tuple(f for f in fields if f.endswith("."))
    if prefixes:
        return all(k.startswith(prefixes) for k in data)
    return all(f in data for f in fields)


def _file_is_ours(path: Path, kind: Kind, fields: tuple[str, ...]) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if kind == "card":
        return CARD_SIGNATURE in text
    if kind == "jsonl":
        text = text.split("\n", 1)[0]
        if not text.strip():
            return not path.read_text(encoding="utf-8").strip()
    try:
        return _holds(json.loads(text), fields)
    except (json.JSONDecodeError, RecursionError):
        return False


def claim(key: str, path: str | Path, kind: Kind, fields: tuple[str, ...] = ()) -> Path:
    """Check, before a stage writes ``path``, that replacing what is there loses nothing the tool did not
    write; raise ``InputError`` naming ``key`` otherwise. Nothing is changed either way. Returns the path with its
    parents resolved (:func:`judged`): the one that was checked is the one to write."""
    p, shown = judged(key, path), Path(path)
    if kind == "dir":
        if p.is_symlink() or (p.exists() and not p.is_dir()):
            raise InputError(
                f"{key}: {shown} exists and is not a folder this tool wrote; nothing was touched. "
                f"Move it away or set {key} to another path."
            )
        if p.is_dir() and not is_owned(p, key) and any(p.iterdir()):
            if not is_owned(p):
                raise InputError(
                    f"{key}: {shown}/ exists and was not written by kwanzaa_hub (no {MARKER} marker in it); "
                    f"nothing was touched. Move it away or set {key} to another path."
                )
            wrote = marker_key(p)
            raise InputError(
                f"{key}: {shown}/ was written by kwanzaa_hub for "
                + (f"{wrote!r}, not for {key!r}" if wrote else "no output (its marker names none)")
                + f"; nothing was touched. Move it away or set {key} to another path"
                + ("" if wrote else f" (or, if it is a folder {key} may replace, delete its {MARKER} file)")
                + "."
            )
        return p
    if p.is_symlink() or p.is_dir() or (p.exists() and not _file_is_ours(p, kind, fields)):
        raise InputError(
            f"{key}: {shown} exists and does not hold what kwanzaa_hub writes there; nothing was touched. "
            f"Move it away or set {key} to another path."
        )
    return p


def claim_all(outputs: Iterable[Output]) -> None:
    """:func:`claim` every output; the first one that is not ours stops the stage before anything is written."""
    for out in outputs:
        claim(out.key, out.path, out.kind, out.fields)


#: What a machine path is cut to in anything pushed: ``<local>/`` and its last part (``<local>/base``).
LOCAL = "<local>/"


def without_machine_paths(data: object) -> object:
    """``data`` with every absolute path (a local base model, a Drive mirror folder) cut to its last part, so no
    card or pushed file tells where things lie on the machine that trained."""
    if isinstance(data, dict):
        return {k: without_machine_paths(v) for k, v in data.items()}
    if isinstance(data, list):
        return [without_machine_paths(v) for v in data]
    if isinstance(data, str) and (data.startswith(("/", "~", "\\")) or (len(data) > 2 and data[1:3] in (":\\", ":/"))):
        return f"{LOCAL}{Path(data.replace(chr(92), '/')).name}"
    return data
