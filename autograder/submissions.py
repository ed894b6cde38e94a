"""Find submissions in what instructors actually have, and stage them for grading.

INPUT is a folder or a ``.zip`` in one of these layouts (possibly inside one wrapping
folder, as a zip of a folder usually is):

- the course's own layout, ``<student_id>/<assignment>/<notebook>.ipynb``;
- one folder per student holding the notebook(s), ``<student_id>/<notebook>.ipynb``;
- per-student ``.zip`` files, ``<student_id>.zip`` holding either of the above;
- Canvas's "Download submissions": flat files
  ``<login>[_LATE]_<user id>_<submission id>_<file name>``;
- Moodle's "Download all submissions", ``<Full Name>_<id>_assignsubmission_file_/<file>``
  (or flat files with that prefix).

Everything is copied into the grader's staging folder as
``<student_id>/<assignment>/<notebook>.ipynb``; the submissions themselves are only read.
The student id is the LMS user id where the export has one, otherwise the folder name.
A notebook is matched to its assignment by its folder or its name; a notebook whose name
differs ("02_convolution (1).ipynb", another case, spaces) is taken, with a note, when it
is the student's only notebook for that assignment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 200 * 1024**2
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
CANVAS_FILE = re.compile(r"^(?P<login>[^_]+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$")
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_?$")
MOODLE_FILE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_file_(?P<file>.+)$")
IGNORED = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")

LAYOUT_HELP = """\
Expected one of these layouts (a folder or a .zip, possibly inside one wrapping folder):
  <student_id>/<assignment>/<assignment>.ipynb         the course's own layout
  <student_id>/<assignment>.ipynb                      one folder per student
  <student_id>.zip                                     per-student zips of either
  <login>[_LATE]_<userid>_<submissionid>_<file>.ipynb  Canvas "Download submissions"
  <Full Name>_<id>_assignsubmission_file_/<file>.ipynb  Moodle "Download all submissions"
Notebooks are matched to assignments by folder or file name (e.g. 02_convolution.ipynb),
or by --assignment when each student has one notebook."""


@dataclass(frozen=True)
class Submission:
    """One student's folder for one assignment (it may not exist: nothing submitted)."""

    student_id: str
    assignment: str
    folder: Path


class SubmissionError(ValueError):
    """The submissions path cannot be read at all, or holds nothing gradable."""


@dataclass
class Student:
    """Who submitted, as the export says, and the notebooks found for them."""

    student_id: str
    name: str = ""
    lms_id: str = ""
    late: bool = False
    # (notebook path, the assignment its folder names or None)
    notebooks: list[tuple[Path, str | None]] = field(default_factory=list)
    # notebook path -> the LMS's submission id (Canvas), and assignment -> that id once placed
    submission_ids: dict[Path, str] = field(default_factory=dict)
    submissions: dict[str, str] = field(default_factory=dict)


@dataclass
class Collection:
    """What was found: the staged tree, the layout, the students and the assignments present."""

    tree: Path
    layout: str
    students: dict[str, Student]
    present: list[str]
    notebooks: int
    notes: list[str]
    unit_notes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (student, assignment) -> notes
    times: dict[tuple[str, str], datetime] = field(default_factory=dict)  # submission times an LMS export shows

    def describe(self) -> str:
        names = ", ".join(self.present) or "none"
        return (
            f"found {self.layout}: {len(self.students)} student(s), {self.notebooks} notebook(s); "
            f"assignments: {names}"
        )

    def units(self, assignments: list[str]) -> list[Submission]:
        """Every student × assignment in scope (a missing folder means not submitted)."""
        return [
            Submission(student_id, assignment, self.tree / student_id / assignment)
            for student_id in sorted(self.students)
            for assignment in assignments
        ]


def timestamp_text(when: datetime) -> str:
    """``when`` as nbgrader writes a submission's ``timestamp.txt``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


# ---------------------------------------------------------------- zips
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
                with contextlib.suppress(ValueError, OverflowError, OSError):  # keep the export's file time
                    when = datetime(*info.date_time, tzinfo=UTC).timestamp()
                    os.utime(destination, (when, when))
    except (zipfile.BadZipFile, OSError) as error:
        problems.append(f"{archive_path.name}: not a readable zip file ({error})")
    return [f"{archive_path.name}: {p}" if not p.startswith(archive_path.name) else p for p in problems]


# ---------------------------------------------------------------- reading a folder
def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """(files, folders) of ``folder`` that a person put there (no hidden or OS clutter)."""
    files, folders = [], []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in IGNORED or path.is_symlink():
            continue
        (folders if path.is_dir() else files).append(path)
    return files, folders


def _notebooks_below(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*.ipynb")
        if p.is_file() and not p.is_symlink()
        and not any(part.startswith(".") or part in IGNORED for part in p.relative_to(folder).parts)
    )


def canonical_name(stem: str) -> str:
    """A notebook's name as people mangle it, normalised: '02_Convolution (1)' -> '02_convolution'."""
    name = re.sub(r"\s*\(\d+\)$", "", stem.strip())
    name = re.sub(r"-\d+$", "", name)  # Canvas numbers resubmissions: name-1.ipynb
    return re.sub(r"[\s\-]+", "_", name).lower()


def _is_student_folder(folder: Path, known: set[str]) -> bool:
    """A folder that holds a notebook itself or an assignment folder: a student, not a wrapper."""
    files, folders = _entries(folder)
    if any(f.suffix.lower() == ".ipynb" and not CANVAS_FILE.match(f.name) for f in files):
        return True
    return any(d.name in known for d in folders)


def _unwrap(folder: Path, known: set[str]) -> Path:
    """Descend through wrapping folders: a lone folder that is neither a student nor an assignment."""
    for _ in range(4):
        files, folders = _entries(folder)
        if files or len(folders) != 1:
            return folder
        inner = folders[0]
        if inner.name in known or _is_student_folder(inner, known) or MOODLE_FOLDER.match(inner.name):
            return folder
        folder = inner
    return folder


# ---------------------------------------------------------------- the layouts
def _canvas_students(files: list[Path], unpacked: Path, notes: list[str]) -> dict[str, Student]:
    students: dict[str, Student] = {}
    for path in files:
        match = CANVAS_FILE.match(path.name)
        if not match:
            continue
        student = students.setdefault(match["user"], Student(match["user"], match["login"], match["user"]))
        student.late = student.late or bool(match["late"])
        inner = match["file"]
        if path.suffix.lower() == ".zip":
            target = unpacked / f"canvas-{match['user']}-{match['submission']}"
            notes += unpack_zip(path, target)
            for notebook in _notebooks_below(target):
                student.notebooks.append((notebook, None))
                student.submission_ids[notebook] = match["submission"]
        elif inner.lower().endswith(".ipynb"):
            renamed = unpacked / f"canvas-{match['user']}-{match['submission']}" / inner
            renamed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, renamed)
            student.notebooks.append((renamed, None))
            student.submission_ids[renamed] = match["submission"]
        else:
            notes.append(f"{path.name}: not a notebook, ignored")
    return students


def _moodle_students(files: list[Path], folders: list[Path], unpacked: Path, notes: list[str]) -> dict[str, Student]:
    students: dict[str, Student] = {}
    for folder in folders:
        match = MOODLE_FOLDER.match(folder.name)
        if match:
            student = students.setdefault(match["id"], Student(match["id"], match["name"], match["id"]))
            student.notebooks += [(nb, None) for nb in _notebooks_below(folder)]
    for path in files:
        match = MOODLE_FILE.match(path.name)
        if match and match["file"].lower().endswith(".ipynb"):
            student = students.setdefault(match["id"], Student(match["id"], match["name"], match["id"]))
            renamed = unpacked / f"moodle-{match['id']}" / match["file"]
            renamed.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, renamed)
            student.notebooks.append((renamed, None))
    return students


def _folder_students(
    files: list[Path], folders: list[Path], unpacked: Path, known: set[str], notes: list[str], kinds: set[str]
) -> dict[str, Student]:
    students: dict[str, Student] = {}
    sources = [(folder.name, folder) for folder in folders]
    for archive in (f for f in files if f.suffix.lower() == ".zip"):
        target = unpacked / "zips" / archive.stem
        notes += unpack_zip(archive, target)
        if target.is_dir():  # an unreadable zip is a note, not a student
            sources.append((archive.stem, _unwrap_named(target, archive.stem)))
        kinds.add("per-student .zip files")
    for name, folder in sources:
        if not STUDENT_ID.match(name):
            notes.append(f"{name}: not a usable student id (letters, digits and ._@+- only), ignored")
            continue
        student = students.setdefault(name, Student(name))
        for notebook in _notebooks_below(folder):
            parts = notebook.relative_to(folder).parts
            hint = parts[0] if len(parts) > 1 and parts[0] in known else None
            student.notebooks.append((notebook, hint))
            kinds.add(
                "one folder per student and assignment" if hint else "one folder per student"
            )
        for extra in (d for d in _entries(folder)[1] if d.name not in known and not _notebooks_below(d)):
            notes.append(f"{name}/{extra.name}: no notebook inside, ignored")
    return students


def _unwrap_named(folder: Path, name: str) -> Path:
    """A zip named alice.zip may hold alice/...: use the inner folder."""
    files, folders = _entries(folder)
    return folders[0] if not files and len(folders) == 1 and folders[0].name == name else folder


# ---------------------------------------------------------------- matching notebooks to assignments
def _match(
    students: dict[str, Student],
    expected: dict[str, list[str]],
    wanted: list[str] | None,
    notes: list[str],
    unit_notes: dict[tuple[str, str], list[str]],
) -> dict[tuple[str, str], tuple[Path, str]]:
    """(student, assignment) -> (notebook, expected notebook name) for every notebook placed."""
    owner = {canonical_name(nb): (a, nb) for a, notebooks in expected.items() for nb in notebooks}
    placed: dict[tuple[str, str], tuple[Path, str]] = {}
    unresolved: dict[str, list[Path]] = {}
    for sid, student in students.items():
        for path, hint in student.notebooks:
            exact = owner.get(canonical_name(path.stem))
            if hint and (exact is None or exact[0] != hint):
                exact = (hint, expected[hint][0]) if len(expected[hint]) == 1 else None
            if exact is None:
                unresolved.setdefault(sid, []).append(path)
                continue
            assignment, notebook = exact
            if wanted and assignment not in wanted:
                continue
            key = (sid, assignment)
            if key in placed:
                kept = placed[key][0]
                if path.stem == notebook and kept.stem != notebook:
                    placed[key] = (path, notebook)
                    kept, path = path, kept
                note = f"several notebooks for {assignment}: graded {kept.name}, ignored {path.name}"
                notes.append(f"{sid}: {note}")
                unit_notes.setdefault(key, []).append(note)
                continue
            placed[key] = (path, notebook)
    present = {a for _, a in placed} | set(wanted or [])
    for sid, paths in unresolved.items():
        already = {a for s, a in placed if s == sid}
        targets = sorted(present - already)
        if len(paths) == 1 and len(targets) == 1 and len(expected[targets[0]]) == 1:
            placed[(sid, targets[0])] = (paths[0], expected[targets[0]][0])
            continue
        for path in paths:
            notes.append(f"{sid}: {path.name} matches no assignment, ignored")
    for (sid, assignment), (path, notebook) in sorted(placed.items()):
        if path.stem != notebook:
            note = f"found {path.name}, graded as {notebook}.ipynb (name it {notebook}.ipynb next time)"
            notes.append(f"{sid}: {note}")
            unit_notes.setdefault((sid, assignment), []).append(note)
    return placed


# ---------------------------------------------------------------- staging
def _open(source: Path, staging: Path, notes: list[str]) -> Path:
    """The folder to read: ``source`` itself, or a zip unpacked into the staging folder."""
    if not source.exists():
        raise SubmissionError(f"{source} does not exist")
    if source.is_dir():
        return source
    if source.suffix.lower() != ".zip":
        raise SubmissionError(f"{source} is neither a folder nor a .zip file")
    unpacked = staging / "archive"
    unpacked.mkdir(parents=True)
    notes += unpack_zip(source, unpacked)
    return unpacked


def collect(
    source: Path, staging: Path, expected: dict[str, list[str]], wanted: list[str] | None = None
) -> Collection:
    """Find every student's notebooks under ``source`` and stage them as
    ``<student_id>/<assignment>/<notebook>.ipynb``. ``expected`` maps each assignment the
    course knows to its notebook names; ``wanted`` limits the assignments (None: all)."""
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    notes: list[str] = []
    known = set(expected)
    root = _unwrap(_open(source, staging, notes), known)
    files, folders = _entries(root)
    unpacked = staging / "unpacked"
    kinds: set[str] = set()
    if any(CANVAS_FILE.match(f.name) for f in files):
        students = _canvas_students(files, unpacked, notes)
        kinds.add("a Canvas submission download")
        rest = [f for f in files if not CANVAS_FILE.match(f.name)]
        folders_left: list[Path] = []
    elif any(MOODLE_FOLDER.match(d.name) for d in folders) or any(MOODLE_FILE.match(f.name) for f in files):
        students = _moodle_students(files, folders, unpacked, notes)
        kinds.add("a Moodle submission download")
        rest = [f for f in files if not MOODLE_FILE.match(f.name)]
        folders_left = [d for d in folders if not MOODLE_FOLDER.match(d.name)]
    else:
        students = _folder_students(files, folders, unpacked, known, notes, kinds)
        rest = [f for f in files if f.suffix.lower() != ".zip"]
        folders_left = []
    for path in rest + folders_left:
        notes.append(f"{path.name}: not part of the recognised layout, ignored")

    unit_notes: dict[tuple[str, str], list[str]] = {}
    times: dict[tuple[str, str], datetime] = {}
    lms = any("Canvas" in k or "Moodle" in k for k in kinds)
    placed = _match(students, expected, wanted, notes, unit_notes)
    tree = staging / "students"
    tree.mkdir()
    for (sid, assignment), (path, notebook) in placed.items():
        if path in students[sid].submission_ids:
            students[sid].submissions[assignment] = students[sid].submission_ids[path]
        target = tree / sid / assignment
        target.mkdir(parents=True)
        shutil.copyfile(path, target / f"{notebook}.ipynb")
        stamp = path.parent / "timestamp.txt"
        if stamp.is_file():
            shutil.copyfile(stamp, target / "timestamp.txt")
        elif lms:  # Canvas and Moodle keep the submission time as the file's time
            when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            times[(sid, assignment)] = when
            (target / "timestamp.txt").write_text(timestamp_text(when))
    present = sorted({a for _, a in placed})
    layout = " and ".join(sorted(kinds)) or "no known layout"
    return Collection(tree, layout, students, present, len(placed), notes, unit_notes, times)
