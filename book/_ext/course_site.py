"""Sphinx helpers for the course website.

- The exercises page (``book/exercises.md``) gets its table of assignments generated at
  build time from the nbgrader metadata of the student notebooks (``exercises/``): graded
  names and points only, never source code. The line ``% assignment-table`` is replaced.
- Colab opens only ``.ipynb`` files, so the launch (Colab) button is kept on the exercise
  notebooks and removed from the MyST Markdown chapters.
- Thebe (live code from a remote kernel) is off, so its assets are left out of the pages:
  sphinx-thebe adds them unconditionally, its inline configuration twice (a console error,
  "Identifier 'THEBE_JS_URL' has already been declared"), and it names a CDN URL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

EXERCISES_DOC = "book/exercises"
TABLE_MARKER = "% assignment-table"
TEST_ID = re.compile(r"^test_(?P<name>.+?)__")


@dataclass
class Assignment:
    name: str
    title: str
    points: dict[str, float]  # graded name -> points of its test cells, in notebook order

    @property
    def total(self) -> float:
        return sum(self.points.values())


def _repo_root(app: Sphinx) -> Path:
    return Path(app.srcdir)


def assignment_names(root: Path) -> list[str]:
    """Assignments as the grader sees them: folders of ``solutions/`` holding a notebook."""
    solutions = root / "solutions"
    if not solutions.is_dir():
        return []
    return sorted(p.name for p in solutions.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def _notebook_title(cells: list[dict]) -> str:
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def read_assignment(notebook: Path) -> Assignment:
    """Title and per-graded-name points from the nbgrader cell metadata of one notebook."""
    cells = json.loads(notebook.read_text(encoding="utf8"))["cells"]
    points: dict[str, float] = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            points.setdefault(meta["grade_id"], 0.0)
        elif meta.get("grade"):
            match = TEST_ID.match(meta.get("grade_id", ""))
            name = match["name"] if match else meta.get("grade_id", "?")
            if not match:
                logger.warning(f"{notebook.name}: test cell {name!r} is not named test_<graded name>__<what>")
            points[name] = points.get(name, 0.0) + float(meta.get("points", 0))
    return Assignment(notebook.stem, _notebook_title(cells), points)


def _fmt(points: float) -> str:
    return f"{points:g}"


def _colab_url(app: Sphinx, relpath: str) -> str:
    colab = app.config.html_theme_options.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    repo = app.config.html_theme_options.get("repository_url", "").rstrip("/")
    branch = app.config.html_theme_options.get("repository_branch", "main")
    org_repo = repo.split("github.com/")[-1]
    return f"{colab}/github/{org_repo}/blob/{branch}/{relpath}"


def _chapter_link(root: Path, name: str) -> str:
    """Links to the chapters that link this assignment's notebook (each chapter names its own)."""
    target = f"../exercises/{name}/{name}.ipynb"
    chapters = sorted(p for p in (root / "book").glob("*.md") if p.name not in ("exercises.md", "intro.md") and target in p.read_text())
    return ", ".join(f"[](./{p.name})" for p in chapters) or "—"


def assignment_table(app: Sphinx) -> str:
    """The MyST table of every assignment: chapter, graded names with points, links."""
    root = _repo_root(app)
    rows = [
        "| # | assignment (chapter) | what you implement (points) | points | get it |",
        "|---|---|---|---|---|",
    ]
    grand_total = 0.0
    for name in assignment_names(root):
        relpath = f"exercises/{name}/{name}.ipynb"
        notebook = root / relpath
        if not notebook.is_file():
            logger.warning(f"{relpath} is missing: run `python -m autograder release`", location=EXERCISES_DOC)
            continue
        if f"exercises/{name}/{name}" not in app.env.found_docs:
            logger.warning(f"{relpath} is not a page of the book: add it to _toc.yml", location=EXERCISES_DOC)
        app.env.note_dependency(str(notebook))
        assignment = read_assignment(notebook)
        grand_total += assignment.total
        graded = ", ".join(f"`{graded}` ({_fmt(p)})" for graded, p in assignment.points.items())
        title = re.sub(r"^(Assignment|Exercise) \d+:\s*", "", assignment.title) or name
        title = title[:1].upper() + title[1:]
        links = f"{{download}}`.ipynb <../{relpath}>`<br>[Colab]({_colab_url(app, relpath)})"
        rows.append(
            f"| {name[:2]} | [{title}](../{relpath})<br>({_chapter_link(root, name)}) "
            f"| {graded} | {_fmt(assignment.total)} | {links} |"
        )
    rows.append(f"| | **total** | | **{_fmt(grand_total)}** | |")
    return "\n".join(rows)


def fill_assignment_table(app: Sphinx, docname: str, source: list[str]) -> None:
    if docname != EXERCISES_DOC:
        return
    if TABLE_MARKER not in source[0]:
        logger.warning(f"{EXERCISES_DOC}.md has no line {TABLE_MARKER!r}", location=EXERCISES_DOC)
        return
    source[0] = source[0].replace(TABLE_MARKER, assignment_table(app), 1)


def always_reread_exercises_page(app: Sphinx, env: Any, added: set, changed: set, removed: set) -> list[str]:
    """The table depends on files outside the page: re-read it on every build (it is cheap)."""
    return [EXERCISES_DOC] if EXERCISES_DOC in env.found_docs else []


def colab_only_on_notebooks(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Drop the launch (Colab) button from pages whose source is not an ``.ipynb`` file."""
    buttons = context.get("header_buttons")
    if buttons is None or context.get("page_source_suffix") == ".ipynb":
        return
    buttons[:] = [b for b in buttons if b.get("label") != "launch-buttons"]


def _is_thebe_asset(asset: Any) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    body = getattr(asset, "attributes", {}).get("body", "")
    return "thebe" in filename or "THEBE_JS_URL" in body


def drop_unused_thebe(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Leave thebe's scripts and styles out of the page unless thebe launch buttons are on."""
    if app.config.html_theme_options.get("launch_buttons", {}).get("thebe"):
        return
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe_asset(asset)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("source-read", fill_assignment_table)
    app.connect("env-get-outdated", always_reread_exercises_page)
    # After sphinx-book-theme adds its buttons (priority 501).
    app.connect("html-page-context", colab_only_on_notebooks, priority=502)
    app.connect("html-page-context", drop_unused_thebe, priority=502)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1.0"}
