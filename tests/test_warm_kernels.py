"""Kernels started before their unit (``autograder/spare.py``) change nothing but time.

A worker starts the next unit's kernel while the current one runs, with PyTorch already
imported. These tests grade, with one worker so that every unit after the first gets a
spare kernel, students who try to leave something behind for the next one, a student
who uses PyTorch without importing it, and check that no kernel or folder outlives the run.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from test_grader_hardening import FULL, GOOD_TOTAL, SCALE_POINTS, WRONG_SCALE, _student, _write

from conftest import FIXTURES, read_grades, run_grader

pytestmark = pytest.mark.slow

SPARE_NOTE = "the kernel was started before this unit"
PLANTED = Path(tempfile.gettempdir()) / "cnn-grader-planted"

# Left behind in every place a kernel could reach: modules (NumPy, PyTorch, builtins), the
# environment, the working folder, /tmp, and a process that outlives the cell.
PLANTER = (
    "import builtins, os, subprocess\nimport torch\n"
    "np._planted = torch._planted = builtins._planted = 1\n"
    "os.environ['CNN_PLANTED'] = '1'\n"
    "open('planted', 'w').write('x')\nopen('/tmp/planted', 'w').write('x')\n"
    f"open({str(PLANTED)!r}, 'w').write('x')\n"
    "subprocess.Popen(['sleep', '4244'], start_new_session=True)\n"
)
# A correct scale() unless something of an earlier student is found, then a wrong one.
CHECKER = (
    "import builtins, os, sys\n"
    "_found = [what for what, there in [\n"
    "    ('numpy', hasattr(np, '_planted')),\n"
    "    ('torch', hasattr(sys.modules.get('torch'), '_planted')),\n"
    "    ('builtins', hasattr(builtins, '_planted')),\n"
    "    ('environment', 'CNN_PLANTED' in os.environ),\n"
    "    ('working folder', os.path.exists('planted')),\n"
    "    ('/tmp', os.path.exists('/tmp/planted')),\n"
    f"    ('host /tmp', os.path.exists({str(PLANTED)!r})),\n"
    "]  if there]\n"
    "print('FOUND', _found)\n"
    "if _found:\n" + "".join("    " + line + "\n" for line in WRONG_SCALE.splitlines()) +
    "else:\n    def scale(x, factor):\n        return np.asarray(x, dtype=np.float64) * factor\n"
)
# The preloaded PyTorch must not be a name the student's code can use without importing it.
UNIMPORTED_TORCH = "def scale(x, factor):\n    return torch.as_tensor(np.asarray(x, dtype=np.float64)).numpy() * factor\n"


def _spare_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("cnnk-*")}


def _processes(pattern: str) -> str:
    return subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def warm_run(tmp_path_factory: pytest.TempPathFactory, toy_release: Path):
    student = nbformat.read(toy_release, as_version=4)
    subs = tmp_path_factory.mktemp("warm-submissions")
    out = tmp_path_factory.mktemp("warm-out")
    PLANTED.unlink(missing_ok=True)
    # one worker grades in name order: each checker runs right after a planter
    _write(subs, "s1-planter", _student(student, total=PLANTER + GOOD_TOTAL))
    _write(subs, "s2-checker", _student(student, scale=CHECKER))
    _write(subs, "s3-unimported", _student(student, scale=UNIMPORTED_TORCH))
    _write(subs, "s4-planter", _student(student, scale=PLANTER + WRONG_SCALE))
    _write(subs, "s5-checker", _student(student, scale=CHECKER))
    before = _spare_folders()
    result = run_grader(
        "grade", str(subs), "--out", str(out), "--solutions", str(FIXTURES / "solutions"),
        "--jobs", "1", "--timeout", "120", "--quiet",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    yield {"out": out, "left": _spare_folders() - before}
    PLANTED.unlink(missing_ok=True)


def _log(run: dict, student: str) -> str:
    return (run["out"] / "logs" / "toy" / f"{student}.log").read_text(errors="replace")


def test_units_after_the_first_use_a_spare_kernel(warm_run):
    for student in ("s2-checker", "s3-unimported", "s4-planter", "s5-checker"):
        assert SPARE_NOTE in _log(warm_run, student), student


@pytest.mark.parametrize("student", ["s2-checker", "s5-checker"])
def test_nothing_of_the_previous_student_reaches_the_next(warm_run, student):
    grades = read_grades(warm_run["out"])
    assert grades[("s1-planter", "toy")][0] == FULL  # the planting ran
    assert grades[(student, "toy")][0] == FULL, (warm_run["out"] / "units" / "toy" / student / "toy.ipynb").read_text()


def test_preloaded_pytorch_is_no_name_in_the_students_namespace(warm_run):
    grades = read_grades(warm_run["out"])
    assert grades[("s3-unimported", "toy")][0] == FULL - SCALE_POINTS
    nb = nbformat.read(warm_run["out"] / "units" / "toy" / "s3-unimported" / "toy.ipynb", as_version=4)
    errors = [o.get("evalue", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert any("name 'torch' is not defined" in e for e in errors), errors


def test_no_kernel_or_folder_outlives_the_run(warm_run):
    assert warm_run["left"] == set()
    assert _processes("sleep 4244") == ""
    logs = "".join(p.read_text(errors="replace") for p in (warm_run["out"] / "logs").rglob("*.log"))
    kernels = set(re.findall(r"cnnk-[A-Za-z0-9_]+", logs))  # ipykernel prints its connection file
    assert len(kernels) >= 5
    assert {k: _processes(k) for k in kernels} == dict.fromkeys(kernels, "")
