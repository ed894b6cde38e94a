"""What the trusted side runs for each notebook, decided from the source notebooks only.

For every source notebook in ``solutions/`` the plan lists:

- **test cells** (nbgrader grade cells that are not solution cells): their full source,
  hidden tests included, and the names they use that they do not define. The grader
  runs them in its own process (``trusted.py``); names defined by the student become
  proxies to the student's kernel;
- **setup cells**: locked code cells that define something a test cell uses (imports,
  ``device``, data, helpers). They run in the student's kernel, as in Jupyter, *and*
  in the trusted namespace, from this source.

The plan is built when the template gradebook is built and stored beside it, so the
submission never decides what runs on the trusted side.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from pathlib import Path

import nbformat

PLAN_VERSION = 1
_MAGIC = re.compile(r"^\s*[%!]")


def _parse(source: str) -> ast.Module | None:
    lines = ["pass" if _MAGIC.match(line) else line for line in source.splitlines()]
    try:
        return ast.parse("\n".join(lines))
    except SyntaxError:
        return None


def defined_names(tree: ast.AST) -> set[str]:
    """Names a cell binds anywhere (assignments, imports, defs, arguments, loop targets)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return names


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a cell binds at module level (what later cells can use)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        else:
            names.update(
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            )
    return names


def free_names(tree: ast.AST) -> list[str]:
    """Names a cell reads but never binds, builtins excepted: they come from elsewhere."""
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return sorted(loaded - defined_names(tree) - set(dir(builtins)))


def notebook_plan(path: Path) -> dict:
    """The plan of one source notebook."""
    notebook = nbformat.read(path, as_version=4)
    tests, candidates, graded = {}, [], []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or "grade_id" not in meta:
            continue
        tree = _parse(cell.source)
        if meta.get("solution"):
            if tree is not None:
                graded += sorted(top_level_names(tree))
        elif meta.get("grade"):
            tests[meta["grade_id"]] = {
                "source": cell.source,
                "names": free_names(tree) if tree is not None else [],
                "points": float(meta.get("points", 0)),
            }
        elif meta.get("locked") and tree is not None:
            candidates.append((meta["grade_id"], cell.source, tree))
    used = {name for test in tests.values() for name in test["names"]}
    setup = {}
    for grade_id, source, tree in candidates:
        if top_level_names(tree) & used:
            setup[grade_id] = {"source": source, "names": free_names(tree)}
    return {"tests": tests, "setup": setup, "student_names": sorted(set(graded))}


def build_plan(source_notebooks: list[Path]) -> dict:
    return {"version": PLAN_VERSION, "notebooks": {p.stem: notebook_plan(p) for p in source_notebooks}}


def write_plan(source_notebooks: list[Path], target: Path) -> None:
    target.write_text(json.dumps(build_plan(source_notebooks), indent=1))


def read_plan(path: Path) -> dict:
    plan = json.loads(Path(path).read_text())
    if plan.get("version") != PLAN_VERSION:
        raise ValueError(f"{path} was written by another version of the grader: rebuild the templates")
    return plan


def graded_name_of(grade_id: str) -> str | None:
    """``test_conv2d_torch__hidden`` -> ``conv2d_torch`` (the course's naming of test cells)."""
    match = re.fullmatch(r"test_(.+?)__\w+", grade_id)
    return match.group(1) if match else None
