"""GPU check (``make gpu-check``): what a student and an instructor do on a CUDA machine.

1. Every student notebook of ``exercises/``, filled with the reference solutions (the hidden
   tests stay out), runs on CUDA twice: as handed out (its setup cells turn TF32 off) and
   with TF32 left on (PyTorch's default for cuDNN convolutions on GPUs since the A100). The
   first run must have no error; the second shows which visible tests TF32 would break.
2. The grader grades a small class of reference-filled submissions on the GPU machine:
   every unit must get full marks.
3. The benchmarks' CUDA figures: the benchmark layer with ``F.conv2d`` on CUDA and the
   matrix-multiply peak.

Without CUDA it says so and exits 0, having checked nothing. Results go to ``--json``
(``benchmarks/results/gpu_check.json`` from ``make gpu-check``), beside the CPU run.

    python -m benchmarks.gpu_check [--json OUT.json] [--students 2] [--assignments A,B]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
TF32_OFF = ("torch.backends.cuda.matmul.allow_tf32 = False", "torch.backends.cudnn.allow_tf32 = False")
# The grader's small class: one NumPy-and-PyTorch assignment and one of PyTorch modules.
CLASS_ASSIGNMENTS = ("02_convolution", "07_architectures")


def filled_notebook(assignment: str, tf32: bool):
    """The student version with the reference solution cells; with ``tf32`` its TF32 lines say True."""
    import nbformat

    student = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    source = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in student.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = solutions[meta["grade_id"]]
        if tf32 and cell.cell_type == "code":
            for line in TF32_OFF:
                cell.source = cell.source.replace(line, line.replace("False", "True"))
    return student


def run_notebook(nb, workdir: Path) -> tuple[float, list[dict]]:
    """Seconds and the errors (cell, test name, error) of one execution on this machine's Python."""
    from nbclient import NotebookClient

    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    NotebookClient(nb, allow_errors=True, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append({"cell": index, "grade_id": cell.metadata.get("nbgrader", {}).get("grade_id"),
                               "error": f"{output['ename']}: {output['evalue'][:300]}"})
    return time.perf_counter() - start, errors


def check_notebooks(assignments: list[str], scratch: Path) -> dict:
    results = {}
    for assignment in assignments:
        for tf32 in (False, True):
            seconds, errors = run_notebook(filled_notebook(assignment, tf32), scratch / f"{assignment}-tf32-{tf32}")
            results[f"{assignment} tf32={'on' if tf32 else 'off'}"] = {"seconds": seconds, "errors": errors}
            print(f"  {assignment:<40} TF32 {'on ' if tf32 else 'off'} {seconds:6.1f} s  "
                  + ("ok" if not errors else f"{len(errors)} error(s): " + "; ".join(
                      f"{e['grade_id']}: {e['error'][:80]}" for e in errors)), flush=True)
    return results


def check_grader(students: int, scratch: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from benchmarks import grading

    ids = grading.student_ids(students)
    assignments = [a for a in CLASS_ASSIGNMENTS if (SOLUTIONS / a).is_dir()]
    submissions = grading.make_submissions(scratch / "class", ids, assignments)
    out = scratch / "graded"
    seconds = grading.run_grade(submissions, out, 1, assignments)
    short = grading.short_of_full_marks(out, ids, assignments)
    print(f"  grader: {len(ids)} students x {len(assignments)} assignments in {seconds:.0f} s; "
          + ("full marks everywhere" if not short else "short of full marks: " + ", ".join(short)), flush=True)
    return {"students": len(ids), "assignments": assignments, "seconds": seconds, "short_of_full_marks": short}


def cuda_figures() -> dict:
    sys.path.insert(0, str(ROOT))
    from benchmarks import conv

    results = conv.run_conv_benchmarks(quick=True)
    figures = {k: v for k, v in results.items() if "cuda" in k}
    figures["conv_gflops_cuda"] = {k: v for k, v in results.get("conv_gflops", {}).items() if "cuda" in k}
    for key, value in figures.items():
        print(f"  {key}: {value}", flush=True)
    return figures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--students", type=int, default=2, help="students in the graded class (default 2)")
    parser.add_argument("--assignments", default=None, help="comma-separated assignments (default: all of exercises/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("gpu-check: skipped, no CUDA device here (torch.cuda.is_available() is False). "
              "Nothing was checked; run `make gpu-check` on a machine with an NVIDIA GPU.")
        return 0
    assignments = (args.assignments.split(",") if args.assignments
                   else sorted(p.name for p in EXERCISES.iterdir() if (p / f"{p.name}.ipynb").is_file()))
    device = torch.cuda.get_device_name(0)
    print(f"gpu-check on {device} (torch {torch.__version__}, CUDA {torch.version.cuda})", flush=True)
    results: dict = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda,
                     "python": platform.python_version(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        print("1. reference-filled student notebooks, TF32 off (as handed out) and on:", flush=True)
        results["notebooks"] = check_notebooks(assignments, Path(scratch))
        print("2. the grader on a small class:", flush=True)
        results["grader"] = check_grader(args.students, Path(scratch))
    print("3. the benchmarks' CUDA figures:", flush=True)
    results["benchmarks"] = cuda_figures()
    failed = [name for name, r in results["notebooks"].items() if name.endswith("tf32=off") and r["errors"]]
    if results["grader"]["short_of_full_marks"]:
        failed.append("grader")
    results["ok"] = not failed
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
        print(f"results written to {args.json}")
    print("gpu-check: " + ("passed" if not failed else "FAILED: " + ", ".join(failed)))
    return 0 if not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
