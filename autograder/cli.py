"""``python -m autograder``: release, grade, override, feedback, export, report and demo."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from . import outputs
from .course import SOLUTIONS_DIR
from .io import write_json_atomic
from .submissions import LAYOUT_HELP

DEFAULT_TIMEOUT_S = 300
DEFAULT_MEMORY_GB = 4.0


def _cmd_release(args: argparse.Namespace) -> int:
    from .course import EXERCISES_DIR
    from .release import release_all

    target = Path(args.out) if args.out else EXERCISES_DIR
    for folder in release_all(target, assignments=args.assignment or None):
        print(f"generated {folder}")
    return 0


def known_templates(out: Path, options_solutions: Path, assignments: list[str]) -> dict[str, Path]:
    """Each graded assignment's template gradebook: rebuilt from the solutions when they are
    there, else the one an earlier run left in ``OUT/.templates``."""
    from .batch import GradeOptions, build_templates
    from .course import list_assignments

    available = set(list_assignments(options_solutions))
    templates = build_templates(GradeOptions(out=out, solutions_dir=options_solutions), [a for a in assignments if a in available])
    for assignment in assignments:
        cached = out / ".templates" / assignment / "gradebook.db"
        if assignment not in templates and cached.is_file():
            templates[assignment] = cached
    return templates


def write_outputs(
    out: Path,
    problems: list[str],
    db_url: str | None,
    solutions: Path = SOLUTIONS_DIR,
    due: dict | None = None,
    overrides: dict | None = None,
) -> list[dict]:
    """Every output of ``OUT`` from all the units graded there so far (earlier runs included),
    with manual scores applied (``overrides``, default: those of ``OUT`` and its gradebook);
    returns the records as written."""
    from .manual import apply_overrides, merged_overrides, save_overrides

    records = outputs.load_records(out)
    if due is None:  # the due dates the last grading run used
        due = {a: datetime.fromisoformat(d) for a, d in _read_json(out / "due_dates.json").items()}
    else:
        write_json_atomic(out / "due_dates.json", {a: d.isoformat() for a, d in due.items()})
    if overrides is None:
        overrides = merged_overrides(out, db_url)
    if overrides:
        save_overrides(out, overrides)
    shown = apply_overrides(records, overrides)
    templates = known_templates(out, solutions, sorted({r["assignment"] for r in records}))
    outputs.write_grades_csv(out, shown)
    outputs.write_results_json(out, shown)
    outputs.write_feedback(out, shown)
    outputs.write_problems(out, records, problems)
    db = outputs.write_gradebook(out, records, templates, db_url, overrides, due)
    outputs.write_formgrader_files(out, records, db)
    return shown


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def _cmd_grade(args: argparse.Namespace) -> int:
    from .batch import GradeOptions, SandboxUnavailable, grade_all
    from .course import list_assignments
    from .policy import PolicyError, load_policy
    from .submissions import SubmissionError

    solutions = Path(args.solutions) if args.solutions else SOLUTIONS_DIR
    try:
        policy = load_policy(Path(args.course_config) if args.course_config else None, list_assignments(solutions))
    except PolicyError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    options = GradeOptions(
        out=Path(args.out),
        assignments=args.assignment or None,
        jobs=args.jobs,
        timeout_s=args.timeout,
        memory_gb=args.memory,
        db_url=args.db,
        sandbox=not args.unsafe_no_sandbox,
        quiet=args.quiet,
        solutions_dir=solutions,
        students=args.student or None,
        force=args.force,
        policy=policy,
        executor=args.executor,
        scheduler=args.scheduler,
    )
    if args.executor == "dask" and not args.scheduler:
        print("error: --executor dask needs --scheduler tcp://HOST:PORT", file=sys.stderr)
        return 2
    submissions = Path(args.submissions).resolve()
    out = options.out.resolve()
    if out == submissions or submissions in out.parents:
        print("error: --out must be outside INPUT (submissions are never written to)", file=sys.stderr)
        return 2
    try:
        run = grade_all(submissions, options, announce=print)
    except (SubmissionError, ValueError, SandboxUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    due = {a: policy.due_utc(a) for a in policy.due}
    records = write_outputs(options.out, run.problems, args.db, options.solutions_dir, due)
    graded = len(run.records) - run.skipped
    print(f"graded {graded} unit(s) (student × assignment) in this run", end="")
    print(f"; skipped {run.skipped} already graded with unchanged inputs (--force regrades them)" if run.skipped else "")
    print()
    print(outputs.format_summary(records))
    for line in run.problems:
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


def _shown_records(out: Path, db_url: str | None = None) -> list[dict]:
    from .manual import apply_overrides, merged_overrides

    return apply_overrides(outputs.load_records(out), merged_overrides(out, db_url))


def _cmd_feedback(args: argparse.Namespace) -> int:
    if _records_or_fail(Path(args.out)) is None:
        return 2
    print(f"feedback: {outputs.write_feedback(Path(args.out), _shown_records(Path(args.out)))}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .lms import RosterError, export

    out = Path(args.out)
    if _records_or_fail(out) is None:
        return 2
    records = _shown_records(out, args.db)
    if args.format == "nbgrader":
        print(f"grades: {outputs.write_grades_csv(out, records)}")
        print(f"results: {outputs.write_results_json(out, records)}")
        return 0
    try:
        written = export(out, records, args.format, Path(args.roster) if args.roster else None)
    except RosterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.format} gradebook: {written[0]}")
    for path in written[1:]:
        print(f"feedback for bulk upload: {path}")
    return 0


def _cmd_override(args: argparse.Namespace) -> int:
    from .manual import grade_ids, merged_overrides

    out = Path(args.out)
    records = _records_or_fail(out)
    if records is None:
        return 2
    if not any(r["student_id"] == args.student and r["assignment"] == args.assignment for r in records):
        print(f"error: no graded result for student {args.student!r} in {args.assignment!r} under {out}", file=sys.stderr)
        return 2
    cells = grade_ids(records, args.assignment)
    if args.grade_id not in cells:
        print(f"error: {args.assignment} has no test cell {args.grade_id!r}; it has: {', '.join(cells)}", file=sys.stderr)
        return 2
    if not 0 <= args.score <= cells[args.grade_id]:
        print(f"error: score must be between 0 and {cells[args.grade_id]:g} for {args.grade_id}", file=sys.stderr)
        return 2
    overrides = merged_overrides(out, args.db)
    overrides[(args.student, args.assignment, args.grade_id)] = {"score": args.score, "comment": args.comment}
    # the new score wins over the one the gradebook still holds: it is written there next
    write_outputs(out, _read_problems(out), args.db, overrides=overrides)
    print(f"{args.student}/{args.assignment}/{args.grade_id}: manual score {args.score:g} kept in {out / 'overrides.json'}")
    return 0


def _read_problems(out: Path) -> list[str]:
    """The run-level lines of problems.txt (unit lines are rebuilt from the results)."""
    path = out / "problems.txt"
    if not path.is_file():
        return []
    records = outputs.load_records(out)
    prefixes = tuple(f"{r['student_id']}/{r['assignment']}" for r in records)
    return [line for line in path.read_text().splitlines() if line and not line.startswith(prefixes)]


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
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Grade INPUT into OUT: grades.csv, results.json, feedback/, problems.txt, the gradebook and\n"
            "an nbgrader_config.py for formgrader. A run adds to OUT: students graded before are kept,\n"
            "units whose inputs did not change are not graded again, and manual scores (formgrader or\n"
            "'override') survive. Only the assignments found in INPUT are graded unless --assignment\n"
            "names more. Submissions are only read.\n\n" + LAYOUT_HELP
        ),
    )
    grade.add_argument("submissions", metavar="INPUT", help="folder or .zip of submissions")
    grade.add_argument("--out", required=True, help="output folder (created; must be outside INPUT)")
    grade.add_argument(
        "--assignment", action="append", help="grade this assignment (repeatable; default: those found in INPUT)"
    )
    grade.add_argument("--student", action="append", help="grade only this student id (repeatable)")
    grade.add_argument("--force", action="store_true", help="regrade units whose inputs did not change")
    grade.add_argument("--jobs", type=int, default=1, help="notebooks graded in parallel (default: 1)")
    grade.add_argument(
        "--executor", choices=("local", "dask"), default="local",
        help="local: --jobs worker processes on this machine (default); dask: every unit is a task on the "
        "Dask cluster at --scheduler (see autograder/README.md, 'Grading on a cluster')",
    )
    grade.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    grade.add_argument(
        "--timeout", type=int, default=DEFAULT_TIMEOUT_S,
        help=f"wall-time limit per notebook, seconds (default: {DEFAULT_TIMEOUT_S})",
    )
    grade.add_argument(
        "--memory", type=float, default=DEFAULT_MEMORY_GB,
        help=f"memory limit per notebook, GiB (default: {DEFAULT_MEMORY_GB:g})",
    )
    grade.add_argument("--db", help="SQLAlchemy URL of the gradebook (default: sqlite file OUT/gradebook.db)")
    grade.add_argument(
        "--unsafe-no-sandbox",
        action="store_true",
        help="run student code WITHOUT the sandbox: it can read and write whatever this user can (never for real grades)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument("--solutions", help="source notebooks folder (default: solutions/ of this course)")
    grade.add_argument(
        "--course-config", help="due dates and the late rule, TOML (default: course.toml of this course)"
    )
    grade.set_defaults(func=_cmd_grade)

    for name, func, text in (
        ("feedback", _cmd_feedback, "write per-student feedback HTML from graded results in OUT"),
        ("report", _cmd_report, "print the summary and plot OUT/report.png (scores per assignment and test cell)"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("out", help="the OUT folder of a 'grade' run")
        command.set_defaults(func=func)

    export = sub.add_parser(
        "export",
        help="write grades for an LMS (canvas, moodle) or rewrite grades.csv and results.json",
        description=(
            "--format nbgrader rewrites OUT/grades.csv and OUT/results.json. --format canvas or moodle "
            "writes OUT/lms/<format>/grades.csv in that LMS's gradebook-import layout (one row per "
            "student, one column per assignment, totals) and feedback_<assignment>.zip files named for "
            "its bulk feedback upload. Manual scores are included."
        ),
    )
    export.add_argument("out", help="the OUT folder of a 'grade' run")
    export.add_argument("--format", choices=("nbgrader", "canvas", "moodle"), default="nbgrader",
                        help="what to write (default: nbgrader)")
    export.add_argument("--roster", help="CSV with student_id and any of name, sortable_name, email, "
                        "sis_user_id, login_id, id_number, section (default: what the export showed)")
    export.add_argument("--db", help="gradebook URL used by 'grade --db' (default: OUT/gradebook.db)")
    export.set_defaults(func=_cmd_export)

    override = sub.add_parser(
        "override",
        help="set a manual score (and comment) for one test cell of one student",
        description="The score replaces the autograder's in grades.csv, results.json, feedback, exports and "
        "the gradebook (manual_score), and survives later grading runs.",
    )
    override.add_argument("student", help="student id")
    override.add_argument("assignment", help="assignment name, e.g. 02_convolution")
    override.add_argument("grade_id", help="test cell, e.g. test_conv2d_forward__hidden")
    override.add_argument("score", type=float, help="points, between 0 and the cell's maximum")
    override.add_argument("--out", required=True, help="the OUT folder of a 'grade' run")
    override.add_argument("--comment", default="", help="a comment shown to the student in feedback")
    override.add_argument("--db", help="gradebook URL used by 'grade --db' (default: OUT/gradebook.db)")
    override.set_defaults(func=_cmd_override)

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
