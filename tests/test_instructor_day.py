"""An instructor's real day: LMS exports in, one gradebook that keeps manual work, LMS grades out.

The layouts are built here as Canvas and Moodle write them. Most checks grade the toy
assignment (seconds per student); one grades 02_convolution from a Canvas download as the
issue's instructor did: the reference (48), the untouched notebook (0) and a bias mistake.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_variants import fill, load_variants, solution_sources

from conftest import FIXTURES, SOLUTIONS, read_grades, run_grader

TOY = ["--solutions", str(FIXTURES / "solutions"), "--quiet"]
EXPECTED = {"02_convolution": ["02_convolution"], "04_pooling_upsampling": ["04_pooling_upsampling"], "toy": ["toy"]}


def _write(path: Path, notebook: nbformat.NotebookNode | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook or nbformat.v4.new_notebook(), path)
    return path


def _collect(source: Path, tmp_path: Path, wanted=None):
    from autograder.submissions import collect

    return collect(source, tmp_path / "staging", EXPECTED, wanted)


def _staged(collection) -> set[str]:
    return {str(p.relative_to(collection.tree)) for p in collection.tree.rglob("*.ipynb")}


# ---------------------------------------------------------------- collection, without grading
def test_canvas_download_uses_user_ids_late_markers_and_resubmission_names(tmp_path):
    inbox = tmp_path / "canvas"
    _write(inbox / "smithalice_1001_5001_02_convolution.ipynb")
    _write(inbox / "jonesbob_LATE_1002_5002_02_convolution-1.ipynb")
    _write(inbox / "leecarol_1003_5003_02_Convolution (1).ipynb")
    found = _collect(inbox, tmp_path)
    assert "Canvas" in found.layout and found.present == ["02_convolution"]
    assert _staged(found) == {f"{sid}/02_convolution/02_convolution.ipynb" for sid in ("1001", "1002", "1003")}
    assert found.students["1002"].late and not found.students["1001"].late
    assert found.students["1001"].name == "smithalice" and found.students["1001"].submissions == {"02_convolution": "5001"}
    assert any("found 02_Convolution (1).ipynb" in n for n in found.unit_notes[("1003", "02_convolution")])


def test_moodle_download_folders_and_flat_files(tmp_path):
    inbox = tmp_path / "moodle"
    _write(inbox / "Alice Smith_1001_assignsubmission_file_" / "02_convolution.ipynb")
    _write(inbox / "Bob Jones_1002_assignsubmission_file_" / "my work.ipynb")  # the only notebook: taken, with a note
    _write(inbox / "Carol Lee_1003_assignsubmission_file_02_convolution.ipynb")
    found = _collect(inbox, tmp_path)
    assert "Moodle" in found.layout
    assert _staged(found) == {f"{sid}/02_convolution/02_convolution.ipynb" for sid in ("1001", "1002", "1003")}
    assert found.students["1002"].name == "Bob Jones"
    assert "found my work.ipynb, graded as 02_convolution.ipynb" in found.unit_notes[("1002", "02_convolution")][0]


def test_per_student_folders_course_layout_and_zips_inside_one_wrapping_folder(tmp_path):
    inbox = tmp_path / "inbox"
    wrapper = inbox / "export-2026-12-06"
    _write(wrapper / "alice" / "02_convolution.ipynb")
    _write(wrapper / "bob" / "04_pooling_upsampling" / "04_pooling_upsampling.ipynb")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("carol/02_convolution/02_convolution.ipynb", nbformat.writes(nbformat.v4.new_notebook()))
    (wrapper / "carol.zip").write_bytes(archive.getvalue())
    found = _collect(inbox, tmp_path)
    assert _staged(found) == {
        "alice/02_convolution/02_convolution.ipynb",
        "bob/04_pooling_upsampling/04_pooling_upsampling.ipynb",
        "carol/02_convolution/02_convolution.ipynb",
    }
    assert found.present == ["02_convolution", "04_pooling_upsampling"]
    units = {(u.student_id, u.assignment) for u in found.units(found.present)}
    assert len(units) == 6  # each student x each assignment present: bob's 02 is "not submitted"


def test_a_zip_of_a_wrapping_folder_is_not_a_student(tmp_path):
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for login, uid in (("smithalice", 1001), ("jonesbob", 1002)):
            z.writestr(f"submissions/{login}_{uid}_{uid + 4000}_02_convolution.ipynb", "{}")
    found = _collect(archive, tmp_path)
    assert set(found.students) == {"1001", "1002"}


def test_assignment_option_places_a_lone_oddly_named_notebook(tmp_path):
    inbox = tmp_path / "inbox"
    _write(inbox / "alice" / "homework final.ipynb")
    assert _collect(inbox, tmp_path).notebooks == 0
    found = _collect(inbox, tmp_path, ["02_convolution"])
    assert _staged(found) == {"alice/02_convolution/02_convolution.ipynb"}


# ---------------------------------------------------------------- grading, merging, manual scores, export
def _toy_notebooks(toy_release: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    return nbformat.read(FIXTURES / "solutions" / "toy" / "toy.ipynb", as_version=4), nbformat.read(toy_release, as_version=4)


def test_a_manual_score_on_a_late_notebook_loses_the_late_share():
    """The late rule's share applies to the score that counts, also where the autograder's was 0."""
    from autograder.manual import apply_overrides

    record = {"student_id": "s", "assignment": "a", "notebooks": [{
        "notebook": "a", "score": 0.0, "max_score": 4.0, "late_penalty": 0.0, "late_fraction": 0.25,
        "cells": [{"grade_id": "test_f__all", "score": 0.0, "max_score": 4.0, "error": "x"}],
    }]}
    shown = apply_overrides([record], {("s", "a", "test_f__all"): {"score": 4.0, "comment": ""}})
    assert shown[0]["notebooks"][0]["score"] == 3.0 and shown[0]["notebooks"][0]["late_penalty"] == 1.0
    assert record["notebooks"][0]["score"] == 0.0  # the unit result itself is left as graded


def test_nothing_gradable_exits_non_zero_with_the_layouts(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "alice").mkdir(parents=True)
    (inbox / "alice" / "notes.txt").write_text("no notebook here")
    result = run_grader("grade", str(inbox), "--out", str(tmp_path / "out"), *TOY)
    assert result.returncode == 2
    assert "nothing gradable" in result.stderr and "Canvas" in result.stderr and "Moodle" in result.stderr


def test_help_shows_the_defaults():
    text = run_grader("grade", "--help").stdout
    assert "default: 300" in text and "default: 4" in text and "--student" in text and "--force" in text


def test_a_late_student_joins_and_manual_scores_survive_reruns(tmp_path, toy_release):
    from nbgrader.api import Gradebook

    reference, untouched = _toy_notebooks(toy_release)
    first, late = tmp_path / "first", tmp_path / "late"
    _write(first / "smithalice_1001_5001_toy.ipynb", reference)
    _write(first / "jonesbob_1002_5002_toy (1).ipynb", untouched)
    _write(late / "leecarol_LATE_1003_5003_toy.ipynb", reference)
    out = tmp_path / "out"
    assert run_grader("grade", str(first), "--out", str(out), *TOY).returncode == 0
    assert run_grader("grade", str(late), "--out", str(out), *TOY).returncode == 0
    assert read_grades(out) == {("1001", "toy"): (5.0, 5.0), ("1002", "toy"): (0.0, 5.0), ("1003", "toy"): (5.0, 5.0)}
    assert len(json.loads((out / "results.json").read_text())) == 9

    # a manual score by command, and one as formgrader writes it (manual_score in the gradebook)
    done = run_grader("override", "1002", "toy", "test_scale__visible", "1", "--comment", "right on paper", "--out", str(out))
    assert done.returncode == 0, done.stderr
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "cnn-course") as gb:
        gb.find_grade("test_total__all", "toy", "toy", "1002").manual_score = 2.0
        gb.db.commit()
    rerun = run_grader("grade", str(first), "--out", str(out), "--force", *TOY)
    assert rerun.returncode == 0, rerun.stderr
    assert read_grades(out)[("1002", "toy")] == (3.0, 5.0)
    assert len(read_grades(out)) == 3
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "cnn-course") as gb:
        assert gb.find_submission("toy", "1002").score == 3.0
        assert gb.find_grade("test_scale__visible", "toy", "toy", "1002").auto_score == 0.0
    feedback = (out / "feedback" / "1002" / "toy" / "toy.html").read_text()
    assert "right on paper" in feedback and "set by your instructor" in feedback
    assert "found toy (1).ipynb" in feedback  # the renamed notebook, in words
    assert "scale (visible)" in feedback and "raise NotImplementedError()" in feedback  # by function, with their code
    skip = run_grader("grade", str(first), "--out", str(out), *TOY)
    assert "skipped 2" in skip.stdout
    config = (out / "nbgrader_config.py").read_text()
    assert "gradebook.db" in config and (out / "autograded" / "1002" / "toy" / "toy.ipynb").is_file()

    bad = run_grader("override", "1002", "toy", "test_nope", "1", "--out", str(out))
    assert bad.returncode == 2 and "test_scale__visible" in bad.stderr
    too_much = run_grader("override", "1002", "toy", "test_scale__visible", "9", "--out", str(out))
    assert too_much.returncode == 2 and "between 0 and 1" in too_much.stderr
    # a second override of a cell whose manual score is already in the gradebook replaces it
    assert run_grader("override", "1002", "toy", "test_total__all", "1", "--out", str(out)).returncode == 0
    assert read_grades(out)[("1002", "toy")] == (2.0, 5.0)
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "cnn-course") as gb:
        assert gb.find_grade("test_total__all", "toy", "toy", "1002").manual_score == 1.0
    assert run_grader("override", "1002", "toy", "test_total__all", "2", "--out", str(out)).returncode == 0
    assert read_grades(out)[("1002", "toy")] == (3.0, 5.0)

    # grades out: Canvas and Moodle import layouts, checked column by column
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,name,sortable_name,email,sis_user_id,login_id,section\n"
        "1001,Alice Smith,\"Smith, Alice\",alice@uni.example,S1001,asmith,A\n"
        "1002,Bob Jones,\"Jones, Bob\",bob@uni.example,S1002,bjones,A\n"
        "1004,Dan Wu,\"Wu, Dan\",dan@uni.example,S1004,dwu,B\n"
    )
    assert run_grader("export", str(out), "--format", "canvas", "--roster", str(roster)).returncode == 0
    rows = list(csv.reader((out / "lms" / "canvas" / "grades.csv").open()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy", "Final Score"]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == "5"
    by_id = {row[1]: row for row in rows[2:]}
    assert by_id["1001"] == ["Smith, Alice", "1001", "S1001", "asmith", "A", "5", "100.00"]
    assert by_id["1002"][5] == "3" and by_id["1003"][5] == "5"
    assert by_id["1004"][5] == ""  # on the roster, nothing graded
    with zipfile.ZipFile(out / "lms" / "canvas" / "feedback_toy.zip") as z:
        assert "asmith_1001_5001_feedback_toy.html" in z.namelist()
    assert run_grader("export", str(out), "--format", "moodle", "--roster", str(roster)).returncode == 0
    rows = list(csv.reader((out / "lms" / "moodle" / "grades.csv").open()))
    assert rows[0] == ["First name", "Last name", "ID number", "Email address", "toy", "Course total"]
    assert ["Alice", "Smith", "1001", "alice@uni.example", "5", "5"] in rows
    with zipfile.ZipFile(out / "lms" / "moodle" / "feedback_toy.zip") as z:
        assert "Alice Smith_1001_assignsubmission_file_feedback_toy.html" in z.namelist()
    with open(out / "grades.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["student_id", "assignment", "notebook", "score", "max_score"]


def test_only_one_student_regraded(tmp_path, toy_release):
    reference, untouched = _toy_notebooks(toy_release)
    inbox = tmp_path / "inbox"
    _write(inbox / "alice" / "toy" / "toy.ipynb", reference)
    _write(inbox / "bob" / "toy" / "toy.ipynb", untouched)
    out = tmp_path / "out"
    result = run_grader("grade", str(inbox), "--out", str(out), "--student", "bob", *TOY)
    assert result.returncode == 0, result.stderr
    assert read_grades(out) == {("bob", "toy"): (0.0, 5.0)}
    missing = run_grader("grade", str(inbox), "--out", str(out), "--student", "zed", *TOY)
    assert missing.returncode == 2 and "zed" in missing.stderr


@pytest.mark.slow
def test_a_canvas_download_of_02_grades_to_the_right_totals(tmp_path, student_versions):
    """The issue's instructor: reference 48, untouched 0, the bias mistake below 48."""
    _, mistakes = load_variants("02_convolution")
    sources = solution_sources(nbformat.read(SOLUTIONS / "02_convolution" / "02_convolution.ipynb", as_version=4))
    untouched = nbformat.read(student_versions / "02_convolution" / "02_convolution.ipynb", as_version=4)
    reference = fill(untouched, sources)
    bias = fill(untouched, {**sources, "conv2d_forward": mistakes["conv2d_forward"]["bias missing"]})
    inbox = tmp_path / "canvas"
    _write(inbox / "smithalice_1001_5001_02_convolution.ipynb", reference)
    _write(inbox / "jonesbob_1002_5002_02_convolution.ipynb", untouched)
    _write(inbox / "leecarol_1003_5003_02_convolution (1).ipynb", bias)
    out = tmp_path / "out"
    result = run_grader("grade", str(inbox), "--out", str(out), "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Canvas" in result.stdout and "3 student(s)" in result.stdout
    grades = read_grades(out)
    assert set(grades) == {("1001", "02_convolution"), ("1002", "02_convolution"), ("1003", "02_convolution")}
    assert grades[("1001", "02_convolution")] == (48.0, 48.0)
    assert grades[("1002", "02_convolution")] == (0.0, 48.0)
    assert grades[("1003", "02_convolution")][0] < 48.0


def test_late_rule_from_the_course_file_through_nbgraders_step(tmp_path, toy_release):
    """Due date in course.toml, times from the Canvas export (file times, _LATE marker):
    10 % per started day, shown in feedback, the gradebook and the LMS export."""
    import os
    from datetime import UTC, datetime, timedelta

    from nbgrader.api import Gradebook

    due = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    config = tmp_path / "course.toml"
    config.write_text(
        '[late]\nrule = "per_day"\npercent_per_day = 10\ngrace_minutes = 15\n\n[due]\ntoy = 2026-11-02T23:59:00Z\n'
    )
    reference, _ = _toy_notebooks(toy_release)
    inbox = tmp_path / "canvas"
    times = {
        "smithalice_1001_5001_toy.ipynb": due - timedelta(hours=2),  # on time
        "jonesbob_1002_5002_toy.ipynb": due + timedelta(hours=30),  # two started days: 20 %
        "leecarol_LATE_1003_5003_toy.ipynb": due - timedelta(hours=1),  # Canvas says late: one day, 10 %
        "wudan_1004_5004_toy.ipynb": due + timedelta(minutes=10),  # within the grace period
    }
    for name, when in times.items():
        path = _write(inbox / name, reference)
        os.utime(path, (when.timestamp(), when.timestamp()))
    out = tmp_path / "out"
    result = run_grader("grade", str(inbox), "--out", str(out), "--course-config", str(config), *TOY)
    assert result.returncode == 0, result.stderr
    grades = read_grades(out)
    assert grades == {("1001", "toy"): (5.0, 5.0), ("1002", "toy"): (4.0, 5.0),
                      ("1003", "toy"): (4.5, 5.0), ("1004", "toy"): (5.0, 5.0)}
    feedback = (out / "feedback" / "1002" / "toy" / "toy.html").read_text()
    assert "after the due date" in feedback and "took 1 point(s) off" in feedback
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "cnn-course") as gb:
        assert gb.find_assignment("toy").duedate == due.replace(tzinfo=None)
        assert gb.find_submission_notebook("toy", "toy", "1002").late_submission_penalty == 1.0
        assert gb.find_submission("toy", "1002").total_seconds_late == 30 * 3600
    assert run_grader("export", str(out), "--format", "canvas").returncode == 0
    rows = {row[1]: row for row in csv.reader((out / "lms" / "canvas" / "grades.csv").open())}
    assert rows["1002"][5] == "4" and rows["1003"][5] == "4.5"
    bad = tmp_path / "bad.toml"
    bad.write_text('[due]\nnope = 2026-11-02T23:59:00Z\n')
    refused = run_grader("grade", str(inbox), "--out", str(tmp_path / "o2"), "--course-config", str(bad), *TOY)
    assert refused.returncode == 2 and "nope" in refused.stderr
