"""Grades out to an LMS: the CSV each gradebook import accepts, and feedback files named so
that the LMS's bulk upload attaches each one to its student.

- **Canvas** (Grades → Import): ``Student, ID, SIS User ID, SIS Login ID, Section``, one
  column per assignment (Canvas creates an assignment for a new column name), a
  ``Points Possible`` row, and ``Final Score`` (a read-only column Canvas ignores on import).
  Feedback: ``<login>_<user id>_<submission id>_feedback_<assignment>.html`` in one zip per
  assignment, for "Re-upload submissions", which attaches files by those ids.
- **Moodle** (Grades → Import → CSV file): ``First name, Last name, ID number, Email
  address``, one column per assignment and ``Course total``; map the identity column to a
  user field when importing (email, ID number). Feedback:
  ``<Full Name>_<id>_assignsubmission_file_feedback_<assignment>.html`` in one zip per
  assignment, for "Upload multiple feedback files in a zip".

Names and ids come from the export the submissions arrived in (``OUT/students.json``)
and, where given, a roster CSV with a ``student_id`` column and any of ``name``,
``sortable_name``, ``email``, ``sis_user_id``, ``login_id``, ``id_number``, ``section``.
A student in the roster with no result gets empty cells: not graded, as the LMS shows it.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict
from pathlib import Path

from .io import write_bytes_atomic, write_text_atomic
from .outputs import feedback_html, student_code

FORMATS = ("canvas", "moodle")
ROSTER_COLUMNS = ("student_id", "name", "sortable_name", "email", "sis_user_id", "login_id", "id_number", "section")


class RosterError(ValueError):
    """The roster cannot be used."""


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """student_id -> the roster's fields for that student."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "student_id" not in reader.fieldnames:
                raise RosterError(f"{path}: the roster needs a 'student_id' column (has {reader.fieldnames})")
            roster = {}
            for row in reader:
                sid = (row.get("student_id") or "").strip()
                if sid:
                    roster[sid] = {k: (row.get(k) or "").strip() for k in ROSTER_COLUMNS}
            return roster
    except OSError as error:
        raise RosterError(f"{path}: cannot read the roster ({error})") from error


def _students(out: Path, roster: dict[str, dict[str, str]], records: list[dict]) -> dict[str, dict[str, str]]:
    """Everyone to export: who was graded, and who is on the roster; with what we know of them."""
    try:
        seen = json.loads((out / "students.json").read_text())
    except (OSError, json.JSONDecodeError):
        seen = {}
    people: dict[str, dict[str, str]] = {}
    for sid in sorted({r["student_id"] for r in records} | set(roster)):
        info = seen.get(sid, {})
        person = {k: "" for k in ROSTER_COLUMNS}
        person.update(student_id=sid, name=info.get("name", ""), login_id=info.get("name", ""))
        person["lms_id"] = info.get("lms_id", "") or sid
        person["submissions"] = info.get("submissions", {})
        person.update({k: v for k, v in roster.get(sid, {}).items() if v})
        people[sid] = person
    return people


def _totals(records: list[dict]) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    scores, maxima = {}, {}
    for record in records:
        key = (record["student_id"], record["assignment"])
        scores[key] = sum(nb["score"] for nb in record["notebooks"])
        maxima[record["assignment"]] = max(
            maxima.get(record["assignment"], 0.0), sum(nb["max_score"] for nb in record["notebooks"])
        )
    return scores, maxima


def _fmt(value: float) -> str:
    return f"{value:g}"


def _percent(sid: str, scores: dict, maxima: dict[str, float]) -> str:
    got = [(scores[(sid, a)], m) for a, m in maxima.items() if (sid, a) in scores]
    total = sum(m for _, m in got)
    return f"{100 * sum(s for s, _ in got) / total:.2f}" if total else ""


def canvas_csv(people: dict, records: list[dict]) -> str:
    scores, maxima = _totals(records)
    assignments = sorted(maxima)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *assignments, "Final Score"])
    writer.writerow(["    Points Possible", "", "", "", "", *(_fmt(maxima[a]) for a in assignments), ""])
    for sid, p in people.items():
        cells = [_fmt(scores[(sid, a)]) if (sid, a) in scores else "" for a in assignments]
        name = p["sortable_name"] or p["name"] or sid
        writer.writerow([name, p["lms_id"], p["sis_user_id"], p["login_id"], p["section"], *cells,
                         _percent(sid, scores, maxima)])
    return buffer.getvalue()


def _split_name(name: str) -> tuple[str, str]:
    if "," in name:
        last, first = (part.strip() for part in name.split(",", 1))
        return first, last
    parts = name.split()
    return (" ".join(parts[:-1]), parts[-1]) if len(parts) > 1 else (name, "")


def moodle_csv(people: dict, records: list[dict]) -> str:
    scores, maxima = _totals(records)
    assignments = sorted(maxima)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["First name", "Last name", "ID number", "Email address", *assignments, "Course total"])
    for sid, p in people.items():
        first, last = _split_name(p["name"] or sid)
        cells = [_fmt(scores[(sid, a)]) if (sid, a) in scores else "" for a in assignments]
        total = sum(scores[(sid, a)] for a in assignments if (sid, a) in scores)
        graded = any((sid, a) in scores for a in assignments)
        writer.writerow([first, last, p["id_number"] or p["lms_id"], p["email"], *cells, _fmt(total) if graded else ""])
    return buffer.getvalue()


def _feedback_name(fmt: str, person: dict, assignment: str) -> str:
    if fmt == "canvas":
        login = (person["login_id"] or person["name"] or person["student_id"]).replace("_", "").replace(" ", "").lower()
        submission = person["submissions"].get(assignment, "0")
        return f"{login}_{person['lms_id']}_{submission}_feedback_{assignment}.html"
    name = person["name"] or person["student_id"]
    return f"{name}_{person['lms_id']}_assignsubmission_file_feedback_{assignment}.html"


def write_feedback_zips(out: Path, fmt: str, people: dict, records: list[dict], target: Path) -> list[Path]:
    """One zip per assignment of feedback pages named for the LMS's bulk upload."""
    by_assignment = defaultdict(list)
    for record in records:
        by_assignment[record["assignment"]].append(record)
    written = []
    for assignment, group in sorted(by_assignment.items()):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for record in group:
                person = people[record["student_id"]]
                pages = [feedback_html(record, nb, student_code(out, record, nb["notebook"])) for nb in record["notebooks"]]
                archive.writestr(_feedback_name(fmt, person, assignment), "\n".join(pages))
        path = target / f"feedback_{assignment}.zip"
        write_bytes_atomic(path, buffer.getvalue())
        written.append(path)
    return written


def export(out: Path, records: list[dict], fmt: str, roster_path: Path | None = None) -> list[Path]:
    """Write ``OUT/lms/<fmt>/grades.csv`` and its feedback zips; returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown LMS format {fmt!r}; known: {', '.join(FORMATS)}")
    roster = read_roster(roster_path) if roster_path else {}
    people = _students(out, roster, records)
    target = out / "lms" / fmt
    grades = target / "grades.csv"
    write_text_atomic(grades, canvas_csv(people, records) if fmt == "canvas" else moodle_csv(people, records))
    return [grades, *write_feedback_zips(out, fmt, people, records, target)]
