"""Manual grades: scores and comments an instructor sets by hand, kept across re-runs.

They come from two places and live in one file, ``OUT/overrides.json``:

- ``python -m autograder override --out OUT STUDENT ASSIGNMENT GRADE_ID SCORE``;
- nbgrader's formgrader, which writes ``manual_score`` into the gradebook: each ``grade``
  run reads the gradebook it is about to rewrite and keeps what it finds there.

The unit results in ``OUT/units`` always hold what the autograder measured; a manual
score replaces the automatic one in ``grades.csv``, ``results.json``, the feedback, the
LMS exports and the gradebook's ``manual_score`` (nbgrader's own rule: a manual score,
when present, is the score).
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

from .course import COURSE_ID
from .io import write_json_atomic

Key = tuple[str, str, str]  # (student_id, assignment, grade_id)


def overrides_path(out: Path) -> Path:
    return out / "overrides.json"


def load_overrides(out: Path) -> dict[Key, dict]:
    """(student, assignment, grade_id) -> {"score": float, "comment": str}."""
    try:
        rows = json.loads(overrides_path(out).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {(r["student_id"], r["assignment"], r["grade_id"]): {"score": float(r["score"]), "comment": r.get("comment", "")}
            for r in rows}


def save_overrides(out: Path, overrides: dict[Key, dict]) -> Path:
    rows = [
        {"student_id": s, "assignment": a, "grade_id": g, "score": v["score"], "comment": v.get("comment", "")}
        for (s, a, g), v in sorted(overrides.items())
    ]
    path = overrides_path(out)
    write_json_atomic(path, rows)
    return path


def gradebook_url(out: Path, db_url: str | None) -> str | None:
    """The gradebook a run writes: ``--db`` or ``OUT/gradebook.db`` (None if there is none yet)."""
    if db_url:
        return db_url
    path = out / "gradebook.db"
    return f"sqlite:///{path}" if path.is_file() else None


def gradebook_manual_scores(db_url: str | None) -> dict[Key, dict]:
    """Manual scores set in the gradebook (by formgrader or an earlier run)."""
    if not db_url:
        return {}
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)
    found: dict[Key, dict] = {}
    try:
        with Gradebook(db_url, COURSE_ID) as gb:
            for assignment in gb.assignments:
                for submission in assignment.submissions:
                    for notebook in submission.notebooks:
                        comments = {c.name: c.manual_comment for c in notebook.comments if c.manual_comment}
                        for grade in notebook.grades:
                            if grade.manual_score is not None:
                                found[(submission.student_id, assignment.name, grade.name)] = {
                                    "score": float(grade.manual_score),
                                    "comment": comments.get(grade.name, ""),
                                }
    except Exception as error:  # an unreadable gradebook must not stop grading; say so
        warnings.warn(f"could not read manual scores from the gradebook: {error}", stacklevel=2)
    return found


def merged_overrides(out: Path, db_url: str | None) -> dict[Key, dict]:
    """overrides.json, updated by what the gradebook holds (formgrader's edits are newer)."""
    merged = load_overrides(out)
    for key, value in gradebook_manual_scores(gradebook_url(out, db_url)).items():
        comment = value["comment"] or merged.get(key, {}).get("comment", "")
        merged[key] = {"score": value["score"], "comment": comment}
    return merged


def apply_overrides(records: list[dict], overrides: dict[Key, dict]) -> list[dict]:
    """Copies of ``records`` with manual scores in place (cells marked ``manual``)."""
    result = copy.deepcopy(records)
    for record in result:
        for notebook in record["notebooks"]:
            changed = False
            for cell in notebook["cells"]:
                override = overrides.get((record["student_id"], record["assignment"], cell["grade_id"]))
                if override is None:
                    continue
                cell["auto_score"] = cell["score"]
                cell["score"] = min(max(override["score"], 0.0), cell["max_score"])
                cell["manual"] = True
                cell["comment"] = override.get("comment", "")
                changed = True
            if changed:
                raw = sum(c["score"] for c in notebook["cells"])
                if notebook.get("late_fraction"):  # the late rule takes its share of the new score
                    notebook["late_penalty"] = raw * notebook["late_fraction"]
                notebook["score"] = raw - notebook.get("late_penalty", 0.0)
    return result


def grade_ids(records: list[dict], assignment: str) -> dict[str, float]:
    """grade_id -> max score of every test cell of ``assignment`` seen in the results."""
    found: dict[str, float] = {}
    for record in records:
        if record["assignment"] == assignment:
            for notebook in record["notebooks"]:
                for cell in notebook["cells"]:
                    found[cell["grade_id"]] = cell["max_score"]
    return found
