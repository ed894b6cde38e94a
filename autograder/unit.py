"""The unit of work: grade one student's submission of one assignment.

A unit is pure given its inputs: the submitted folder, the assignment's template
gradebook (made by nbgrader's generate_assignment) and the limits. It works in a folder
of its own with a private copy of the gradebook, runs nbgrader's autograde there, and
writes one JSON result. Nothing else is shared, so units run in parallel here, or as
cluster jobs elsewhere (see README.md), and a killed run loses only unfinished units.

Run as ``python -m autograder.unit SPEC.json``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import nbformat

from . import spare
from .course import COURSE_ID, file_digest, nbgrader_config
from .execute import FORBIDDEN, KERNEL_DIED, STUDENT_TRACEBACK, TIME_LIMIT
from .io import write_json_atomic
from .policy import CoursePenalty, LateRule
from .sandbox import SandboxedKernelManager, sandbox_problem

RESULT_VERSION = 1


@dataclass
class UnitSpec:
    """Everything one unit needs; serialisable to JSON."""

    assignment: str
    student_id: str
    submission_dir: str
    template_db: str
    work_dir: str
    result_path: str
    timeout_s: int = 300
    memory_bytes: int = 4 * 1024**3
    threads: int = 1
    sandbox: bool = True
    input_digest: str = ""
    due: str = ""  # the assignment's due date, ISO 8601 UTC without a zone ("" = none)
    late_rule: str = "none"  # autograder.policy.LateRule, applied by nbgrader's AssignLatePenalties
    percent_per_day: float = 0.0
    grace_minutes: float = 0.0


@dataclass
class NotebookResult:
    """Grades of one notebook: one record per test cell, plus what went wrong."""

    notebook: str
    status: str  # graded | missing | invalid | failed
    score: float
    max_score: float
    cells: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds_late: float = 0.0  # after the due date, by the submission's timestamp
    late_penalty: float = 0.0  # points taken off by the late rule (score is after it)
    late_fraction: float = 0.0  # the share of the points the rule takes


# ---------------------------------------------------------------- template gradebook
def template_notebooks(template_db: str) -> dict[str, list[dict]]:
    """Notebook name -> its graded test cells (grade_id, max_score, source, checksum)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template_db}", COURSE_ID) as gb:
        result: dict[str, list[dict]] = {}
        for assignment in gb.assignments:
            for notebook in assignment.notebooks:
                cells = []
                for grade_cell in notebook.grade_cells:
                    source = gb.find_source_cell(grade_cell.name, notebook.name, assignment.name)
                    cells.append(
                        {
                            "grade_id": grade_cell.name,
                            "max_score": float(grade_cell.max_score),
                            "source": source.source,
                            "checksum": source.checksum,
                            "locked": source.locked,
                        }
                    )
                result[notebook.name] = cells
        return result


def template_cell_ids(template_db: str) -> dict[str, set[str]]:
    """Notebook name -> grade_ids of every cell nbgrader recorded (solution, test, locked)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template_db}", COURSE_ID) as gb:
        return {
            notebook.name: {cell.name for cell in notebook.source_cells}
            for assignment in gb.assignments
            for notebook in assignment.notebooks
        }


# ---------------------------------------------------------------- reading submissions
def load_submitted_notebook(path: Path) -> tuple[nbformat.NotebookNode | None, str | None]:
    """Read a submitted notebook; (None, why) when it cannot be graded."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return None, f"{path.name} is not UTF-8 text"
    except json.JSONDecodeError as error:
        return None, f"{path.name} is not valid JSON (line {error.lineno}): the file is damaged"
    if not isinstance(raw, dict) or ("cells" not in raw and "worksheets" not in raw):
        return None, f"{path.name} is JSON but not a notebook"
    try:
        notebook = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as error:  # nbformat raises several kinds
        return None, f"{path.name} could not be read as a notebook: {error}"
    if raw.get("nbformat", 4) < 4:
        notebook.metadata["grader_note"] = f"converted from nbformat {raw.get('nbformat')}"
    return notebook, None


def tampering(notebook: nbformat.NotebookNode, expected_cells: list[dict]) -> list[str]:
    """Describe test cells the student deleted, edited, re-labelled or moved."""
    found = {}
    order = []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id:
            found.setdefault(grade_id, (cell, meta))
            order.append(grade_id)
    problems = []
    for expected in expected_cells:
        grade_id = expected["grade_id"]
        if grade_id not in found:
            problems.append(f"test cell {grade_id} was deleted or lost its metadata (restored)")
            continue
        cell, meta = found[grade_id]
        if cell.get("source", "") != expected["source"].replace("\r\n", "\n") and not _same_visible(
            cell, expected
        ):
            problems.append(f"test cell {grade_id} was edited (restored)")
        if float(meta.get("points", -1)) != expected["max_score"] or not meta.get("locked", False):
            problems.append(f"test cell {grade_id} had its points or lock changed (restored)")
    expected_order = [c["grade_id"] for c in expected_cells if c["grade_id"] in found]
    seen_order = [g for g in order if g in {c["grade_id"] for c in expected_cells}]
    if seen_order != expected_order:
        problems.append("test cells were reordered")
    return problems


def strip_unknown_nbgrader_metadata(notebook: nbformat.NotebookNode, known: set[str]) -> list[str]:
    """Drop nbgrader metadata nbgrader itself would crash on or misread.

    A cell whose ``metadata.nbgrader`` is not a dict, lacks a grade_id, or names a cell
    the assignment does not have becomes a plain cell; nbgrader then restores the real
    test cells from the gradebook.
    """
    problems = []
    for cell in notebook.cells:
        metadata = cell.get("metadata", {})
        if "nbgrader" not in metadata:
            continue
        meta = metadata["nbgrader"]
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(grade_id, str) or grade_id not in known:
            del metadata["nbgrader"]
            if isinstance(grade_id, str):
                problems.append(f"cell {grade_id!r} is not part of the assignment: treated as a plain cell")
    return problems


def _same_visible(cell: nbformat.NotebookNode, expected: dict) -> bool:
    """The student's copy lacks hidden tests: compare with the hidden region removed."""
    from nbgrader.preprocessors import ClearHiddenTests

    probe = nbformat.v4.new_code_cell(expected["source"])
    ClearHiddenTests()._remove_hidden_test_region(probe)
    return cell.get("source", "").strip() == probe.source.strip()


# ---------------------------------------------------------------- running nbgrader
def _autograde(spec: UnitSpec, course_root: Path, db_path: Path, scratch: Path, ipc_dir: Path) -> str:
    """Run nbgrader's autograde for this unit; returns its log."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        LimitOutput,
        SaveAutoGrades,
    )

    from .execute import GuardedExecute, NormaliseGradeOutputs

    config = nbgrader_config(course_root, f"sqlite:///{db_path}")
    config.CourseDirectory.assignment_id = spec.assignment
    config.CourseDirectory.student_id = spec.student_id
    config.Autograde.create_student = True
    config.Autograde.autograde_preprocessors = [
        GuardedExecute,
        NormaliseGradeOutputs,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    config.OverwriteCells.add_missing_cells = True
    config.GuardedExecute.notebook_timeout = spec.timeout_s
    config.GuardedExecute.scratch_dir = str(scratch)
    config.GuardedExecute.plan_path = str(Path(spec.template_db).with_name("plan.json"))
    config.GuardedExecute.ipc_dir = str(ipc_dir)
    config.GuardedExecute.assignment = spec.assignment
    config.GuardedExecute.notes_path = str(Path(spec.work_dir) / "limits.jsonl")
    config.GuardedExecute.kernel_manager_class = SandboxedKernelManager
    config.GuardedExecute.startup_timeout = 120
    config.GuardedExecute.extra_arguments = list(spare.EXECUTE_ARGUMENTS)
    config.merge(spare.kernel_config(spare.KernelSettings.of(spec), scratch, ipc_dir))
    config.AssignLatePenalties.plugin_class = CoursePenalty
    config.CoursePenalty.rule = spec.late_rule
    config.CoursePenalty.percent_per_day = spec.percent_per_day
    config.CoursePenalty.grace_minutes = spec.grace_minutes
    config.LimitOutput.max_lines = 500
    config.LimitOutput.max_traceback = 60

    coursedir = CourseDirectory(config=config)
    converter = Autograde(coursedir=coursedir, config=config)
    captured = io.StringIO()
    formatter = logging.Formatter("[nbgrader %(levelname)s] %(message)s")
    handlers = [logging.StreamHandler(captured), logging.StreamHandler(sys.stderr)]
    for handler in handlers:
        handler.setFormatter(formatter)
        converter.log.addHandler(handler)
    converter.log.propagate = False
    try:
        converter.start()
    except Exception as error:  # nbgrader's failure for this notebook, kept for the report
        converter.log.error("autograde failed: %s", error)
    finally:
        for handler in handlers:
            converter.log.removeHandler(handler)
    return captured.getvalue()


def _autograde_in_kernel(spec: UnitSpec, course_root: Path, db_path: Path, scratch: Path) -> str:
    """Autograde in the worker's spare kernel (``spare.py``) if it has this unit's settings,
    else in a kernel started for the unit; either way the kernel is gone afterwards."""
    settings = spare.KernelSettings.of(spec)
    spare_kernel = spare.claim(settings)
    spare.prepare_next(settings)  # in a worker, the next unit's kernel boots while this one runs
    if spare_kernel is None:
        ipc_dir = Path(tempfile.mkdtemp(prefix="cnnk-"))
        try:
            return _autograde(spec, course_root, db_path, scratch, ipc_dir)
        finally:
            shutil.rmtree(ipc_dir, ignore_errors=True)
    print("[grader] the kernel was started before this unit (the worker's spare)", file=sys.stderr, flush=True)
    spare.hand_over(spare_kernel.manager)
    try:
        return _autograde(spec, course_root, db_path, spare_kernel.scratch, spare_kernel.ipc_dir)
    finally:
        spare.hand_over(None)
        spare_kernel.copy_log()
        spare_kernel.remove()


_EVENTS = {KERNEL_DIED, TIME_LIMIT, "CellTimeoutError", FORBIDDEN}


def _limit_notes(path: Path, notebook: str) -> list[str]:
    """The limits the sandbox saw this notebook's kernel hit (written by GuardedExecute)."""
    if not path.exists():
        return []
    notes = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("notebook") == notebook:
            notes += [str(n) for n in record.get("limits_hit", [])]
    return notes


def _cell_errors(autograded: Path) -> tuple[dict[str, str], dict[str, str], list[tuple[str, str, str]]]:
    """grade_id -> 'Ename: message' of each failing test cell; grade_id -> the traceback of the
    student's own code where their code raised; and the events the instructor must hear of,
    as (cell, ename, message). Never a line of test code: test cells ran on the grader's side."""
    if not autograded.exists():
        return {}, {}, []
    notebook = nbformat.read(autograded, as_version=4)
    errors, tracebacks, events = {}, {}, []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for out in cell.get("outputs", []):
            if out.output_type != "error":
                continue
            ename, evalue = str(out.get("ename", "")), str(out.get("evalue", "")).strip()
            if ename in _EVENTS:
                events.append((grade_id or f"cell {index}", ename, evalue))
            if grade_id and grade_id not in errors:
                message = evalue if len(evalue) <= 4000 else evalue[:4000] + "\n[... message cut at 4000 characters]"
                errors[grade_id] = f"{out.get('ename', 'Error')}: {message}".rstrip(": ")
                lines = [str(line) for line in out.get("traceback", [])]
                if lines and lines[0] == STUDENT_TRACEBACK:  # the student's own frames (execute.py)
                    tracebacks[grade_id] = "\n".join(lines)[-5000:]
    return errors, tracebacks, events


def _event_problems(events: list[tuple[str, str, str]], timeout_s: int) -> list[str]:
    """problems.txt lines: forbidden libraries (once per function), the first time limit
    and the first dead kernel, each with the cell where it happened."""
    problems, seen = [], set()
    for cell, ename, message in events:
        if ename == FORBIDDEN:
            if message not in seen:
                seen.add(message)
                problems.append(f"forbidden library in {cell}: {message}")
        elif ename in (TIME_LIMIT, "CellTimeoutError") and "time" not in seen:
            seen.add("time")
            problems.append(f"time limit of {timeout_s} s reached in {cell}: that cell and the ones after it score 0")
        elif ename == KERNEL_DIED and "died" not in seen:
            seen.add("died")
            problems.append(f"the kernel died in {cell} ({message}): later cells were not run")
    return problems


def _set_due_date_and_timestamp(spec: UnitSpec, db_path: Path, submitted: Path) -> str | None:
    """Put the due date into the unit's gradebook and the submission's timestamp.txt beside
    its notebooks, where nbgrader's late-penalty step reads them; returns the timestamp."""
    from nbgrader.api import Gradebook

    if spec.due:
        with Gradebook(f"sqlite:///{db_path}", COURSE_ID) as gb:
            gb.update_or_create_assignment(spec.assignment, duedate=datetime.fromisoformat(spec.due))
    stamp = Path(spec.submission_dir) / "timestamp.txt"
    if not stamp.is_file():
        return None
    text = stamp.read_text(encoding="utf-8", errors="replace").strip()[:100]
    (submitted / "timestamp.txt").write_text(text)
    return text


def _apply_lateness(result: NotebookResult, db_path: Path, spec: UnitSpec) -> None:
    """The late penalty nbgrader's AssignLatePenalties step wrote for this notebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db_path}", COURSE_ID) as gb:
        try:
            notebook = gb.find_submission_notebook(result.notebook, spec.assignment, spec.student_id)
        except MissingEntry:
            return
        result.seconds_late = float(notebook.assignment.total_seconds_late or 0.0)
        result.late_penalty = float(notebook.late_submission_penalty or 0.0)
    rule = LateRule(spec.late_rule, spec.percent_per_day, spec.grace_minutes)
    result.late_fraction = rule.fraction_lost(result.seconds_late)
    if result.late_penalty:
        result.score = max(0.0, result.score - result.late_penalty)
        hours = result.seconds_late / 3600
        result.problems.append(
            f"submitted {hours:.1f} h after the due date: late rule '{spec.late_rule}' took "
            f"{result.late_penalty:g} point(s) off"
        )
    elif result.seconds_late > 0:
        result.problems.append(f"submitted {result.seconds_late / 3600:.1f} h after the due date (no penalty)")


def _read_grades(db_path: Path, spec: UnitSpec, notebook_name: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{db_path}", COURSE_ID) as gb:
        try:
            submission = gb.find_submission_notebook(notebook_name, spec.assignment, spec.student_id)
        except MissingEntry:
            return {}
        return {
            grade.name: (float(grade.score or 0.0), float(grade.max_score))
            for grade in submission.grades
            if grade.cell_type == "code" or grade.auto_score is not None
        }


# ---------------------------------------------------------------- the unit
def grade_unit(spec: UnitSpec) -> dict:
    """Grade one unit and write its result JSON; returns the result."""
    started = time.time()
    work = Path(spec.work_dir)
    if work.exists():
        shutil.rmtree(work)
    course_root = work / "course"
    submitted = course_root / "submitted" / spec.student_id / spec.assignment
    submitted.mkdir(parents=True)
    (course_root / "source" / spec.assignment).mkdir(parents=True)
    scratch = work / "scratch"
    scratch.mkdir()
    db_path = work / "gradebook.db"
    shutil.copyfile(spec.template_db, db_path)
    submitted_at = _set_due_date_and_timestamp(spec, db_path, submitted)
    expected = template_notebooks(spec.template_db)
    known_ids = template_cell_ids(spec.template_db)

    notebooks: dict[str, NotebookResult] = {}
    to_grade = []
    submission_dir = Path(spec.submission_dir)
    for name, cells in sorted(expected.items()):
        max_score = sum(c["max_score"] for c in cells)
        path = submission_dir / f"{name}.ipynb"
        if not path.is_file():
            notebooks[name] = NotebookResult(name, "missing", 0.0, max_score, problems=[f"{name}.ipynb was not submitted: no notebook of that name was found for this assignment"])
            continue
        notebook, why = load_submitted_notebook(path)
        if notebook is None:
            notebooks[name] = NotebookResult(name, "invalid", 0.0, max_score, problems=[why])
            continue
        problems = tampering(notebook, cells)
        problems += strip_unknown_nbgrader_metadata(notebook, known_ids[name])
        if "grader_note" in notebook.metadata:
            problems.append(notebook.metadata.pop("grader_note"))
        nbformat.write(notebook, submitted / f"{name}.ipynb")
        notebooks[name] = NotebookResult(name, "graded", 0.0, max_score, problems=problems)
        to_grade.append(name)
    extra = sorted(
        p.name for p in submission_dir.iterdir() if p.suffix == ".ipynb" and p.stem not in expected
    ) if submission_dir.is_dir() else []
    extra_problems = [f"unexpected notebook {n} ignored (renamed?)" for n in extra]

    log = ""
    if to_grade:
        problem = sandbox_problem() if spec.sandbox else None
        if problem:  # the batch checks first; a unit run on its own must not fall back either
            raise RuntimeError(f"the sandbox cannot be set up: {problem} (use --unsafe-no-sandbox to grade without it)")
        log = _autograde_in_kernel(spec, course_root, db_path, scratch)

    for name in to_grade:
        result = notebooks[name]
        grades = _read_grades(db_path, spec, name)
        errors, tracebacks, events = _cell_errors(
            course_root / "autograded" / spec.student_id / spec.assignment / f"{name}.ipynb")
        notes = _limit_notes(work / "limits.jsonl", name)
        if not grades:
            result.status = "failed"
            result.problems.append("nbgrader could not grade this notebook: " + _last_error(log))
        for cell in expected[name]:
            score, max_score = grades.get(cell["grade_id"], (0.0, cell["max_score"]))
            error = errors.get(cell["grade_id"]) if score < max_score else None
            if score < max_score and error is None:
                error = "not graded"
            result.cells.append(
                {"grade_id": cell["grade_id"], "score": score, "max_score": max_score, "error": error,
                 "traceback": tracebacks.get(cell["grade_id"]) if error else None}
            )
        result.score = sum(c["score"] for c in result.cells)
        _apply_lateness(result, db_path, spec)
        result.problems += _event_problems(events, spec.timeout_s) + notes
    for name, result in notebooks.items():
        if result.status != "graded" or not result.cells:
            result.cells = result.cells or [
                {"grade_id": c["grade_id"], "score": 0.0, "max_score": c["max_score"], "error": result.problems[0]}
                for c in expected[name]
            ]

    record = {
        "version": RESULT_VERSION,
        "assignment": spec.assignment,
        "student_id": spec.student_id,
        "input_digest": spec.input_digest,
        "sandboxed": spec.sandbox,
        "seconds": round(time.time() - started, 2),
        "problems": extra_problems,
        "submitted_at": submitted_at,
        "notebooks": [asdict(n) for n in notebooks.values()],
    }
    autograded_dir = course_root / "autograded" / spec.student_id / spec.assignment
    keep = Path(spec.result_path).with_suffix("")
    if autograded_dir.is_dir():
        if keep.exists():
            shutil.rmtree(keep)
        shutil.copytree(autograded_dir, keep)
        for path in keep.glob("*.ipynb"):
            _strip_hidden_tests(path)
    write_json_atomic(Path(spec.result_path), record)
    shutil.rmtree(work, ignore_errors=True)
    return record


def _strip_hidden_tests(path: Path) -> None:
    """The kept notebook without hidden tests: it may be handed on, and the source has them."""
    from nbgrader.preprocessors import ClearHiddenTests

    path.chmod(0o644)
    notebook = nbformat.read(path, as_version=4)
    clear = ClearHiddenTests()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            clear._remove_hidden_test_region(cell)
    nbformat.write(notebook, path)


def _last_error(log: str) -> str:
    lines = [line for line in log.splitlines() if "rror" in line]
    return lines[-1][-300:] if lines else "see the grading log"


def submission_digest(submission_dir: Path, assignment_digest: str) -> str:
    """Digest of a unit's inputs: the submitted files and the assignment's source."""
    import hashlib

    digest = hashlib.sha256(assignment_digest.encode())
    if submission_dir.is_dir():
        for path in sorted(submission_dir.rglob("*")):
            if path.is_file() and not path.is_symlink():
                digest.update(str(path.relative_to(submission_dir)).encode())
                digest.update(file_digest(path).encode())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m autograder.unit SPEC.json", file=sys.stderr)
        return 2
    spec = UnitSpec(**json.loads(Path(args[0]).read_text()))
    os.environ.pop("NBGRADER_EXECUTION", None)
    grade_unit(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
