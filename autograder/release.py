"""Student versions: nbgrader's generate_assignment from solutions/ into exercises/.

nbgrader also records every graded and locked cell in a gradebook (``SaveCells``); the
grader uses such a gradebook as the trusted template of each assignment.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from .course import EXERCISES_DIR, SOLUTIONS_DIR, list_assignments, nbgrader_config


class ReleaseError(RuntimeError):
    """nbgrader could not generate an assignment."""


def _run_generate_assignment(assignment: str, course_root: Path, release_dir: Path, db_url: str) -> None:
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    config = nbgrader_config(
        course_root, db_url, source_directory="source", release_directory=str(release_dir)
    )
    config.CourseDirectory.assignment_id = assignment
    config.GenerateAssignment.force = True
    config.GenerateAssignment.create_assignment = True
    coursedir = CourseDirectory(config=config)
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    converter.log.setLevel(logging.ERROR)
    try:
        converter.start()
    except Exception as error:  # nbgrader raises NbGraderException and others
        raise ReleaseError(f"nbgrader could not generate {assignment!r}: {error}") from error


def generate(
    assignment: str,
    release_dir: Path,
    db_path: Path,
    solutions_dir: Path = SOLUTIONS_DIR,
) -> Path:
    """Generate the student version of ``assignment`` into ``release_dir/<assignment>``.

    The gradebook at ``db_path`` receives the assignment's cells. Returns the folder of
    the student version.
    """
    source = solutions_dir / assignment
    if not source.is_dir():
        raise ReleaseError(f"no assignment {assignment!r} in {solutions_dir}")
    with tempfile.TemporaryDirectory(prefix="cnn-release-") as scratch:
        course_root = Path(scratch)
        shutil.copytree(source, course_root / "source" / assignment)
        out = release_dir / assignment
        if out.exists():
            shutil.rmtree(out)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        _run_generate_assignment(assignment, course_root, release_dir.resolve(), f"sqlite:///{db_path.resolve()}")
    return out


def release_all(
    release_dir: Path = EXERCISES_DIR,
    solutions_dir: Path = SOLUTIONS_DIR,
    assignments: list[str] | None = None,
) -> list[Path]:
    """Regenerate every student version (the ``release`` command)."""
    names = assignments or list_assignments(solutions_dir)
    with tempfile.TemporaryDirectory(prefix="cnn-release-db-") as scratch:
        db_path = Path(scratch) / "gradebook.db"
        return [generate(name, release_dir, db_path, solutions_dir) for name in names]
