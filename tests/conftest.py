"""Shared fixtures: paths, student versions generated once, and grading through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
EXERCISES = ROOT / "exercises"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(ROOT / "book"))


def assignments() -> list[str]:
    from autograder.course import list_assignments

    return list_assignments(SOLUTIONS)


def run_grader(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run ``python -m autograder ...`` as an instructor would; fail loudly on a crash."""
    result = subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result


def read_grades(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(student_id, assignment) -> (score, max_score), summed over notebooks."""
    from autograder.outputs import read_grade_totals

    return read_grade_totals(out)


def read_results(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())


def autograded_notebook(out: Path, assignment: str, student: str, notebook: str) -> nbformat.NotebookNode:
    return nbformat.read(out / "units" / assignment / student / f"{notebook}.ipynb", as_version=4)


@pytest.fixture(scope="session")
def student_versions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every assignment generated afresh by nbgrader from solutions/."""
    from autograder.release import release_all

    target = tmp_path_factory.mktemp("release")
    release_all(target, SOLUTIONS)
    return target


@pytest.fixture(scope="session")
def toy_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The student version of the grader's own toy assignment."""
    from autograder.release import release_all

    target = tmp_path_factory.mktemp("toy-release")
    release_all(target, FIXTURES / "solutions")
    return target / "toy" / "toy.ipynb"
