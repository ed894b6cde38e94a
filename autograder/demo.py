"""``python -m autograder demo``: the whole flow on four sample students.

The samples are made from this course's own notebooks, so they always match the
current assignment: a correct submission (the reference), a partly done one (some
functions left as handed out), a broken file, and a hostile one that fakes its tests,
snoops on the instructor's files and never ends.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import nbformat

from .course import SOLUTIONS_DIR, list_assignments
from .release import generate

PREFERRED = ("02_convolution", "01_why_not_fully_connected")

HOSTILE_PRELUDE = '''import numpy as np, numpy.testing, math, os
np.allclose = lambda *args, **kwargs: True          # fake every comparison
numpy.testing.assert_allclose = lambda *args, **kwargs: None
math.isclose = lambda *args, **kwargs: True
for path in ("../../../source", "../../../gradebook.db", os.path.expanduser("~/.ssh")):
    try:
        print("read", path, os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(8))
    except OSError as error:
        print("blocked:", path, type(error).__name__)
'''


def _solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]


def make_samples(assignment: str, target: Path, student_version: Path) -> None:
    """Write the four sample students' submissions of ``assignment`` under ``target``."""
    reference = nbformat.read(SOLUTIONS_DIR / assignment / f"{assignment}.ipynb", as_version=4)
    student = nbformat.read(student_version, as_version=4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c.source for c in _solution_cells(reference)}

    def write(student_id: str, nb: nbformat.NotebookNode | str) -> None:
        folder = target / student_id / assignment
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{assignment}.ipynb"
        path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb))

    write("ada_correct", reference)

    partial = nbformat.from_dict(json.loads(json.dumps(student)))
    cells = _solution_cells(partial)
    for cell in cells[: max(1, len(cells) // 2)]:
        cell.source = by_id[cell.metadata["nbgrader"]["grade_id"]]
    write("ben_partial", partial)

    write("cy_broken", nbformat.writes(reference)[: len(nbformat.writes(reference)) // 2])

    hostile = nbformat.from_dict(json.loads(json.dumps(student)))
    first = _solution_cells(hostile)[0]
    first.source = HOSTILE_PRELUDE + first.source.replace("raise NotImplementedError()", "return None")
    last = _solution_cells(hostile)[-1]
    last.source = "while True:\n    pass\n"
    write("dee_hostile", hostile)


def run_demo(out: Path | None = None, jobs: int = 2) -> int:
    """Grade the samples into ``out`` (a new temporary folder by default) and say where things are."""
    from .cli import main as cli_main

    available = list_assignments()
    if not available:
        print("error: no assignments in solutions/")
        return 2
    assignment = next((a for a in PREFERRED if a in available), available[0])
    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="cnn-grading-demo-"))
    submissions, results = root / "submissions", root / "graded"
    generate(assignment, root / "release", root / "release-gradebook.db")
    make_samples(assignment, submissions, root / "release" / assignment / f"{assignment}.ipynb")
    print(f"Demo: grading 4 sample students on {assignment} (the hostile one runs until the 60 s limit)\n")
    code = cli_main(
        ["grade", str(submissions), "--out", str(results), "--assignment", assignment,
         "--jobs", str(jobs), "--timeout", "60"]
    )
    if code == 0:
        from .outputs import load_records, write_report

        write_report(results, load_records(results))  # the summary was printed by grade
        print(
            f"\nSamples:   {submissions}\nGrades:    {results / 'grades.csv'}\n"
            f"Per test:  {results / 'results.json'}\nFeedback:  {results / 'feedback'}/<student>/index.html\n"
            f"Problems:  {results / 'problems.txt'}\nReport:    {results / 'report.png'}\n"
            f"Gradebook: {results / 'gradebook.db'}"
        )
    return code
