"""``python -m autograder``: release, grade, feedback, export, report and demo."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import outputs
from .course import SOLUTIONS_DIR

DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY_GB = 4.0


def _cmd_release(args: argparse.Namespace) -> int:
    from .course import EXERCISES_DIR
    from .release import release_all

    target = Path(args.out) if args.out else EXERCISES_DIR
    for folder in release_all(target, assignments=args.assignment or None):
        print(f"generated {folder}")
    return 0


def _write_everything(out: Path, records: list[dict], problems: list[str], templates: dict, db_url: str | None) -> None:
    outputs.write_grades_csv(out, records)
    outputs.write_results_json(out, records)
    outputs.write_feedback(out, records)
    outputs.write_problems(out, records, problems)
    outputs.write_gradebook(out, records, templates, db_url)


def _cmd_grade(args: argparse.Namespace) -> int:
    from .batch import GradeOptions, SandboxUnavailable, build_templates, grade_all
    from .submissions import SubmissionError

    options = GradeOptions(
        out=Path(args.out),
        assignments=args.assignment or None,
        jobs=args.jobs,
        timeout_s=args.timeout,
        memory_gb=args.memory,
        db_url=args.db,
        sandbox=not args.unsafe_no_sandbox,
        quiet=args.quiet,
        solutions_dir=Path(args.solutions) if args.solutions else SOLUTIONS_DIR,
    )
    submissions = Path(args.submissions).resolve()
    out = options.out.resolve()
    if out == submissions or submissions in out.parents:
        print("error: --out must be outside SUBMISSIONS (submissions are never written to)", file=sys.stderr)
        return 2
    try:
        records, problems = grade_all(submissions, options)
    except (SubmissionError, ValueError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    assignments = sorted({r["assignment"] for r in records})
    templates = build_templates(options, assignments)
    _write_everything(options.out, records, problems, templates, args.db)
    print(outputs.format_summary(records))
    for line in problems:
        print(f"note: {line}")
    print(f"\ngrades: {options.out / 'grades.csv'}\nresults: {options.out / 'results.json'}")
    print(f"feedback: {options.out / 'feedback'}\nproblems: {options.out / 'problems.txt'}")
    return 0


def _records_or_fail(out: Path) -> list[dict] | None:
    records = outputs.load_records(out)
    if not records:
        print(f"error: no graded results under {out}/units: run 'grade' first", file=sys.stderr)
        return None
    return records


def _cmd_feedback(args: argparse.Namespace) -> int:
    records = _records_or_fail(Path(args.out))
    if records is None:
        return 2
    print(f"feedback: {outputs.write_feedback(Path(args.out), records)}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    records = _records_or_fail(Path(args.out))
    if records is None:
        return 2
    print(f"grades: {outputs.write_grades_csv(Path(args.out), records)}")
    print(f"results: {outputs.write_results_json(Path(args.out), records)}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    records = _records_or_fail(Path(args.out))
    if records is None:
        return 2
    print(outputs.format_summary(records))
    print(f"report: {outputs.write_report(Path(args.out), records)}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(Path(args.out) if args.out else None, jobs=args.jobs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Grade the course's nbgrader assignments: from submissions to grades, feedback and plots.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    release = sub.add_parser("release", help="regenerate every student version in exercises/ from solutions/")
    release.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    release.add_argument("--out", help="release folder (default: exercises/)")
    release.set_defaults(func=_cmd_release)

    grade = sub.add_parser(
        "grade",
        help="grade every submission with nbgrader in a sandbox",
        description=(
            "SUBMISSIONS is a folder <student_id>/<assignment>/<notebook>.ipynb, a folder of per-student "
            ".zip files, or one .zip of either. Writes grades.csv, results.json, feedback/, problems.txt "
            "and the gradebook into OUT. Re-running resumes: units whose inputs did not change are not "
            "graded again. Submissions are only read."
        ),
    )
    grade.add_argument("submissions", help="folder or .zip of submissions")
    grade.add_argument("--out", required=True, help="output folder (created; must be outside SUBMISSIONS)")
    grade.add_argument("--assignment", action="append", help="only this assignment (repeatable)")
    grade.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel (default 1)")
    grade.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT_S, help="wall-time limit per notebook, seconds")
    grade.add_argument("--memory", type=float, default=DEFAULT_MEMORY_GB, help="memory limit per notebook, GiB")
    grade.add_argument("--db", help="SQLAlchemy URL of the gradebook (default: sqlite file OUT/gradebook.db)")
    grade.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run student code WITHOUT the sandbox: it can read and write whatever this user can (never for real grades)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument("--solutions", help="source notebooks folder (default: solutions/ of this course)")
    grade.set_defaults(func=_cmd_grade)

    for name, func, text in (
        ("feedback", _cmd_feedback, "write per-student feedback HTML from graded results in OUT"),
        ("export", _cmd_export, "write grades.csv and results.json from graded results in OUT"),
        ("report", _cmd_report, "print the summary and plot OUT/report.png (scores per assignment and test cell)"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("out", help="the OUT folder of a 'grade' run")
        command.set_defaults(func=func)

    demo = sub.add_parser("demo", help="grade bundled sample submissions (correct, partly wrong, broken, hostile)")
    demo.add_argument("--out", help="output folder (default: a new temporary folder)")
    demo.add_argument("--jobs", type=int, default=2)
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "jobs", 1) is not None and getattr(args, "jobs", 1) < 1:
        parser.error("--jobs must be at least 1")
    if getattr(args, "timeout", 1) is not None and getattr(args, "timeout", 1) < 1:
        parser.error("--timeout must be at least 1 second")
    return args.func(args)
