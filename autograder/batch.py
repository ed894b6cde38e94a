"""Grade a whole class: stage submissions, build each assignment's template gradebook
once, run every unit (student × assignment) in parallel subprocesses, resume where a
previous run stopped, and collect the results.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .course import SOLUTIONS_DIR, assignment_digest, list_assignments, source_notebooks
from .io import write_json_atomic
from .plan import write_plan
from .policy import Policy
from .release import generate
from .sandbox import sandbox_problem
from .spare import KernelSettings
from .submissions import LAYOUT_HELP, Collection, Submission, SubmissionError, collect, timestamp_text
from .unit import RESULT_VERSION, UnitSpec, submission_digest, template_notebooks

STARTUP_MARGIN_S = 120
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class GradeOptions:
    out: Path
    assignments: list[str] | None = None
    jobs: int = 1
    timeout_s: int = 300
    memory_gb: float = 4.0
    db_url: str | None = None
    sandbox: bool = True
    solutions_dir: Path = SOLUTIONS_DIR
    quiet: bool = False
    students: list[str] | None = None  # only these students (None: everyone found)
    force: bool = False  # regrade units whose inputs did not change
    policy: Policy = field(default_factory=Policy)  # due dates and the late rule (course.toml)
    executor: str = "local"  # local: --jobs worker processes here; dask: tasks on a Dask cluster
    scheduler: str | None = None  # the Dask scheduler's address, tcp://HOST:PORT (executor "dask")


def unit_result_path(out: Path, assignment: str, student_id: str) -> Path:
    return out / "units" / assignment / f"{student_id}.json"


def build_templates(options: GradeOptions, assignments: list[str]) -> dict[str, Path]:
    """One nbgrader gradebook per assignment, reused while its source is unchanged."""
    templates = {}
    for assignment in assignments:
        digest = assignment_digest(assignment, options.solutions_dir)
        folder = options.out / ".templates" / assignment
        db_path = folder / "gradebook.db"
        stamp = folder / "digest"
        if not (db_path.exists() and stamp.exists() and stamp.read_text() == digest):
            folder.mkdir(parents=True, exist_ok=True)
            tmp_db = folder / "gradebook.tmp.db"
            tmp_db.unlink(missing_ok=True)
            with tempfile.TemporaryDirectory(prefix="cnn-template-") as scratch:
                generate(assignment, Path(scratch), tmp_db, options.solutions_dir)
            write_plan(source_notebooks(assignment, options.solutions_dir), folder / "plan.json")
            os.replace(tmp_db, db_path)
            stamp.write_text(digest)
        templates[assignment] = db_path
    return templates


def _is_current(path: Path, digest: str) -> bool:
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return record.get("version") == RESULT_VERSION and record.get("input_digest") == digest


def _missing_result(unit: Submission, template_db: Path, digest: str, why: str) -> dict:
    notebooks = []
    for name, cells in template_notebooks(str(template_db)).items():
        notebooks.append(
            {
                "notebook": name,
                "status": "missing" if "not submitted" in why else "failed",
                "score": 0.0,
                "max_score": sum(c["max_score"] for c in cells),
                "cells": [
                    {"grade_id": c["grade_id"], "score": 0.0, "max_score": c["max_score"], "error": why}
                    for c in cells
                ],
                "problems": [why],
            }
        )
    return {
        "version": RESULT_VERSION,
        "assignment": unit.assignment,
        "student_id": unit.student_id,
        "input_digest": digest,
        "sandboxed": None,
        "seconds": 0.0,
        "problems": [],
        "notebooks": notebooks,
    }


class Worker:
    """One ``python -m autograder.worker`` process, reused for unit after unit.

    ``launch()`` starts the process without waiting, so that its imports (seconds) overlap
    whatever the batch does before the first unit; ``kernel`` (``spare.KernelSettings``)
    lets it start the first unit's kernel before the unit arrives."""

    def __init__(self, log_path: Path, threads: int = 1, kernel: KernelSettings | None = None):
        self.log_path = log_path
        self.threads = threads
        self.kernel = kernel
        self.process: subprocess.Popen | None = None
        self.ready = False
        self.buffer = b""

    def launch(self) -> None:
        """Start the process (if not running) and return at once."""
        if self.process is not None and self.process.poll() is None:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "autograder.worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                cwd=str(Path(__file__).resolve().parent.parent),
                env={**os.environ, **{k: str(self.threads) for k in THREAD_VARIABLES}},
            )
        self.ready = False
        self.buffer = b""
        warm = self.kernel.to_json() if self.kernel is not None else None
        with contextlib.suppress(OSError):  # a worker that died at once is reported by _start
            self.process.stdin.write((json.dumps({"warm": warm}) + "\n").encode())
            self.process.stdin.flush()

    def _start(self) -> str | None:
        self.launch()
        if self.ready:
            return None
        reply = self._read_line(time.monotonic() + STARTUP_MARGIN_S)
        if reply is None or not reply.get("ready"):
            self.kill()
            return f"the grading worker did not start; see {self.log_path}"
        self.ready = True
        return None

    def _read_line(self, deadline: float) -> dict | None:
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            return None
        return reply if isinstance(reply, dict) else None

    def grade(self, spec: UnitSpec, log_path: Path, more: bool = True) -> str | None:
        """Grade one unit; None on success, else why it failed (the worker is then replaced).
        ``more``: other units may follow, so the worker starts the next unit's kernel."""
        spec_path = Path(spec.work_dir + ".spec.json")
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(asdict(spec)))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_bytes(b"")
        if self.process is None or self.process.poll() is not None or not self.ready:
            failure = self._start()
            if failure:
                return failure
        limit = spec.timeout_s + STARTUP_MARGIN_S
        try:
            request = {"spec": str(spec_path), "log": str(log_path), "more": more}
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except OSError:
            self.kill()
            return f"the grading worker died; see {self.log_path}"
        reply = self._read_line(time.monotonic() + limit)
        spec_path.unlink(missing_ok=True)
        if reply is None:
            died = self.process.poll() is not None
            self.kill()
            if died:
                return f"the grader failed on this submission (its worker died); see {log_path}"
            return f"grading stopped after {limit} s (time limit)"
        if not reply.get("ok"):
            return f"the grader failed on this submission ({reply.get('error')}); see {log_path}"
        return None

    def kill(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        self.ready = False

    def finish(self) -> None:
        """Tell the worker no unit follows (it then stops its spare kernel and exits)."""
        if self.ready and self.process is not None and self.process.poll() is None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def close(self) -> None:
        self.finish()
        if not self.ready:  # never graded: nothing to finish (its spare kernel dies with it)
            self.kill()
            return
        if self.process is not None and self.process.poll() is None:  # finish() closed its input
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def unit_threads(options: GradeOptions) -> int:
    """Each unit's share of the cores (its kernel's BLAS and PyTorch threads)."""
    return max(1, (os.cpu_count() or 1) // max(1, options.jobs))


def kernel_settings(options: GradeOptions) -> KernelSettings:
    """The kernel every unit of this run gets (what ``make_spec`` gives each unit)."""
    return KernelSettings(int(options.memory_gb * 1024**3), unit_threads(options), options.timeout_s, options.sandbox)


def make_spec(unit: Submission, template_db: Path, digest: str, options: GradeOptions) -> UnitSpec:
    """The unit's inputs and limits, with paths under OUT (the Dask executor ships them by value)."""
    result_path = unit_result_path(options.out, unit.assignment, unit.student_id)
    kernel = kernel_settings(options)
    return UnitSpec(
        assignment=unit.assignment,
        student_id=unit.student_id,
        submission_dir=str(unit.folder.resolve()),
        template_db=str(template_db.resolve()),
        work_dir=str((options.out / ".work" / unit.assignment / unit.student_id).resolve()),
        result_path=str(result_path.resolve()),
        timeout_s=kernel.timeout_s,
        memory_bytes=kernel.memory_bytes,
        threads=kernel.threads,
        sandbox=kernel.sandbox,
        input_digest=digest,
        due=due.isoformat() if (due := options.policy.due_utc(unit.assignment)) else "",
        late_rule=options.policy.late.rule,
        percent_per_day=options.policy.late.percent_per_day,
        grace_minutes=options.policy.late.grace_minutes,
    )


def grade_one(unit: Submission, template_db: Path, digest: str, options: GradeOptions, worker: Worker | None,
              more: bool = True) -> dict:
    """Grade one unit (in a subprocess) and return its result record."""
    result_path = unit_result_path(options.out, unit.assignment, unit.student_id)
    if not unit.folder.is_dir():
        record = _missing_result(unit, template_db, digest, f"{unit.assignment} was not submitted")
        write_json_atomic(result_path, record)
        return record
    spec = make_spec(unit, template_db, digest, options)
    log_path = options.out / "logs" / unit.assignment / f"{unit.student_id}.log"
    failure = worker.grade(spec, log_path, more)
    if failure is None and _is_current(result_path, digest):
        return json.loads(result_path.read_text())
    record = _missing_result(unit, template_db, digest, failure or "the grader wrote no result")
    write_json_atomic(result_path, record)
    return record


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _progress(done: int, total: int, label: str, started: float, quiet: bool, failed: int = 0) -> None:
    """One line on the terminal: units done of total, failures so far, time spent and left."""
    if quiet:
        return
    width = 24
    filled = int(width * done / max(total, 1))
    elapsed = time.time() - started
    left = f", ~{_duration(elapsed / done * (total - done))} left" if 0 < done < total else ""
    bar = "#" * filled + "-" * (width - filled)
    text = f"[{bar}] {done}/{total} units, {failed} failed, {_duration(elapsed)}{left}  {label[:32]}"
    print(f"\r{text:<110}", end="", file=sys.stderr, flush=True)
    if done == total:
        print(file=sys.stderr)


def _failed(record: dict) -> bool:
    return any(nb["status"] in ("failed", "invalid") for nb in record["notebooks"])


class SandboxUnavailable(Exception):
    """Grading refuses to run student code without its sandbox unless told to."""


def require_sandbox(options: GradeOptions) -> None:
    """Refuse to grade when the sandbox cannot be set up, unless --unsafe-no-sandbox."""
    if not options.sandbox:
        return
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(
            f"the sandbox for student code cannot be set up here: {problem}. Grading refuses to run "
            "student code without it; fix that, or pass --unsafe-no-sandbox to grade without isolation "
            "(student code can then read and change anything this user can)."
        )


@dataclass
class GradeRun:
    """What one ``grade`` run did: the units it graded or found current, and what it saw."""

    records: list[dict]
    problems: list[str]
    collection: Collection
    skipped: int


def _expected_notebooks(solutions_dir: Path) -> dict[str, list[str]]:
    return {a: [p.stem for p in source_notebooks(a, solutions_dir)] for a in list_assignments(solutions_dir)}


def remember_students(out: Path, collection: Collection) -> Path:
    """Add this run's students (LMS ids, names, late markers) to ``OUT/students.json``."""
    path = out / "students.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        known = {}
    for sid, student in collection.students.items():
        entry = known.get(sid, {})
        entry.update({"name": student.name, "lms_id": student.lms_id, "late": student.late})
        entry["submissions"] = {**entry.get("submissions", {}), **student.submissions}
        known[sid] = entry
    write_json_atomic(path, dict(sorted(known.items())))
    return path


def _policy_digest(digest: str, assignment: str, policy: Policy) -> str:
    """A unit's inputs include its due date and the late rule: changing them regrades."""
    import hashlib

    due = policy.due.get(assignment)
    return hashlib.sha256(f"{digest}|{due.isoformat() if due else ''}|{policy.late}".encode()).hexdigest()


def mark_late_submissions(collection: Collection, policy: Policy) -> None:
    """A Canvas _LATE marker is late (past the grace period too) even where the export's file
    time is not after the due date: Canvas decided it."""
    from datetime import UTC, timedelta

    for sid, student in collection.students.items():
        if not student.late:
            continue
        for assignment in student.submissions:
            due = policy.due.get(assignment)
            stamp = collection.tree / sid / assignment / "timestamp.txt"
            if due is None or not stamp.parent.is_dir():
                continue
            when = collection.times.get((sid, assignment))
            late_from = due + timedelta(minutes=policy.late.grace_minutes, seconds=1)
            if when is None or when < late_from:
                stamp.write_text(timestamp_text(late_from.astimezone(UTC)))


def _with_notes(record: dict, collection: Collection, out: Path) -> dict:
    """The unit's record with what collection noticed about it (a renamed notebook...)."""
    notes = collection.unit_notes.get((record["student_id"], record["assignment"]), [])
    new = [n for n in notes if n not in record["problems"]]
    if new:
        record["problems"] = record["problems"] + new
        write_json_atomic(unit_result_path(out, record["assignment"], record["student_id"]), record)
    return record


def grade_all(submissions: Path, options: GradeOptions, announce=None) -> GradeRun:
    """Grade every unit found under ``submissions`` (in any layout ``collect`` knows)."""
    require_sandbox(options)
    expected = _expected_notebooks(options.solutions_dir)
    unknown = sorted(set(options.assignments or []) - set(expected))
    if unknown:
        raise ValueError(f"unknown assignment(s) {', '.join(unknown)}; known: {', '.join(expected)}")
    options.out.mkdir(parents=True, exist_ok=True)
    workers: list[Worker] = []
    if options.executor != "dask":  # started now: their imports overlap collecting and checking
        workers = [Worker(options.out / "logs" / f"worker-{i}.log", unit_threads(options), kernel_settings(options))
                   for i in range(max(1, options.jobs))]
        for worker in workers:
            worker.launch()
    try:
        return _grade_all(submissions, options, announce, expected, workers)
    finally:
        for worker in workers:  # all wind down together, then each is waited for
            worker.finish()
        for worker in workers:
            worker.close()


def _grade_all(submissions: Path, options: GradeOptions, announce, expected: dict[str, list[str]],
               workers: list[Worker]) -> GradeRun:
    collection = collect(submissions.resolve(), options.out / ".staging", expected, options.assignments)
    if not collection.notebooks:
        raise SubmissionError(f"nothing gradable found in {submissions} ({collection.describe()}).\n{LAYOUT_HELP}")
    wanted = options.assignments or collection.present
    if announce and not options.quiet:
        announce(collection.describe())
    units = collection.units(wanted)
    if options.students:
        missing = sorted(set(options.students) - set(collection.students))
        if missing:
            raise SubmissionError(f"student(s) {', '.join(missing)} not found in {submissions}")
        units = [u for u in units if u.student_id in options.students]
    remember_students(options.out, collection)
    problems = list(collection.notes)
    templates = build_templates(options, wanted)
    mark_late_submissions(collection, options.policy)
    digests = {a: _policy_digest(assignment_digest(a, options.solutions_dir), a, options.policy) for a in wanted}

    records, todo = [], []
    for unit in units:
        digest = submission_digest(unit.folder, digests[unit.assignment])
        path = unit_result_path(options.out, unit.assignment, unit.student_id)
        if not options.force and _is_current(path, digest):
            records.append(_with_notes(json.loads(path.read_text()), collection, options.out))
        else:
            todo.append((unit, digest))
    skipped = len(records)
    started = time.time()
    total = len(todo)
    if total:
        _progress(0, total, "", started, options.quiet)
    idle = queue.SimpleQueue()
    for worker in workers:
        idle.put(worker)
    local = threading.local()
    # The pool hands units out in order; each worker's spare kernel serves its next unit, so
    # the last len(workers) units start none (it would boot for nobody).
    handed_out = itertools.count(1)

    def grade_in_worker(unit: Submission, digest: str) -> dict:
        if not hasattr(local, "worker"):  # one worker per thread of the pool, kept for its units
            local.worker = idle.get()
        more = next(handed_out) <= len(todo) - len(workers)
        return grade_one(unit, templates[unit.assignment], digest, options, local.worker, more)

    failed = 0

    def finished(unit: Submission, record: dict) -> None:
        nonlocal failed
        records.append(_with_notes(record, collection, options.out))
        failed += _failed(records[-1])
        done = len(records) - skipped
        _progress(done, total, f"{unit.student_id}/{unit.assignment}", started, options.quiet, failed)

    if options.executor == "dask" and todo:
        from .cluster import grade_on_dask

        grade_on_dask(todo, templates, options, finished)
    elif todo:
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            futures = {pool.submit(grade_in_worker, unit, digest): unit for unit, digest in todo}
            for future in as_completed(futures):
                finished(futures[future], future.result())
    records.sort(key=lambda r: (r["student_id"], r["assignment"]))
    return GradeRun(records, problems, collection, skipped)
