"""The grading commands as an instructor uses them: formats, resume, kill, report, demo."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import FIXTURES, ROOT, read_grades, run_grader

pytestmark = pytest.mark.slow
TOY = ["--solutions", str(FIXTURES / "solutions"), "--quiet"]


def _class(tmp_path: Path, toy_release: Path, students: int) -> Path:
    reference = nbformat.read(FIXTURES / "solutions" / "toy" / "toy.ipynb", as_version=4)
    student = nbformat.read(toy_release, as_version=4)
    subs = tmp_path / "subs"
    for i in range(students):
        folder = subs / f"s{i:02d}" / "toy"
        folder.mkdir(parents=True)
        nbformat.write(reference if i % 2 == 0 else student, folder / "toy.ipynb")
    return subs


def test_help_explains_every_command():
    result = run_grader("--help")
    for command in ("release", "grade", "feedback", "export", "report", "demo"):
        assert command in result.stdout
    grade_help = run_grader("grade", "--help").stdout
    for option in ("--jobs", "--timeout", "--memory", "--db", "--assignment", "--out"):
        assert option in grade_help


def test_output_formats_resume_and_commands(tmp_path, toy_release):
    subs = _class(tmp_path, toy_release, 4)
    out = tmp_path / "out"
    first = run_grader("grade", str(subs), "--out", str(out), "--jobs", "2", *TOY)
    assert first.returncode == 0, first.stderr
    assert "toy" in first.stdout and "median" in first.stdout

    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["student_id", "assignment", "notebook", "score", "max_score"]
    assert {(r["student_id"], r["score"]) for r in rows} == {("s00", "5"), ("s01", "0"), ("s02", "5"), ("s03", "0")}
    results = json.loads((out / "results.json").read_text())
    assert set(results[0]) == {
        "student_id", "assignment", "notebook", "grade_id", "score", "max_score", "error", "traceback"}
    assert len(results) == 4 * 3
    failing = [r for r in results if r["student_id"] == "s01"]
    assert all(r["error"].startswith("NotImplementedError") for r in failing)
    assert all("raise NotImplementedError" in r["traceback"] for r in failing)  # their own frames
    assert all(r["traceback"] is None for r in results if r["student_id"] == "s00")
    assert (out / "feedback" / "s01" / "toy" / "toy.html").exists()
    assert (out / "gradebook.db").exists()

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{out / 'gradebook.db'}", "cnn-course") as gb:
        assert gb.find_submission("toy", "s00").score == 5
        assert gb.find_submission("toy", "s01").score == 0

    stamps = {p: p.stat().st_mtime_ns for p in (out / "units").rglob("*.json")}
    again = run_grader("grade", str(subs), "--out", str(out), "--jobs", "2", *TOY)
    assert again.returncode == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "units").rglob("*.json")} == stamps, "resume re-graded"
    assert read_grades(out) == {(f"s{i:02d}", "toy"): (5.0 if i % 2 == 0 else 0.0, 5.0) for i in range(4)}

    (out / "grades.csv").unlink()
    assert run_grader("export", str(out)).returncode == 0 and (out / "grades.csv").exists()
    assert run_grader("feedback", str(out)).returncode == 0
    report = run_grader("report", str(out))
    assert report.returncode == 0 and (out / "report.png").stat().st_size > 10_000
    assert (out / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_custom_database_url(tmp_path, toy_release):
    subs = _class(tmp_path, toy_release, 1)
    db = tmp_path / "elsewhere.db"
    result = run_grader("grade", str(subs), "--out", str(tmp_path / "out"), "--db", f"sqlite:///{db}", *TOY)
    assert result.returncode == 0, result.stderr
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db}", "cnn-course") as gb:
        assert gb.find_submission("toy", "s00").score == 5


def test_a_kill_mid_run_loses_nothing_already_graded(tmp_path, toy_release):
    subs = _class(tmp_path, toy_release, 6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), *TOY]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "units").rglob("*.json"))) < 2:
        time.sleep(0.5)
    import os

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    survivors = list((out / "units").rglob("*.json"))
    assert 2 <= len(survivors) < 6
    for path in survivors:
        json.loads(path.read_text())  # whole files, never half-written
    stamps = {p: p.stat().st_mtime_ns for p in survivors}
    result = run_grader("grade", str(subs), "--out", str(out), "--jobs", "2", *TOY)
    assert result.returncode == 0
    assert {p: p.stat().st_mtime_ns for p in survivors} == stamps
    assert len(read_grades(out)) == 6


def test_demo_runs_and_says_where_the_outputs_are(tmp_path):
    result = run_grader("demo", "--out", str(tmp_path / "demo"), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    grades = read_grades(tmp_path / "demo" / "graded")
    scores = {student: score / max_score for (student, _), (score, max_score) in grades.items()}
    assert scores["ada_correct"] == 1.0
    assert 0.0 < scores["ben_partial"] < 1.0
    assert scores["cy_broken"] == 0.0
    assert scores["dee_hostile"] < scores["ben_partial"]
    assert "Feedback:" in result.stdout and "report.png" in result.stdout


def test_grading_refuses_without_a_sandbox_unless_told(tmp_path, toy_release):
    """Only an old bubblewrap (Ubuntu 22.04's 0.6): a clear refusal, nothing graded;
    --unsafe-no-sandbox grades, and problems.txt says so."""
    subs = _class(tmp_path, toy_release, 1)
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "bwrap").write_text("#!/bin/sh\necho 'bubblewrap 0.6.1'\n")
    (tools / "bwrap").chmod(0o755)
    env = {"PATH": f"{tools}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    command = [sys.executable, "-m", "autograder", "grade", str(subs), *TOY]
    refused = subprocess.run([*command, "--out", str(tmp_path / "refused")], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "sandbox" in refused.stderr and "--unsafe-no-sandbox" in refused.stderr
    assert "bubblewrap" in refused.stderr
    assert not (tmp_path / "refused" / "grades.csv").exists()

    unsafe = subprocess.run([*command, "--out", str(tmp_path / "unsafe"), "--unsafe-no-sandbox"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    assert unsafe.returncode == 0, unsafe.stdout + unsafe.stderr
    assert read_grades(tmp_path / "unsafe")[("s00", "toy")] == (5.0, 5.0)
    assert "graded WITHOUT sandbox" in (tmp_path / "unsafe" / "problems.txt").read_text()
