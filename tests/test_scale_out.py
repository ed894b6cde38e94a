"""Grading past one machine: a real PostgreSQL gradebook, and a Dask cluster of two workers
on 127.0.0.1 that gives the same grades as local grading, even when a worker is killed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from conftest import FIXTURES, ROOT, read_grades, run_grader

pytestmark = pytest.mark.slow
TOY = ["--solutions", str(FIXTURES / "solutions"), "--quiet"]
STUDENTS = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).is_file():
            return str(folder / name)
    return None


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server on a free port, data in a temporary folder, stopped after."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="cnn-pg-"))
    root.chmod(0o755)
    if as_user:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory, toy_release) -> Path:
    """Even students hand in the reference solution (5/5), odd ones the untouched exercise (0/5)."""
    reference = nbformat.read(FIXTURES / "solutions" / "toy" / "toy.ipynb", as_version=4)
    student = nbformat.read(toy_release, as_version=4)
    subs = tmp_path_factory.mktemp("scale-subs")
    for i in range(STUDENTS):
        folder = subs / f"s{i:02d}" / "toy"
        folder.mkdir(parents=True)
        nbformat.write(reference if i % 2 == 0 else student, folder / "toy.ipynb")
    return subs


EXPECTED = {(f"s{i:02d}", "toy"): (5.0 if i % 2 == 0 else 0.0, 5.0) for i in range(STUDENTS)}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, toy_class, postgres_url) -> tuple[Path, str]:
    """The class graded locally (the reference), its gradebook in PostgreSQL; grades.csv as written."""
    out = tmp_path_factory.mktemp("scale-local") / "out"
    result = run_grader("grade", str(toy_class), "--out", str(out), "--jobs", "2", "--db", postgres_url, *TOY)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, (out / "grades.csv").read_text()


def test_postgres_gradebook_holds_every_student_and_score_and_keeps_manual_ones(local_run, toy_class,
                                                                                  postgres_url):
    from nbgrader.api import Gradebook

    out, _ = local_run
    assert read_grades(out) == EXPECTED
    assert not (out / "gradebook.db").exists()  # the gradebook is the server's
    with Gradebook(postgres_url, "cnn-course") as gb:
        assert sorted(s.id for s in gb.students) == sorted(s for s, _ in EXPECTED)
        for (student, assignment), (score, max_score) in EXPECTED.items():
            submission = gb.find_submission(assignment, student)
            assert (submission.score, submission.max_score) == (score, max_score)
        grade = gb.find_grade("test_scale__hidden", "toy", "toy", "s01")
        grade.manual_score = 1.5  # as formgrader saves it
        gb.db.commit()
    assert f"c.CourseDirectory.db_url = {postgres_url!r}" in (out / "nbgrader_config.py").read_text()

    again = run_grader("grade", str(toy_class), "--out", str(out), "--db", postgres_url, *TOY)
    assert again.returncode == 0, again.stdout + again.stderr
    assert read_grades(out)[("s01", "toy")] == (1.5, 5.0)
    with Gradebook(postgres_url, "cnn-course") as gb:
        assert gb.find_grade("test_scale__hidden", "toy", "toy", "s01").manual_score == 1.5
        assert gb.find_submission("toy", "s01").score == 1.5
        assert gb.find_submission("toy", "s00").score == 5


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """One scheduler and two single-thread workers on 127.0.0.1, as separate processes."""
    pytest.importorskip("distributed")
    logs = tmp_path_factory.mktemp("dask-logs")
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUTOGRADER_UNIT_THREADS": "1"}
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = {}

    def start(name, *command):
        with open(logs / f"{name}.log", "wb") as log:
            processes[name] = subprocess.Popen([dask, *command], cwd=ROOT, env=env, stdout=log, stderr=log,
                                               start_new_session=True)

    start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    for name in ("w1", "w2"):
        start(name, "worker", address, "--name", name, "--nthreads", "1", "--no-nanny", "--no-dashboard",
              "--host", "127.0.0.1")
    from distributed import Client

    try:
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address, processes
    finally:
        for name in ("w1", "w2", "scheduler"):  # workers first: they close cleanly while the scheduler is up
            with contextlib.suppress(ProcessLookupError):
                os.killpg(processes[name].pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes[name].wait(timeout=20)
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_two_dask_workers_give_the_same_grades_as_local_grading(tmp_path, local_run, toy_class, dask_cluster):
    address, _ = dask_cluster
    _, local_grades = local_run
    out = tmp_path / "out"
    result = run_grader("grade", str(toy_class), "--out", str(out), "--executor", "dask", "--scheduler", address,
                        *TOY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "grades.csv").read_text() == local_grades
    assert read_grades(out) == EXPECTED
    assert (out / "units" / "toy" / "s01" / "toy.ipynb").is_file()  # the autograded notebook came back
    assert (out / "feedback" / "s01" / "toy" / "toy.html").is_file()
    assert not any("failed" in line for line in (out / "problems.txt").read_text().splitlines())

    stamps = {p: p.stat().st_mtime_ns for p in (out / "units").rglob("*.json")}
    again = run_grader("grade", str(toy_class), "--out", str(out), "--executor", "dask", "--scheduler", address,
                       *TOY)
    assert again.returncode == 0 and "skipped 4" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in (out / "units").rglob("*.json")} == stamps, "resume re-graded"


def test_killing_a_dask_worker_mid_run_loses_nothing(tmp_path, local_run, toy_class, dask_cluster):
    address, processes = dask_cluster
    _, local_grades = local_run
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(toy_class), "--out", str(out),
               "--executor", "dask", "--scheduler", address, *TOY]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    while time.time() < deadline and not list((out / "units").rglob("*.json")) and run.poll() is None:
        time.sleep(0.2)
    os.killpg(processes["w1"].pid, signal.SIGKILL)  # a Dask worker dies mid-run
    processes["w1"].wait()
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 0, stdout + stderr
    assert (out / "grades.csv").read_text() == local_grades
    assert not any("failed" in line for line in (out / "problems.txt").read_text().splitlines())
