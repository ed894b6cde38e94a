"""The grader survives broken, hostile and endless notebooks (issue 7).

One grading run over many crafted submissions of a tiny fixture assignment; each test
then checks one case. Every case goes through the real path: ``python -m autograder
grade`` with nbgrader, the sandbox and the limits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest
from test_trusted_boundary import LITERAL_KERNEL

from conftest import FIXTURES, autograded_notebook, read_grades, read_results, run_grader

pytestmark = pytest.mark.slow

FULL = 5.0  # points of the toy assignment
SCALE_POINTS = 3.0  # the two test cells of scale()
TIMEOUT_S = 40  # the memory bomb touches 2 GiB before the cgroup kills it: seconds on a slow VM
ESCAPE_MARK = Path("/tmp/cnn-grader-escape-marker")

GOOD_SCALE = (
    "def scale(x, factor):\n    return np.asarray(x, dtype=np.float64) * factor\n"
)
GOOD_TOTAL = "def total(x):\n    return float(np.sum(x))\n"
WRONG_SCALE = "def scale(x, factor):\n    return np.zeros(np.shape(x))\n"


def _set_solution(nb: nbformat.NotebookNode, grade_id: str, source: str) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return
    raise KeyError(grade_id)


def _student(student: nbformat.NotebookNode, scale: str = GOOD_SCALE, total: str = GOOD_TOTAL) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    _set_solution(nb, "scale", scale)
    _set_solution(nb, "total", total)
    return nb


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _write(root: Path, student_id: str, nb: nbformat.NotebookNode | str, name: str = "toy.ipynb") -> Path:
    folder = root / student_id / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(nb, str):
        path.write_text(nb)
    else:
        nbformat.write(nb, path)
    return path


def _hostile_reader(targets: dict[str, str], port: int) -> str:
    """A correct total() that first tries to read, write and connect where it must not."""
    return (
        "import os, socket\n"
        f"for _label, _path in {targets!r}.items():\n"
        "    try:\n"
        "        open(_path, 'rb').read(10)\n"
        "        print('LEAK', _label)\n"
        "    except OSError:\n"
        "        print('BLOCKED', _label)\n"
        "try:\n"
        f"    open({str(ESCAPE_MARK)!r}, 'w').write('escaped')\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        "    print('LEAK network')\n"
        "except OSError:\n"
        "    print('BLOCKED network')\n"
        + GOOD_TOTAL
    )


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, toy_release: Path):
    student = nbformat.read(toy_release, as_version=4)
    reference = nbformat.read(FIXTURES / "solutions" / "toy" / "toy.ipynb", as_version=4)
    subs = tmp_path_factory.mktemp("hostile-submissions")
    out = tmp_path_factory.mktemp("hostile-out")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    ESCAPE_MARK.unlink(missing_ok=True)

    _write(subs, "reference", reference)
    _write(subs, "untouched", student)
    _write(subs, "loop", _student(student, total="while True:\n    pass\n" + GOOD_TOTAL))
    _write(subs, "sleeper", _student(student, total="import time\ntime.sleep(10**6)\n" + GOOD_TOTAL))
    _write(subs, "membomb", _student(student, total="_big = np.ones(12 * 1024**3 // 8)\n" + GOOD_TOTAL))
    _write(subs, "osexit", _student(student, total="import os\nos._exit(3)\n" + GOOD_TOTAL))
    _write(subs, "sysexit", _student(student, total="import sys\nsys.exit(0)\n" + GOOD_TOTAL))
    _write(subs, "segfault", _student(student, total="import ctypes\nctypes.string_at(0)\n" + GOOD_TOTAL))
    _write(
        subs,
        "flood",
        _student(student, total="import sys\nfor _ in range(300):\n    sys.stdout.write('x' * 10**6)\n" + GOOD_TOTAL),
    )
    _write(
        subs,
        "daemon",
        _student(
            student,
            total=(
                "import subprocess\nsubprocess.Popen(['sleep', '4242'], start_new_session=True)\n"
                "subprocess.Popen(['sh', '-c', 'sleep 4243 &'])\n" + GOOD_TOTAL
            ),
        ),
    )
    targets = {
        "solutions": str(FIXTURES / "solutions" / "toy" / "toy.ipynb"),
        "gradebook": str(out / ".templates" / "toy" / "gradebook.db"),
        "other-submission": str(subs / "reference" / "toy" / "toy.ipynb"),
        "instructor-home": str(Path.home() / ".bashrc"),
    }
    _write(subs, "snoop", _student(student, total=_hostile_reader(targets, port)))

    # Faked passes: wrong answers plus patched comparison functions, rigged objects,
    # and a displayed number that nbgrader would read as partial credit.
    _write(
        subs,
        "patcher",
        _student(
            student,
            scale=(
                "import math, numpy.testing\n"
                "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
                "numpy.testing.assert_allclose = lambda *a, **k: None\n"
                "numpy.testing.assert_array_equal = lambda *a, **k: None\n"
                "math.isclose = lambda *a, **k: True\n"
                "def scale(x, factor):\n    return np.zeros(np.shape(x))\n"
            ),
            total="def total(x):\n    return -1.0\n",
        ),
    )
    _write(
        subs,
        "rigged",
        _student(
            student,
            scale=(
                "class _Always(np.ndarray):\n"
                "    def __eq__(self, other): return True\n"
                "    def __ne__(self, other): return False\n"
                "def scale(x, factor):\n    return np.zeros(np.shape(x)).view(_Always)\n"
            ),
            total=(
                "class _Yes(float):\n    def __eq__(self, other): return True\n    __hash__ = float.__hash__\n"
                "def total(x):\n    return _Yes(-1.0)\n"
            ),
        ),
    )
    _write(
        subs,
        "displayer",
        _student(
            student,
            scale="import sys\ndef scale(x, factor):\n    sys.displayhook(1000)\n    return np.zeros(np.shape(x))\n",
            total="import sys\ndef total(x):\n    sys.displayhook(1000)\n    return -1.0\n",
        ),
    )

    # The kernel's machinery turned against the tests (the toy assignment has no library
    # rules, so nothing stops this code before it runs: only the boundary protects the tests).
    _write(subs, "hooker", _student(student, scale=LITERAL_KERNEL + WRONG_SCALE, total="def total(x):\n    return -1.0\n"))
    _write(
        subs,
        "transformer",
        _student(
            student,
            scale="get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n" + WRONG_SCALE,
            total="def total(x):\n    return -1.0\n",
        ),
    )

    # Tampering with test cells.
    deleted = _student(student, scale="def scale(x, factor):\n    return np.zeros(np.shape(x))\n")
    deleted.cells = [c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_scale__hidden"]
    _write(subs, "deleter", deleted)
    edited = _student(student, scale="def scale(x, factor):\n    return np.zeros(np.shape(x))\n")
    _cell(edited, "test_scale__visible").source = "assert True"
    _cell(edited, "test_scale__hidden").source = ""
    _cell(edited, "test_total__all").metadata["nbgrader"]["points"] = 100
    _write(subs, "editor", edited)
    reordered = _student(student)
    reordered.cells = list(reversed(reordered.cells))
    _write(subs, "reorderer", reordered)
    relabelled = _student(student, scale="def scale(x, factor):\n    return np.zeros(np.shape(x))\n")
    _cell(relabelled, "test_scale__visible").metadata["nbgrader"] = {}
    _write(subs, "relabeller", relabelled)

    # Bad files.
    _write(subs, "badjson", '{"cells": [ this is not json')
    old = nbformat.convert(_student(student), 3)
    _write(subs, "nbformat3", nbformat.writes(old, version=3))
    (subs / "missing" / "toy").mkdir(parents=True)
    _write(subs, "renamed", _student(student), name="toy-final.ipynb")
    extra = _write(subs, "extras", _student(student))
    (extra.parent / "notes.txt").write_text("my notes")
    (extra.parent / "data.npy").write_bytes(b"\x93NUMPY")
    before = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}

    result = run_grader(
        "grade", str(subs), "--out", str(out), "--solutions", str(FIXTURES / "solutions"),
        "--jobs", "2", "--timeout", str(TIMEOUT_S), "--memory", "2", "--quiet",
    )
    listener.close()
    assert result.returncode == 0, result.stdout + result.stderr
    after = {p: p.read_bytes() for p in subs.rglob("*") if p.is_file()}
    return {"out": out, "subs": subs, "result": result, "before": before, "after": after}


def _score(run: dict, student: str) -> float:
    return read_grades(run["out"])[(student, "toy")][0]


def _problems(run: dict, student: str) -> str:
    lines = (run["out"] / "problems.txt").read_text().splitlines()
    return "\n".join(line for line in lines if line.startswith(f"{student}/"))


def test_reference_full_marks_untouched_zero(hostile_run):
    assert _score(hostile_run, "reference") == FULL
    assert _score(hostile_run, "untouched") == 0.0


@pytest.mark.parametrize("student", ["loop", "sleeper"])
def test_endless_code_loses_only_the_cells_that_could_not_run(hostile_run, student):
    assert _score(hostile_run, student) == SCALE_POINTS
    assert "time limit" in _problems(hostile_run, student)


def test_memory_bomb_is_stopped(hostile_run):
    """One cgroup limit for the kernel: the bomb is killed (or refused) and the instructor told."""
    assert _score(hostile_run, "membomb") == SCALE_POINTS
    nb = autograded_notebook(hostile_run["out"], "toy", "membomb", "toy")
    errors = [o.get("ename") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert "MemoryError" in errors or "KernelDied" in errors, errors
    assert "memory limit" in _problems(hostile_run, "membomb")


@pytest.mark.parametrize("student", ["osexit", "segfault"])
def test_dead_kernel_keeps_the_grades_of_earlier_cells(hostile_run, student):
    assert _score(hostile_run, student) == SCALE_POINTS
    assert "kernel died" in _problems(hostile_run, student)


def test_sys_exit_fails_only_its_cell(hostile_run):
    assert _score(hostile_run, "sysexit") == SCALE_POINTS


def test_huge_output_is_truncated_and_graded(hostile_run):
    assert _score(hostile_run, "flood") == FULL
    nb_path = hostile_run["out"] / "units" / "toy" / "flood" / "toy.ipynb"
    assert nb_path.stat().st_size < 5 * 1024**2


def test_background_processes_are_ended(hostile_run):
    leftovers = subprocess.run(["pgrep", "-f", "sleep 424[23]"], capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
    assert _score(hostile_run, "daemon") == FULL


def test_student_code_cannot_read_write_or_connect_outside(hostile_run):
    nb = autograded_notebook(hostile_run["out"], "toy", "snoop", "toy")
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "LEAK" not in text, text
    assert text.count("BLOCKED") == 5
    assert not ESCAPE_MARK.exists()
    assert _score(hostile_run, "snoop") == FULL


@pytest.mark.parametrize("student", ["patcher", "rigged", "displayer", "hooker", "transformer"])
def test_faked_passes_gain_nothing(hostile_run, student):
    assert _score(hostile_run, student) == 0.0


@pytest.mark.parametrize(
    ("student", "flag"),
    [
        ("deleter", "deleted"),
        ("editor", "edited"),
        ("editor", "points or lock changed"),
        ("reorderer", "reordered"),
        ("relabeller", "deleted or lost its metadata"),
    ],
)
def test_tampering_is_flagged(hostile_run, student, flag):
    assert flag in _problems(hostile_run, student)


@pytest.mark.parametrize("student", ["deleter", "editor", "relabeller"])
def test_tampered_tests_are_restored_and_still_fail_wrong_code(hostile_run, student):
    rows = [r for r in read_results(hostile_run["out"]) if r["student_id"] == student]
    scale_rows = [r for r in rows if r["grade_id"].startswith("test_scale__")]
    assert {r["grade_id"] for r in scale_rows} == {"test_scale__visible", "test_scale__hidden"}
    assert all(r["score"] == 0 for r in scale_rows)
    assert max(r["max_score"] for r in rows) <= 2


def test_reordered_cells_still_grade(hostile_run):
    # Reversed cells define nothing before the tests run: restored tests fail, no crash.
    assert (("reorderer", "toy") in read_grades(hostile_run["out"]))


@pytest.mark.parametrize(
    ("student", "message"),
    [("badjson", "not valid JSON"), ("missing", "not submitted")],
)
def test_bad_files_get_a_clear_line_and_zero(hostile_run, student, message):
    assert _score(hostile_run, student) == 0.0
    assert message in _problems(hostile_run, student)


def test_renamed_notebook_is_graded_and_named_in_the_report(hostile_run):
    """The student's only notebook for the assignment, under another name: graded, with a note."""
    assert _score(hostile_run, "renamed") == FULL
    assert "found toy-final.ipynb, graded as toy.ipynb" in _problems(hostile_run, "renamed")


def test_nbformat3_is_converted_and_graded(hostile_run):
    assert _score(hostile_run, "nbformat3") == FULL


def test_extra_files_are_ignored(hostile_run):
    assert _score(hostile_run, "extras") == FULL


def test_submissions_are_never_modified(hostile_run):
    assert hostile_run["before"] == hostile_run["after"]


def test_feedback_never_shows_hidden_test_code(hostile_run):
    for page in (hostile_run["out"] / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text
        assert "_rng = np.random.default_rng(0)" not in text


def test_zip_that_climbs_out_is_refused(tmp_path, toy_release):
    student = nbformat.read(toy_release, as_version=4)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice/toy/toy.ipynb", nbformat.writes(_student(student)))
        zf.writestr("../../evil.txt", "escaped")
        zf.writestr("bob/toy/../../../evil2.txt", "escaped")
    out = tmp_path / "out"
    result = run_grader(
        "grade", str(archive), "--out", str(out), "--solutions", str(FIXTURES / "solutions"), "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert read_grades(out)[("alice", "toy")] == (FULL, FULL)
    assert not list(tmp_path.rglob("evil*.txt"))
    assert "refused" in result.stdout


def test_per_student_zips(tmp_path, toy_release):
    student = nbformat.read(toy_release, as_version=4)
    folder = tmp_path / "zips"
    folder.mkdir()
    with zipfile.ZipFile(folder / "carol.zip", "w") as zf:
        zf.writestr("toy/toy.ipynb", nbformat.writes(_student(student)))
    with zipfile.ZipFile(folder / "dan.zip", "w") as zf:
        zf.writestr("dan/toy/toy.ipynb", nbformat.writes(student))
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    out = tmp_path / "out"
    result = run_grader("grade", str(folder), "--out", str(out), "--solutions", str(FIXTURES / "solutions"), "--quiet")
    assert result.returncode == 0, result.stderr
    grades = read_grades(out)
    assert grades[("carol", "toy")] == (FULL, FULL)
    assert grades[("dan", "toy")] == (0.0, FULL)
    assert "broken.zip" in result.stdout


def test_bad_arguments_give_a_clear_error(tmp_path):
    result = run_grader("grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "subs").mkdir()
    result = run_grader("grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--assignment", "nope")
    assert result.returncode == 2 and "unknown assignment" in result.stderr
    assert os.path.exists(tmp_path)
