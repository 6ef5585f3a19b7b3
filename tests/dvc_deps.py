"""The project modules a stage's command imports, computed from the code (for the stage-deps test)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "kwanzaa_hub"


def module_file(root: Path, name: str) -> Path | None:
    """``kwanzaa_hub.contract.metrics.registry`` -> its .py file (or the package's __init__.py)."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(node: ast.AST, root: Path) -> set[str]:
    """Project modules imported anywhere under ``node`` (module level and inside functions)."""
    found = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Import):
            found |= {a.name for a in n.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == PACKAGE:
            found.add(n.module)
            found |= {f"{n.module}.{a.name}" for a in n.names if module_file(root, f"{n.module}.{a.name}")}
    return found


def closure(start: set[str], root: Path) -> set[Path]:
    """Files of ``start`` and of every project module they import, transitively, with their packages' __init__."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            prefix = ".".join(parts[:i])
            if prefix in seen or module_file(root, prefix) is None:
                continue
            seen.add(prefix)
            tree = ast.parse(module_file(root, prefix).read_text())
            if module_file(root, prefix).name == "__init__.py":  # runs its module level only on import
                tree = ast.Module(
                    body=[n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))], type_ignores=[]
                )
            todo.extend(imported_modules(tree, root))
    return {module_file(root, n).relative_to(root) for n in seen}


def command_function(root: Path, command: str) -> tuple[Path, ast.FunctionDef]:
    """The module and function of ``kwanzaa-hub <command>``, as cli/app.py's ``COMMANDS`` registers it."""
    app = ast.parse((root / PACKAGE / "cli" / "app.py").read_text())
    table = next(n.value for n in app.body if isinstance(n, ast.Assign) and n.targets[0].id == "COMMANDS")
    ref = next(pair.elts[1] for pair in table.elts if pair.elts[0].value == command)
    path = root / PACKAGE / "cli" / f"{ref.value.id}.py"
    tree = ast.parse(path.read_text())
    return path, next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == ref.attr)


def command_modules(root: Path, command: str) -> set[Path]:
    """The project files that ``kwanzaa-hub <command>`` runs: what its function imports and what its CLI module
    imports at module level, followed transitively. The CLI's own files are left out: they only parse arguments
    and print, so editing another command's text does not rerun a stage."""
    path, fn = command_function(root, command)
    top = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top |= imported_modules(node, root)
    found = closure(top | imported_modules(fn, root), root)
    return {p for p in found if p.parts[:2] != (PACKAGE, "cli")}


def write_code_deps(root: Path, stages: tuple[str, ...] = ("data", "train", "eval", "push")) -> bool:
    """Rewrite the ``kwanzaa_hub/*.py`` deps of each stage in ``dvc.yaml`` as :func:`command_modules` computes them
    (sorted, where the first one stood; folder deps and ``${...}`` deps are kept). Returns True when it changed."""
    path = root / "dvc.yaml"
    text = path.read_text(encoding="utf-8")
    out: list[str] = []
    stage = None
    in_deps = written = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if indent == 2 and stripped.endswith(":"):
            stage, in_deps, written = stripped[:-1], False, False
        elif indent == 4:
            in_deps = stripped == "deps:"
        if in_deps and stage in stages and stripped.startswith("- kwanzaa_hub/") and stripped.endswith(".py"):
            if not written:
                pad = line[: len(line) - len(line.lstrip())]
                out += [f"{pad}- {p.as_posix()}\n" for p in sorted(command_modules(root, stage))]
                written = True
            continue
        out.append(line)
    new = "".join(out)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":  # python -m tests.dvc_deps: dvc.yaml's code deps, regenerated from the imports
    print("dvc.yaml code deps " + ("rewritten" if write_code_deps(Path(__file__).resolve().parents[1]) else "current"))
