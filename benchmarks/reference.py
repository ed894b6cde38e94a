"""The course's reference implementations, taken from the solution notebooks themselves.

Nothing is copied here: a notebook's nbgrader solution cells, and the locked set-up
cells they rely on (imports, helpers such as ``as_pair``), are executed in a fresh
namespace and the wanted names are read from it.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import nbformat

# Locked cells whose grade_id starts with one of these set up what solutions use.
SETUP_PREFIXES = ("imports", "setup", "helper")


def is_reference_cell(cell: nbformat.NotebookNode) -> bool:
    """A code cell that defines reference code: a solution cell or a locked set-up cell."""
    if cell.cell_type != "code":
        return False
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("solution"):
        return True
    grade_id = str(meta.get("grade_id", ""))
    return bool(meta.get("locked")) and not meta.get("grade") and grade_id.startswith(SETUP_PREFIXES)


def _python_only(source: str) -> str:
    """Drop IPython magics and shell escapes, which plain ``exec`` cannot run."""
    return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))


def load_reference(notebook: Path, names: Iterable[str]) -> dict[str, Callable]:
    """Execute the reference cells of ``notebook`` and return the functions ``names``."""
    nb = nbformat.read(notebook, as_version=4)
    namespace: dict = {"__name__": f"reference_{notebook.stem}"}
    with contextlib.redirect_stdout(io.StringIO()):
        for index, cell in enumerate(nb.cells):
            if is_reference_cell(cell):
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", index)
                code = compile(_python_only(cell.source), f"{notebook.name}[{grade_id}]", "exec")
                exec(code, namespace)
    missing = [name for name in names if not callable(namespace.get(name))]
    if missing:
        raise LookupError(f"{notebook} defines no {', '.join(missing)} in its solution cells")
    return {name: namespace[name] for name in names}
