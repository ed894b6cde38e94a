"""What grading produces, from the unit results in ``OUT/units``.

Contract (other tools read these; do not change them):
- ``OUT/grades.csv``: ``student_id, assignment, notebook, score, max_score``, one row
  per student and notebook.
- ``OUT/results.json``: a list with one record per graded test cell:
  ``student_id, assignment, notebook, grade_id, score, max_score, error``
  (``error`` is null for a passing cell, else the failure message).
- ``OUT/feedback/<student_id>/<assignment>/<notebook>.html``: what failed and why
  (messages only, never test code), and ``OUT/feedback/<student_id>/index.html``.
- The nbgrader gradebook: ``OUT/gradebook.db`` (SQLite) or the ``--db`` URL.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from .course import COURSE_ID
from .io import write_json_atomic, write_text_atomic
from .plan import graded_name_of

GRADES_COLUMNS = ["student_id", "assignment", "notebook", "score", "max_score"]
RESULTS_KEYS = ["student_id", "assignment", "notebook", "grade_id", "score", "max_score", "error"]


def load_records(out: Path) -> list[dict]:
    """Every unit result under ``OUT/units``, sorted by student and assignment."""
    records = []
    for path in sorted((out / "units").glob("*/*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(records, key=lambda r: (r["student_id"], r["assignment"]))


def _fmt(value: float) -> str:
    return f"{value:g}"


def write_grades_csv(out: Path, records: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(GRADES_COLUMNS)
    for record in records:
        for nb in record["notebooks"]:
            writer.writerow(
                [record["student_id"], record["assignment"], nb["notebook"], _fmt(nb["score"]), _fmt(nb["max_score"])]
            )
    path = out / "grades.csv"
    write_text_atomic(path, buffer.getvalue())
    return path


def read_grade_totals(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(student_id, assignment) -> (score, max_score) summed over notebooks, from ``OUT/grades.csv``."""
    totals: dict[tuple[str, str], tuple[float, float]] = {}
    with open(out / "grades.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["student_id"], row["assignment"])
            score, max_score = totals.get(key, (0.0, 0.0))
            totals[key] = (score + float(row["score"]), max_score + float(row["max_score"]))
    return totals


def cell_rows(records: list[dict]) -> list[dict]:
    rows = []
    for record in records:
        for nb in record["notebooks"]:
            for cell in nb["cells"]:
                rows.append(
                    {
                        "student_id": record["student_id"],
                        "assignment": record["assignment"],
                        "notebook": nb["notebook"],
                        "grade_id": cell["grade_id"],
                        "score": cell["score"],
                        "max_score": cell["max_score"],
                        "error": cell["error"],
                        "traceback": cell.get("traceback"),
                    }
                )
    return rows


def write_results_json(out: Path, records: list[dict]) -> Path:
    path = out / "results.json"
    write_json_atomic(path, cell_rows(records))
    return path


# ---------------------------------------------------------------- feedback
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.35rem;text-align:left;vertical-align:top}
.pass{color:#1a7f37}.fail{color:#b42318}.problem{background:#fff4e5;padding:.5rem;border-left:4px solid #f79009}
code{white-space:pre-wrap}
"""


def _page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )


def test_label(grade_id: str) -> str:
    """A test cell as a student reads it: 'conv2d_forward (hidden)' for test_conv2d_forward__hidden."""
    name = graded_name_of(grade_id)
    if name is None:
        return grade_id
    what = grade_id[len(f"test_{name}__"):]
    return f"{name} ({what.replace('_', ' ')})"


def student_code(out: Path, record: dict, notebook: str) -> dict[str, str]:
    """Graded name -> the student's own solution cell, from the kept autograded notebook."""
    import nbformat

    path = out / "units" / record["assignment"] / record["student_id"] / f"{notebook}.ipynb"
    try:
        kept = nbformat.read(path, as_version=4)
    except Exception:  # no kept notebook (not submitted, failed): nothing to show
        return {}
    code = {}
    for cell in kept.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id"):
            code[meta["grade_id"]] = cell.source
    return code


def feedback_html(record: dict, notebook: dict, code: dict[str, str] | None = None) -> str:
    """One notebook's feedback: score, each test cell by function, why the failing ones
    failed (the whole message), the student's own code of a failing function, and any
    manual score or comment."""
    esc = html.escape
    code = code or {}
    rows, shown = [], set()
    for cell in notebook["cells"]:
        ok = cell["error"] is None
        verdict = "<span class='pass'>passed</span>" if ok else "<span class='fail'>failed</span>"
        message = "" if ok else f"<code>{esc(str(cell['error']))}</code>"
        if not ok and cell.get("traceback"):  # the frames of the student's own code
            message += f"<details><summary>where in your code</summary><pre>{esc(cell['traceback'])}</pre></details>"
        name = graded_name_of(cell["grade_id"])
        if not ok and name in code and name not in shown:
            shown.add(name)
            message += f"<details><summary>your code of {esc(name)}</summary><pre>{esc(code[name])}</pre></details>"
        points = f"{_fmt(cell['score'])} / {_fmt(cell['max_score'])}"
        if cell.get("manual"):
            points += f"<br><small>set by your instructor (autograder: {_fmt(cell.get('auto_score', 0))})</small>"
        if cell.get("comment"):
            message += f"<p class='comment'><b>Instructor:</b> {esc(cell['comment'])}</p>"
        rows.append(
            f"<tr><td>{esc(test_label(cell['grade_id']))}</td><td>{verdict}</td><td>{points}</td><td>{message}</td></tr>"
        )
    problems = "".join(
        f"<p class='problem'>{esc(p)}</p>" for p in [*record.get("problems", []), *notebook.get("problems", [])]
    )
    body = (
        f"<h1>{esc(record['assignment'])}: {esc(notebook['notebook'])}</h1>"
        f"<p>Student <b>{esc(record['student_id'])}</b>: score "
        f"<b>{_fmt(notebook['score'])} / {_fmt(notebook['max_score'])}</b></p>{problems}"
        "<table><tr><th>function (test)</th><th>result</th><th>points</th><th>why</th></tr>"
        + "".join(rows)
        + "</table><p>Messages come from the hidden tests; they name the likely mistake where "
        "the grader can tell. When your code raised the error, its traceback shows the lines of "
        "your code only. Fix it, then run the visible tests again.</p>"
    )
    return _page(f"Feedback {record['assignment']}", body)


def write_feedback(out: Path, records: list[dict]) -> Path:
    root = out / "feedback"
    by_student = defaultdict(list)
    for record in records:
        by_student[record["student_id"]].append(record)
        for nb in record["notebooks"]:
            path = root / record["student_id"] / record["assignment"] / f"{nb['notebook']}.html"
            write_text_atomic(path, feedback_html(record, nb, student_code(out, record, nb["notebook"])))
    for student_id, student_records in by_student.items():
        items = "".join(
            f"<li><a href='{html.escape(r['assignment'])}/{html.escape(nb['notebook'])}.html'>"
            f"{html.escape(r['assignment'])}</a>: {_fmt(nb['score'])} / {_fmt(nb['max_score'])}</li>"
            for r in student_records
            for nb in r["notebooks"]
        )
        write_text_atomic(
            root / student_id / "index.html",
            _page(f"Feedback for {student_id}", f"<h1>Feedback for {html.escape(student_id)}</h1><ul>{items}</ul>"),
        )
    return root


# ---------------------------------------------------------------- gradebook
def _fill_gradebook(
    db_url: str, records: list[dict], templates: dict[str, Path], overrides: dict, due: dict | None = None
) -> None:
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)

    from .unit import template_notebooks

    _stamp_schema_version(db_url, templates)
    with Gradebook(db_url, COURSE_ID) as gb:
        for assignment, template in sorted(templates.items()):
            gb.update_or_create_assignment(assignment, duedate=(due or {}).get(assignment))
            for notebook, cells in template_notebooks(str(template)).items():
                gb.update_or_create_notebook(notebook, assignment)
                for cell in cells:
                    gb.update_or_create_grade_cell(
                        cell["grade_id"], notebook, assignment, max_score=cell["max_score"], cell_type="code"
                    )
                    gb.update_or_create_source_cell(
                        cell["grade_id"], notebook, assignment,
                        source=cell["source"], checksum=cell["checksum"], cell_type="code", locked=True,
                    )
        for record in records:
            if record["assignment"] not in templates:
                continue
            gb.update_or_create_student(record["student_id"])
            submitted_at = _parse_timestamp(record.get("submitted_at"))
            gb.update_or_create_submission(record["assignment"], record["student_id"], timestamp=submitted_at)
            for nb in record["notebooks"]:
                if nb.get("late_penalty"):
                    submitted = gb.find_submission_notebook(nb["notebook"], record["assignment"], record["student_id"])
                    submitted.late_submission_penalty = nb["late_penalty"]
                for cell in nb["cells"]:
                    grade = gb.find_grade(cell["grade_id"], nb["notebook"], record["assignment"], record["student_id"])
                    grade.auto_score = cell.get("auto_score", cell["score"])
                    manual = overrides.get((record["student_id"], record["assignment"], cell["grade_id"]))
                    grade.manual_score = manual["score"] if manual else None
                    grade.needs_manual_grade = False
            gb.db.commit()


def _stamp_schema_version(db_url: str, templates: dict[str, Path]) -> None:
    """Give a new, empty gradebook database nbgrader's schema version before nbgrader opens it.

    For a database without tables, ``nbgrader.api.Gradebook`` runs the ``alembic`` command
    (a Python start: 2-4 s, measured) only to learn the version it then writes into
    ``alembic_version``. The template gradebooks were made by the same nbgrader and carry it;
    this writes that table as nbgrader would. A database with tables is left alone."""
    import sqlite3

    from sqlalchemy import create_engine, inspect, text

    version = None
    for template in templates.values():
        try:
            with contextlib.closing(sqlite3.connect(f"file:{template}?mode=ro", uri=True)) as db:
                version = db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
                break
        except (sqlite3.Error, TypeError):
            continue
    if not version:
        return  # nbgrader finds it itself
    engine = create_engine(db_url, future=True)
    try:
        if inspect(engine).get_table_names():
            return
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
    finally:
        engine.dispose()


def _parse_timestamp(text: str | None):
    """A timestamp.txt value as nbgrader reads it (None when absent or unreadable)."""
    if not text:
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(text)
    except (ValueError, OverflowError):
        return None


def write_gradebook(
    out: Path,
    records: list[dict],
    templates: dict[str, Path],
    db_url: str | None,
    overrides: dict | None = None,
    due: dict | None = None,
) -> str:
    """Write the class gradebook (automatic scores, and manual ones from ``overrides``); a
    SQLite file is replaced atomically."""
    overrides = overrides or {}
    if db_url:
        _fill_gradebook(db_url, records, templates, overrides, due)
        return db_url
    final = out / "gradebook.db"
    fd, tmp = tempfile.mkstemp(prefix=".gradebook.", suffix=".db", dir=out)
    os.close(fd)
    os.unlink(tmp)
    try:
        _fill_gradebook(f"sqlite:///{tmp}", records, templates, overrides, due)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return f"sqlite:///{final}"


def write_formgrader_files(out: Path, records: list[dict], db_url: str) -> Path:
    """What nbgrader's formgrader needs to open this run: ``OUT/nbgrader_config.py`` pointing at
    the gradebook in use, and the autograded notebooks in ``OUT/autograded/<student>/<assignment>/``."""
    import shutil

    for record in records:
        kept = out / "units" / record["assignment"] / record["student_id"]
        if kept.is_dir():
            target = out / "autograded" / record["student_id"] / record["assignment"]
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(kept, target)
    config = (
        "# Written by `python -m autograder grade`: open this folder with nbgrader's formgrader\n"
        "# (`jupyter lab` or `nbgrader formgrader` from here). Manual scores set there are kept\n"
        "# by the next grading run.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(out.resolve())!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n"
    )
    path = out / "nbgrader_config.py"
    write_text_atomic(path, config)
    return path


# ---------------------------------------------------------------- summary and report
def summary_rows(records: list[dict]) -> list[dict]:
    """Per assignment: submitted, graded, failed to run, mean and median score."""
    by_assignment = defaultdict(list)
    for record in records:
        by_assignment[record["assignment"]].append(record)
    rows = []
    for assignment, group in sorted(by_assignment.items()):
        scores = [sum(nb["score"] for nb in r["notebooks"]) for r in group]
        max_score = max((sum(nb["max_score"] for nb in r["notebooks"]) for r in group), default=0.0)
        submitted = sum(any(nb["status"] != "missing" for nb in r["notebooks"]) for r in group)
        graded = sum(all(nb["status"] == "graded" for nb in r["notebooks"]) for r in group)
        failed = sum(any(nb["status"] in ("failed", "invalid") for nb in r["notebooks"]) for r in group)
        rows.append(
            {
                "assignment": assignment,
                "students": len(group),
                "submitted": submitted,
                "graded": graded,
                "failed": failed,
                "mean": statistics.fmean(scores) if scores else 0.0,
                "median": statistics.median(scores) if scores else 0.0,
                "max_score": max_score,
            }
        )
    return rows


def format_summary(records: list[dict]) -> str:
    header = f"{'assignment':<28}{'students':>9}{'submitted':>10}{'graded':>8}{'failed':>8}{'mean':>9}{'median':>9}{'max':>7}"
    lines = [header, "-" * len(header)]
    for row in summary_rows(records):
        lines.append(
            f"{row['assignment']:<28}{row['students']:>9}{row['submitted']:>10}{row['graded']:>8}"
            f"{row['failed']:>8}{row['mean']:>9.2f}{row['median']:>9.2f}{row['max_score']:>7g}"
        )
    return "\n".join(lines)


def write_report(out: Path, records: list[dict]) -> Path:
    """PNG: score distribution per assignment, and the class's pass rate per test cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assignments = sorted({r["assignment"] for r in records})
    rows = cell_rows(records)
    fig_height = 3 + 0.25 * len({(r["assignment"], r["grade_id"]) for r in rows})
    fig, (ax_scores, ax_cells) = plt.subplots(
        1, 2, figsize=(13, max(4.0, fig_height)), gridspec_kw={"width_ratios": [1, 1.3]}
    )
    data = []
    for assignment in assignments:
        group = [r for r in records if r["assignment"] == assignment]
        fractions = []
        for r in group:
            total = sum(nb["max_score"] for nb in r["notebooks"])
            fractions.append(100 * sum(nb["score"] for nb in r["notebooks"]) / total if total else 0)
        data.append(fractions)
    if data:
        ax_scores.boxplot(data, vert=False, tick_labels=assignments)
        for i, fractions in enumerate(data, start=1):
            ax_scores.scatter(fractions, [i] * len(fractions), s=12, alpha=0.5, color="C1")
    ax_scores.set_xlabel("score (% of the assignment's points)")
    ax_scores.set_xlim(-5, 105)
    ax_scores.set_title("Score distribution per assignment")
    cells = sorted({(r["assignment"], r["grade_id"]) for r in rows})
    rates = []
    for assignment, grade_id in cells:
        group = [r for r in rows if r["assignment"] == assignment and r["grade_id"] == grade_id]
        rates.append(100 * sum(r["error"] is None for r in group) / len(group))
    labels = [f"{a}: {g}" for a, g in cells]
    ax_cells.barh(range(len(cells)), rates, color=["C3" if v < 50 else "C2" for v in rates])
    ax_cells.set_yticks(range(len(cells)), labels, fontsize=7)
    ax_cells.invert_yaxis()
    ax_cells.set_xlim(0, 100)
    ax_cells.set_xlabel("students passing (%)")
    ax_cells.set_title("Pass rate per test cell (red: most of the class failed)")
    fig.tight_layout()
    path = out / "report.png"
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    from .io import write_bytes_atomic

    write_bytes_atomic(path, buffer.getvalue())
    return path


def write_problems(out: Path, records: list[dict], problems: list[str]) -> Path:
    """A plain-text list of everything that went wrong, one line each."""
    lines = list(problems)
    for record in records:
        for problem in record.get("problems", []):
            lines.append(f"{record['student_id']}/{record['assignment']}: {problem}")
        for nb in record["notebooks"]:
            for problem in nb.get("problems", []):
                lines.append(f"{record['student_id']}/{record['assignment']}/{nb['notebook']}: {problem}")
        if record.get("sandboxed") is False:
            lines.append(f"{record['student_id']}/{record['assignment']}: graded WITHOUT sandbox")
    path = out / "problems.txt"
    write_text_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
    return path
