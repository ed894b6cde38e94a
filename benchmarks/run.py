"""Run every benchmark of the course and write the results as JSON.

    python benchmarks/run.py --json benchmarks/results/recorded.json
    python benchmarks/run.py --quick --skip-book          # a smoke run, about two minutes

Convolutions: one layer by the reference loop (``conv2d_forward``, assignment 02), the
reference im2col (``conv2d_fast``, assignment 03) and ``torch.nn.functional.conv2d``, its
scaling with the layer's size, and the matrix-multiply peak of the machine. Grading: a
class of reference-filled submissions graded by ``python -m autograder grade`` with one
and two jobs, against plain execution of the same notebooks, and grading time against
class size. The book: ``jupyter-book build`` from scratch and with its cache warm.
Times are medians of several runs after a warm-up; every key ending in ``_s`` is seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.report import evaluate_targets, format_table  # noqa: E402
from benchmarks.timing import load_average, machine_info  # noqa: E402

# Grading every assignment takes far longer than the 15 minutes a full run may take on
# two cores (the training notebooks alone run for minutes): the default class is the
# NumPy assignments; --assignments all grades every assignment in solutions/.
DEFAULT_GRADING_ASSIGNMENTS = ("02_convolution", "04_pooling_upsampling")
DEFAULT_CLASS_ASSIGNMENT = "04_pooling_upsampling"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument("--quick", action="store_true",
                        help="fewer repeats, smaller layers, 2 students on one assignment")
    parser.add_argument("--skip-conv", action="store_true", help="no convolution or matmul benchmarks")
    parser.add_argument("--skip-grading", action="store_true", help="no grading benchmarks")
    parser.add_argument("--skip-book", action="store_true", help="no book builds")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy and PyTorch in the convolution benchmarks (default: all cores)")
    parser.add_argument("--students", type=int, default=None, help="students in the graded class (default 8; quick 2)")
    parser.add_argument("--assignments", default=None,
                        help="comma-separated assignments to grade, or 'all' "
                             f"(default {','.join(DEFAULT_GRADING_ASSIGNMENTS)}; quick: the class-size one)")
    parser.add_argument("--class-assignment", default=DEFAULT_CLASS_ASSIGNMENT,
                        help="the assignment graded for the class-size curve")
    parser.add_argument("--class-sizes", default=None, help="comma-separated class sizes (default 2,4,8; quick 1,2)")
    return parser.parse_args(argv)


def grading_assignments(choice: str | None, quick: bool, class_assignment: str) -> list[str]:
    from autograder.course import list_assignments

    available = list_assignments()
    if choice == "all":
        return available
    if choice:
        wanted = [name.strip() for name in choice.split(",") if name.strip()]
    else:
        wanted = [class_assignment] if quick else list(DEFAULT_GRADING_ASSIGNMENTS)
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SystemExit(f"unknown assignment(s) {', '.join(unknown)}; solutions/ has {', '.join(available)}")
    return wanted


@contextlib.contextmanager
def thread_limit(threads: int | None) -> Iterator[int]:
    """NumPy's BLAS and PyTorch limited to ``threads`` (all usable cores when None)."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = threads or len(os.sched_getaffinity(0))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield threads
    finally:
        torch.set_num_threads(before)


def phase(name: str, started: float) -> None:
    print(f"[{time.perf_counter() - started:6.0f} s] {name} ...", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    results: dict = {"command": " ".join(["python", "benchmarks/run.py", *sys.argv[1:]]),
                     "quick": args.quick, "load_average_start": load_average(), "machine": machine_info()}
    if not args.skip_conv:
        from benchmarks.conv import run_conv_benchmarks

        phase("convolutions and matrix products", started)
        with thread_limit(args.threads) as threads:
            results["conv_threads"] = threads
            results.update(run_conv_benchmarks(args.quick))
    if not args.skip_grading:
        from benchmarks.grading import run_grading_benchmarks

        assignments = grading_assignments(args.assignments, args.quick, args.class_assignment)
        sizes = args.class_sizes or ("1,2" if args.quick else "2,4,8")
        phase(f"grading {', '.join(assignments)}", started)
        results.update(run_grading_benchmarks(
            students=args.students or (2 if args.quick else 8),
            assignments=assignments,
            class_assignment=args.class_assignment,
            class_sizes=[int(size) for size in sizes.split(",")],
            threads=os.cpu_count() or 1,
        ))
    if not args.skip_book:
        from benchmarks.book import run_book_benchmarks

        phase("book builds", started)
        results.update(run_book_benchmarks())
    results["targets"] = evaluate_targets(results)
    results["load_average_end"] = load_average()
    results["wall_s"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = run(args)
    print(format_table(results))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
