"""Grading the benchmark's class two more ways: plain ``nbgrader autograde`` (serial, no
sandbox: the tool instructors use today) and ``grade --executor dask`` on a two-worker
Dask cluster started on this machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from autograder.course import COURSE_ID

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def nbgrader_plain(work: Path, submissions: Path, templates: Path, assignments: list[str], threads: int,
                   problems: list[str]) -> float:
    """Seconds for ``nbgrader autograde`` of every assignment, one after another, in an
    nbgrader course folder holding the same submissions and the same template gradebooks."""
    from nbgrader.api import Gradebook

    from benchmarks.grading import kernel_environment

    root = work / "plain-nbgrader"
    if root.exists():
        shutil.rmtree(root)
    for student in sorted(p.name for p in submissions.iterdir() if p.is_dir()):
        for assignment in assignments:
            if (submissions / student / assignment).is_dir():
                shutil.copytree(submissions / student / assignment, root / "submitted" / student / assignment)
    env = kernel_environment(threads)
    seconds = 0.0
    for assignment in assignments:
        db = root / f"{assignment}.db"
        shutil.copyfile(templates / assignment / "gradebook.db", db)
        command = [str(BIN / "nbgrader"), "autograde", assignment, f"--CourseDirectory.root={root}",
                   f"--CourseDirectory.db_url=sqlite:///{db}", f"--CourseDirectory.course_id={COURSE_ID}",
                   "--ExecutePreprocessor.timeout=600", "--force"]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        seconds += time.perf_counter() - start
        if result.returncode != 0:
            problems.append(f"nbgrader autograde {assignment} failed: {result.stderr[-300:]}")
            continue
        with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
            for submission in gb.assignment_submissions(assignment):
                if submission.score != submission.max_score:
                    problems.append(f"plain nbgrader: {submission.student.id}/{assignment}: "
                                    f"{submission.score:g}/{submission.max_score:g}")
    shutil.rmtree(root, ignore_errors=True)
    return seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """A Dask scheduler and ``workers`` single-thread workers on 127.0.0.1, as processes."""

    def __init__(self, workers: int, logs: Path):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        cores = len(os.sched_getaffinity(0))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOGRADER_UNIT_THREADS": str(max(1, cores // workers))}
        logs.mkdir(parents=True, exist_ok=True)
        port = self.address.rsplit(":", 1)[1]
        commands = [["scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"]]
        commands += [["worker", self.address, "--name", f"w{i}", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                      "--host", "127.0.0.1"] for i in range(workers)]
        self.processes = []
        for i, command in enumerate(commands):
            with open(logs / f"dask-{i}.log", "wb") as log:
                self.processes.append(subprocess.Popen([str(BIN / "dask"), *command], cwd=ROOT, env=env, stdout=log,
                                                       stderr=log, start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=180)

    def close(self) -> None:
        for process in reversed(self.processes):  # workers first, while the scheduler is up
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def dask_grading(work: Path, submissions: Path, workers: int, students: list[str], assignments: list[str],
                 templates: Path, problems: list[str]) -> float:
    """Seconds to grade ``submissions`` with ``--executor dask`` on a fresh local cluster of
    ``workers`` workers (started before the clock starts, as an existing cluster would be)."""
    from benchmarks.grading import fresh_out, grade_command, short_of_full_marks

    cluster = LocalCluster(workers, work / "dask-logs")
    try:
        out = fresh_out(work, f"out-dask{workers}", templates)
        command = [*grade_command(submissions, out, 1, assignments), "--executor", "dask",
                   "--scheduler", cluster.address]
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(f"autograder grade --executor dask failed:\n{result.stderr[-3000:]}")
        problems += [f"dask {workers} workers: {unit}" for unit in short_of_full_marks(out, students, assignments)]
        shutil.rmtree(out, ignore_errors=True)
    finally:
        cluster.close()
    return seconds
