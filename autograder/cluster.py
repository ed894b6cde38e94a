"""Units as tasks on a ``dask.distributed`` cluster (``grade --executor dask --scheduler ADDR``).

A task carries its unit **by value**: the submitted files, the assignment's template
gradebook and ``plan.json`` (scattered once to every worker), and the limits. It returns
the unit's result record, the autograded notebook(s) and the log, and this process
writes them under ``OUT`` exactly as local grading does. So workers need no shared
filesystem and never see ``OUT``, the solutions or other students' submissions; they
need this package (the same version), the course environment and bubblewrap.

On a worker, each task grades through the same path as local grading: a warm
``python -m autograder.worker`` subprocess (one per Dask worker thread, kept between
tasks) that runs ``unit.py`` with the student's kernel in the sandbox.

A task that fails (the grading worker died, hung past the limit, or the unit raised) is
run once more; a Dask worker that dies takes its tasks with it and the scheduler runs
them elsewhere. A unit that still fails is recorded as failed, with why, in
``problems.txt``. Results are written as they arrive, so a re-run resumes as locally.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import asdict, replace
from pathlib import Path

ATTEMPTS = 2  # a failing unit is tried once more, then reported

_local = threading.local()
_workers: list = []
_idle: list = []  # launched by _prestart_workers, not yet taken by a Dask thread
_lock = threading.RLock()
_root: Path | None = None


class UnitFailed(Exception):
    """A unit the grading worker could not grade on a Dask worker: (why, log text)."""


# ---------------------------------------------------------------- on a Dask worker
def _worker_root() -> Path:
    """This process's scratch folder (templates, units in flight, worker logs)."""
    global _root
    with _lock:
        if _root is None:
            where = None
            try:  # inside the Dask worker's own folder, which Dask removes, even after a crash
                from distributed import get_worker

                where = get_worker().local_directory
            except (ImportError, ValueError, AttributeError):
                pass
            _root = Path(tempfile.mkdtemp(prefix="cnn-dask-", dir=where))
            atexit.register(_shutdown)
        return _root


def _shutdown() -> None:
    for worker in _workers:
        worker.close()
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)


def _unit_threads() -> int:
    """Cores per unit: ``AUTOGRADER_UNIT_THREADS``, else the cores over the worker's threads."""
    threads = int(os.environ.get("AUTOGRADER_UNIT_THREADS", "0") or 0)
    if threads < 1:
        try:
            from distributed import get_worker

            threads = max(1, (os.cpu_count() or 1) // max(1, get_worker().state.nthreads))
        except (ImportError, ValueError, AttributeError):
            threads = 1
    return threads


def _new_worker(spec: dict):
    """A grading worker for units like ``spec``, launched (it imports, and boots the first
    unit's kernel) without waiting for it."""
    from .batch import Worker
    from .spare import KernelSettings
    from .unit import UnitSpec

    threads = _unit_threads()
    kernel = replace(KernelSettings.of(UnitSpec(**spec)), threads=threads)
    with _lock:
        worker = Worker(_worker_root() / f"worker-{len(_workers)}.log", threads, kernel)
        _workers.append(worker)
    worker.launch()
    return worker


def _prestart_workers(spec: dict) -> str | None:
    """Run on every Dask worker as grading begins (with the sandbox check): launch one grading
    worker per thread, so that their start overlaps the rest of the set-up. Returns what
    ``sandbox_problem`` says."""
    try:
        from distributed import get_worker

        slots = max(1, get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        slots = 1
    with _lock:
        missing = slots - len(_workers)  # a worker process keeps its grading workers between runs
    for _ in range(max(0, missing)):
        worker = _new_worker(spec)
        with _lock:
            _idle.append(worker)
    return _sandbox_here() if spec.get("sandbox", True) else None


def _warm_worker(spec: dict):
    """This thread's grading worker: one launched by ``_prestart_workers``, else a new one;
    kept for every later task of the thread."""
    if not hasattr(_local, "worker"):
        with _lock:
            _local.worker = _idle.pop() if _idle else None
        if _local.worker is None:
            _local.worker = _new_worker(spec)
    return _local.worker


def _template_on_disk(template: dict[str, bytes]) -> Path:
    """The template gradebook and plan.json in a folder named by their digest (written once,
    so the grading worker's caches keyed by path stay valid from task to task)."""
    digest = hashlib.sha256(template["gradebook.db"] + template["plan.json"]).hexdigest()[:24]
    folder = _worker_root() / "templates" / digest
    if not (folder / "done").exists():
        with _lock:
            if not (folder / "done").exists():
                folder.mkdir(parents=True, exist_ok=True)
                for name in ("gradebook.db", "plan.json"):
                    (folder / name).write_bytes(template[name])
                (folder / "done").write_text("")
    return folder / "gradebook.db"


def grade_task(payload: dict, template: dict[str, bytes]) -> dict:
    """Grade one unit on this Dask worker; returns its record, kept notebooks and log."""
    from .unit import UnitSpec

    worker = _warm_worker(payload["spec"])
    template_db = _template_on_disk(template)
    unit_dir = Path(tempfile.mkdtemp(prefix="unit-", dir=_worker_root()))
    try:
        submission = unit_dir / "submission"
        for relative, data in payload["files"].items():
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                continue  # only names inside the submission travel
            path = submission / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        submission.mkdir(exist_ok=True)
        spec = dict(payload["spec"])
        spec.update(
            submission_dir=str(submission),
            template_db=str(template_db),
            work_dir=str(unit_dir / "work"),
            result_path=str(unit_dir / "result" / f"{spec['student_id']}.json"),
            threads=worker.threads,
        )
        log_path = unit_dir / "unit.log"
        failure = worker.grade(UnitSpec(**spec), log_path, payload.get("more", True))
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        result = Path(spec["result_path"])
        if failure is None and not result.is_file():
            failure = "the grader wrote no result"
        if failure:
            raise UnitFailed(f"{failure.split('; see ')[0]} (on {socket.gethostname()})", log[-20000:])
        kept = result.with_suffix("")
        return {
            "record": json.loads(result.read_text()),
            "kept": {p.name: p.read_bytes() for p in kept.iterdir() if p.is_file()} if kept.is_dir() else {},
            "log": log,
            "host": socket.gethostname(),
        }
    finally:
        shutil.rmtree(unit_dir, ignore_errors=True)


def _sandbox_here() -> str | None:
    from .sandbox import sandbox_problem

    return sandbox_problem()


# ---------------------------------------------------------------- in the grading run
def _payload(unit, template_db: Path, digest: str, options) -> dict:
    from .batch import make_spec

    files = {
        str(path.relative_to(unit.folder)): path.read_bytes()
        for path in sorted(unit.folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }
    return {"spec": asdict(make_spec(unit, template_db, digest, options)), "files": files}


def _write_result(options, unit, reply: dict) -> dict:
    from .batch import unit_result_path
    from .io import write_json_atomic

    result_path = unit_result_path(options.out, unit.assignment, unit.student_id)
    kept = result_path.with_suffix("")
    if kept.exists():
        shutil.rmtree(kept)
    if reply["kept"]:
        kept.mkdir(parents=True)
        for name, data in reply["kept"].items():
            (kept / Path(name).name).write_bytes(data)
    _write_log(options, unit, reply["log"])
    write_json_atomic(result_path, reply["record"])
    return reply["record"]


def _write_log(options, unit, text: str) -> None:
    log_path = options.out / "logs" / unit.assignment / f"{unit.student_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(text)


def _why(error: BaseException) -> tuple[str, str]:
    if isinstance(error, UnitFailed) and len(error.args) == 2:
        return str(error.args[0]), str(error.args[1])
    return f"{type(error).__name__}: {error}"[:500], ""


def grade_on_dask(todo: list, templates: dict[str, Path], options, finished) -> None:
    """Grade ``todo`` [(unit, digest)] on the cluster at ``options.scheduler``; call
    ``finished(unit, record)`` as each result is written to OUT."""
    from distributed import Client, as_completed

    from .batch import (
        SandboxUnavailable,
        _is_current,
        _missing_result,
        grade_one,
        make_spec,
        unit_result_path,
    )
    from .io import write_json_atomic

    if not options.scheduler:
        raise ValueError("--executor dask needs --scheduler tcp://HOST:PORT (a running Dask scheduler)")
    for unit, digest in todo:  # nothing to ship for a missing submission
        if not unit.folder.is_dir():
            finished(unit, grade_one(unit, templates[unit.assignment], digest, options, None))
    todo = [(unit, digest) for unit, digest in todo if unit.folder.is_dir()]
    if not todo:
        return
    try:
        client = Client(options.scheduler, timeout="60s", set_as_default=False)
    except OSError as error:
        raise ValueError(f"cannot reach the Dask scheduler at {options.scheduler}: {error}") from error
    try:
        try:
            client.wait_for_workers(1, timeout=300)
        except (OSError, TimeoutError) as error:
            raise ValueError(f"no Dask worker joined {options.scheduler} within 300 s") from error
        first = todo[0][0]
        first_spec = asdict(make_spec(first, templates[first.assignment], todo[0][1], options))
        problems = {address: why for address, why in client.run(_prestart_workers, first_spec).items() if why}
        if options.sandbox:
            if problems:
                address, why = next(iter(problems.items()))
                raise SandboxUnavailable(
                    f"the sandbox for student code cannot be set up on {len(problems)} Dask worker(s), e.g. "
                    f"{address}: {why}. Fix the workers (see autograder/README.md, 'Grading on a cluster'), or "
                    "pass --unsafe-no-sandbox to grade without isolation."
                )
        shipped = {}
        for assignment in sorted({unit.assignment for unit, _ in todo}):
            folder = templates[assignment].parent
            data = {name: (folder / name).read_bytes() for name in ("gradebook.db", "plan.json")}
            [shipped[assignment]] = client.scatter([data], broadcast=True, hash=False)

        attempts: dict[tuple[str, str], int] = {}
        owner = {}

        def submit(unit, digest):
            key = (unit.student_id, unit.assignment)
            attempts[key] = attempts.get(key, 0) + 1
            payload = _payload(unit, templates[unit.assignment], digest, options)
            payload["more"] = key not in last_ones or attempts[key] > 1
            future = client.submit(
                grade_task, payload, shipped[unit.assignment],
                key=f"grade-{unit.assignment}-{unit.student_id}-{digest[:12]}-{attempts[key]}-{os.getpid()}",
                pure=False,
            )
            owner[future.key] = (unit, digest)
            return future

        # Tasks run roughly in the order submitted; the last one per worker thread needs no
        # spare kernel after it (a wrong guess costs one unused kernel or one cold start).
        slots = max(1, sum(client.nthreads().values()))
        last_ones = {(unit.student_id, unit.assignment) for unit, _ in todo[-slots:]}
        pending = as_completed([submit(unit, digest) for unit, digest in todo], loop=client.loop)
        for future in pending:
            unit, digest = owner.pop(future.key)
            result_path = unit_result_path(options.out, unit.assignment, unit.student_id)
            try:
                reply = future.result()
                if reply["record"].get("input_digest") != digest:
                    raise UnitFailed("the worker graded other inputs (is it running another version?)", reply["log"])
            except Exception as error:  # a failed task, a KilledWorker, a cancelled one
                why, log = _why(error)
                future.release()
                if attempts[(unit.student_id, unit.assignment)] < ATTEMPTS:
                    pending.add(submit(unit, digest))
                    continue
                _write_log(options, unit, log)
                record = _missing_result(unit, templates[unit.assignment], digest,
                                         f"the grader failed on this submission twice on the cluster ({why})")
                write_json_atomic(result_path, record)
                finished(unit, record)
                continue
            future.release()
            _write_result(options, unit, reply)
            finished(unit, json.loads(result_path.read_text()) if _is_current(result_path, digest) else reply["record"])
    finally:
        client.close()
