"""Find submissions: a folder ``<student_id>/<assignment>/<notebook>.ipynb``, a folder of
per-student ``.zip`` files, or one ``.zip`` of either. Zips are unpacked safely into the
grader's own staging folder; the submissions themselves are only ever read.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 200 * 1024**2
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")


@dataclass(frozen=True)
class Submission:
    """One student's folder for one assignment (it may not exist: nothing submitted)."""

    student_id: str
    assignment: str
    folder: Path


class SubmissionError(ValueError):
    """The submissions path cannot be read at all."""


def _safe_members(archive: zipfile.ZipFile) -> tuple[list[zipfile.ZipInfo], list[str]]:
    """Members that stay inside the target folder; the rest are named as problems."""
    safe, problems, total = [], [], 0
    for info in archive.infolist():
        path = PurePosixPath(info.filename.replace("\\", "/"))
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if path.is_absolute() or ".." in path.parts or is_link:
            problems.append(f"{info.filename}: refused (path leaves the submission folder or is a link)")
            continue
        total += info.file_size
        if total > MAX_UNPACKED_BYTES:
            problems.append(f"{info.filename}: refused (the archive unpacks to more than 200 MB)")
            break
        if not info.is_dir() and not path.name.startswith(".") and "__MACOSX" not in path.parts:
            safe.append(info)
    return safe, problems


def unpack_zip(archive_path: Path, target: Path) -> list[str]:
    """Unpack ``archive_path`` into ``target``, refusing members that climb out."""
    problems = []
    try:
        with zipfile.ZipFile(archive_path) as archive:
            members, problems = _safe_members(archive)
            for info in members:
                destination = target.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink)
    except (zipfile.BadZipFile, OSError) as error:
        problems.append(f"{archive_path.name}: not a readable zip file ({error})")
    return [f"{archive_path.name}: {p}" if not p.startswith(archive_path.name) else p for p in problems]


def _strip_single_root(folder: Path, name: str) -> Path:
    """A zip named alice.zip may hold alice/<assignment>/...: use the inner folder."""
    inner = folder / name
    entries = [p for p in folder.iterdir()] if folder.is_dir() else []
    return inner if len(entries) == 1 and inner.is_dir() else folder


def stage(source: Path, staging: Path) -> tuple[Path, list[str]]:
    """A folder laid out ``<student_id>/<assignment>/...`` for ``source``, and problems found."""
    if not source.exists():
        raise SubmissionError(f"{source} does not exist")
    problems: list[str] = []
    if source.is_file():
        if source.suffix.lower() != ".zip":
            raise SubmissionError(f"{source} is neither a folder nor a .zip file")
        if staging.exists():
            shutil.rmtree(staging)
        unpacked = staging / "_archive"
        unpacked.mkdir(parents=True)
        problems += unpack_zip(source, unpacked)
        entries = [p for p in unpacked.iterdir()]
        if len(entries) == 1 and entries[0].is_dir() and not STUDENT_ID.match(entries[0].name or ""):
            unpacked = entries[0]
        elif len(entries) == 1 and entries[0].is_dir() and any(entries[0].glob("*.zip")):
            unpacked = entries[0]
        source = unpacked
    zips = sorted(source.glob("*.zip"))
    if not zips:
        return source, problems
    tree = staging / "students"
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    for archive in zips:
        student_id = archive.stem
        if not STUDENT_ID.match(student_id):
            problems.append(f"{archive.name}: file name is not a usable student id, skipped")
            continue
        target = staging / "zips" / student_id
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        problems += unpack_zip(archive, target)
        shutil.move(str(_strip_single_root(target, student_id)), tree / student_id)
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        if not (tree / folder.name).exists():
            shutil.copytree(folder, tree / folder.name, symlinks=True)
    return tree, problems


def discover(tree: Path, assignments: list[str]) -> tuple[list[Submission], list[str]]:
    """Every student × assignment in scope, and problems with the layout."""
    problems = []
    students = []
    for entry in sorted(tree.iterdir()):
        if entry.name.startswith(".") or entry.name.startswith("_"):
            continue
        if not entry.is_dir():
            problems.append(f"{entry.name}: not a student folder, ignored")
            continue
        if not STUDENT_ID.match(entry.name):
            problems.append(f"{entry.name}: not a usable student id, ignored")
            continue
        students.append(entry)
    known = set(assignments)
    units = []
    for student in students:
        for extra in sorted(p.name for p in student.iterdir() if p.is_dir() and p.name not in known):
            problems.append(f"{student.name}/{extra}: unknown assignment, ignored")
        for assignment in assignments:
            units.append(Submission(student.name, assignment, student / assignment))
    return units, problems
