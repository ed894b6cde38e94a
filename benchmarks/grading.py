"""Grading a class with ``python -m autograder grade``, against plain notebook execution,
plain ``nbgrader autograde`` and a two-worker Dask cluster (``scale_out.py``).

Every submission is reference-filled: the source notebook itself, copied to
``SUBS/<student>/<assignment>/<assignment>.ipynb``, so every unit must score full marks.
The per-assignment template gradebooks (built by the first ``grade`` call into an output
folder) are timed once, on an empty submissions folder, and copied into each fresh output
folder afterwards, so that the timed runs grade and nothing else, and resume nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from autograder.outputs import read_grade_totals
from benchmarks.scale_out import dask_grading, nbgrader_plain

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"


def student_ids(count: int) -> list[str]:
    return [f"student{i:02d}" for i in range(1, count + 1)]


def make_submissions(folder: Path, students: list[str], assignments: list[str],
                     solutions: Path = SOLUTIONS) -> Path:
    """Reference-filled submissions: ``folder/<student>/<A>/<A>.ipynb`` copied from the source."""
    for student in students:
        for assignment in assignments:
            target = folder / student / assignment
            target.mkdir(parents=True, exist_ok=True)
            for notebook in sorted((solutions / assignment).glob("*.ipynb")):
                shutil.copy2(notebook, target / notebook.name)
    return folder


def grade_command(submissions: Path, out: Path, jobs: int, assignments: list[str]) -> list[str]:
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--out", str(out),
               "--jobs", str(jobs), "--quiet"]
    for assignment in assignments:
        command += ["--assignment", assignment]
    return command


def run_grade(submissions: Path, out: Path, jobs: int, assignments: list[str]) -> float:
    """Seconds that one ``python -m autograder grade`` call takes; raises if it fails."""
    start = time.perf_counter()
    result = subprocess.run(grade_command(submissions, out, jobs, assignments), cwd=ROOT,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"autograder grade failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds


def scores(out: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """(student, assignment) -> (score, max_score) from ``OUT/grades.csv``."""
    return read_grade_totals(out)


def short_of_full_marks(out: Path, students: list[str], assignments: list[str]) -> list[str]:
    """The units of a reference-filled class that did not get full marks (should be none)."""
    got = scores(out)
    wrong = []
    for student in students:
        for assignment in assignments:
            score, max_score = got.get((student, assignment), (0.0, -1.0))
            if max_score <= 0 or score != max_score:
                wrong.append(f"{student}/{assignment}: {score:g}/{max_score:g}")
    return wrong


def build_templates(work: Path, assignments: list[str]) -> tuple[float, Path]:
    """Time building the template gradebooks as ``grade`` does (``grade`` itself refuses an
    empty folder of submissions)."""
    from autograder.batch import GradeOptions
    from autograder.batch import build_templates as build

    out = work / "out-templates"
    start = time.perf_counter()
    build(GradeOptions(out=out, solutions_dir=SOLUTIONS), assignments)
    return time.perf_counter() - start, out / ".templates"


def fresh_out(work: Path, name: str, templates: Path) -> Path:
    """A new output folder that holds only the already-built template gradebooks."""
    out = work / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(templates, out / ".templates")
    return out


def timed_grading(work: Path, submissions: Path, jobs: int, students: list[str], assignments: list[str],
                  templates: Path, problems: list[str]) -> float:
    """Seconds to grade ``submissions`` into a fresh output folder; records units short of full marks."""
    out = fresh_out(work, f"out-jobs{jobs}-{submissions.name}", templates)
    seconds = run_grade(submissions, out, jobs, assignments)
    problems += [f"--jobs {jobs}: {unit}" for unit in short_of_full_marks(out, students, assignments)]
    shutil.rmtree(out, ignore_errors=True)
    return seconds


def kernel_environment(threads: int) -> dict[str, str]:
    """The environment of a plain-execution kernel: like a graded one (autograder importable,
    ``NBGRADER_EXECUTION=autograde``, the threads that ``--jobs 1`` gives a kernel)."""
    env = dict(os.environ)
    env.update(
        {
            "NBGRADER_EXECUTION": "autograde",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")])),
            "MPLBACKEND": "Agg",
            "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "OPENBLAS_NUM_THREADS": str(threads),
        }
    )
    return env


def execute_plain(notebooks: list[Path], threads: int, problems: list[str]) -> float:
    """Seconds to execute ``notebooks`` one after another with nbclient: no grading at all."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    env = kernel_environment(threads)
    start = time.perf_counter()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix="bench-exec-") as scratch:
            client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": scratch}})
            try:
                client.execute(env=env)
            except CellExecutionError as error:
                problems.append(f"plain execution of {path.parent.parent.name}/{path.parent.name}: {str(error)[-300:]}")
    return time.perf_counter() - start


def run_grading_benchmarks(students: int, assignments: list[str], class_assignment: str,
                           class_sizes: list[int], threads: int) -> dict:
    """Template build, grading with 1 and 2 jobs, plain execution, and time against class size."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as scratch:
        work = Path(scratch)
        everyone = student_ids(students)
        wanted = sorted(set(assignments) | {class_assignment})
        templates_s, templates = build_templates(work, wanted)
        subs = make_submissions(work / "subs", everyone, assignments)
        results = {
            "grading_students": students,
            "grading_assignments": assignments,
            "grading_units": students * len(assignments),
            "grade_templates_s": templates_s,
            # one after another, so that the pairs compared (exec / jobs 1, jobs 1 / jobs 2)
            # run next to each other in time, under the same load
            "notebook_exec_s": execute_plain(sorted(subs.glob("*/*/*.ipynb")), threads, problems),
            "grade_nbgrader_plain_s": nbgrader_plain(work, subs, templates, assignments, threads, problems),
            "grade_jobs1_s": timed_grading(work, subs, 1, everyone, assignments, templates, problems),
            "grade_jobs2_s": timed_grading(work, subs, 2, everyone, assignments, templates, problems),
            "grade_dask2_s": dask_grading(work, subs, 2, everyone, assignments, templates, problems),
        }
        # what grading adds to running the notebooks, per unit, with --jobs 1 (nbgrader, the
        # gradebook, the result files; negative when starting kernels ahead, autograder/spare.py,
        # saves more than that costs)
        results["grade_overhead_per_unit_s"] = (
            (results["grade_jobs1_s"] - results["notebook_exec_s"]) / results["grading_units"])
        class_curve = []
        for size in class_sizes:
            class_subs = make_submissions(work / f"class{size}", student_ids(size), [class_assignment])
            seconds = timed_grading(work, class_subs, 2, student_ids(size), [class_assignment], templates, problems)
            class_curve.append({"students": size, "grade_jobs2_s": seconds})
        results["class_size_assignment"] = class_assignment
        results["class_size_jobs"] = 2
        results["class_size"] = class_curve
        results["grading_problems"] = problems
    return results
