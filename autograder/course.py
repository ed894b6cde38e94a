"""Where things are: the course layout and the nbgrader configuration built on it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from traitlets.config import Config

REPO_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS_DIR = REPO_ROOT / "solutions"
EXERCISES_DIR = REPO_ROOT / "exercises"
COURSE_ID = "cnn-course"


def list_assignments(solutions_dir: Path = SOLUTIONS_DIR) -> list[str]:
    """Assignment names: the folders of ``solutions/`` that hold a notebook, sorted."""
    if not solutions_dir.is_dir():
        return []
    return sorted(p.name for p in solutions_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(assignment: str, solutions_dir: Path = SOLUTIONS_DIR) -> list[Path]:
    """The source notebooks of one assignment, sorted by name."""
    return sorted((solutions_dir / assignment).glob("*.ipynb"))


def nbgrader_config(
    root: Path,
    db_url: str,
    *,
    source_directory: str = "source",
    release_directory: str = "release",
) -> Config:
    """The nbgrader configuration of a course directory at ``root``."""
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = db_url
    config.CourseDirectory.source_directory = source_directory
    config.CourseDirectory.release_directory = release_directory
    config.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]
    return config


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def assignment_digest(assignment: str, solutions_dir: Path = SOLUTIONS_DIR) -> str:
    """A digest of an assignment's source notebooks: grades depend on it."""
    parts = {p.name: file_digest(p) for p in source_notebooks(assignment, solutions_dir)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
