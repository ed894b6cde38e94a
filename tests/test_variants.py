"""Hidden tests are strong: proven through the real grading path.

One run of ``python -m autograder grade`` over a class made of:
- ``reference``: the source notebooks themselves (every test cell must pass);
- ``untouched``: the student versions as handed out (every test cell must fail);
- ``v-<variant>``: a correct implementation from ``tests/variants/<A>.py`` (full marks);
- ``m-<k>``: the k-th classic mistake of every graded function at once (each mistaken
  function must lose points in its own test cells ``test_<name>__*``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, SOLUTIONS, assignments, read_grades, read_results, run_grader

pytestmark = pytest.mark.slow
VARIANTS_DIR = Path(__file__).resolve().parent / "variants"


def load_variants(assignment: str) -> tuple[dict, dict]:
    path = VARIANTS_DIR / f"{assignment}.py"
    if not path.exists():
        return {}, {}
    spec = importlib.util.spec_from_file_location(f"variants_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "CORRECT", {}), getattr(module, "MISTAKES", {})


def solution_sources(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """grade_id -> source of every solution cell."""
    return {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }


def fill(student: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the student version with the given solution-cell sources."""
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and grade_id in sources:
            cell.source = sources[grade_id]
    return nb


def mistake_rounds(mistakes: dict[str, dict[str, str]]) -> list[dict[str, tuple[str, str]]]:
    """Round k: {function: (mistake description, source)} for every function with a k-th mistake."""
    rounds = []
    depth = max((len(m) for m in mistakes.values()), default=0)
    for k in range(depth):
        rounds.append({name: list(m.items())[k] for name, m in mistakes.items() if len(m) > k})
    return rounds


@pytest.fixture(scope="session")
def class_run(tmp_path_factory: pytest.TempPathFactory, student_versions: Path) -> dict:
    subs = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("class-out")
    plan: dict[str, dict] = {}
    for assignment in assignments():
        source_nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
        student_nb = nbformat.read(student_versions / assignment / f"{assignment}.ipynb", as_version=4)
        reference = solution_sources(source_nb)
        correct, mistakes = load_variants(assignment)

        def put(student_id: str, nb: nbformat.NotebookNode, assignment: str = assignment) -> None:
            folder = subs / student_id / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / f"{assignment}.ipynb")

        put("reference", source_nb)
        put("untouched", student_nb)
        for variant, sources in correct.items():
            put(f"v-{variant}", fill(student_nb, {**reference, **sources}))
        rounds = mistake_rounds(mistakes)
        for k, round_ in enumerate(rounds):
            put(f"m-{k}", fill(student_nb, {**reference, **{n: src for n, (_, src) in round_.items()}}))
        plan[assignment] = {"correct": correct, "rounds": rounds, "max": None}
    result = run_grader("grade", str(subs), "--out", str(out), "--jobs", "2", "--quiet", "--timeout", "240")
    assert result.returncode == 0, result.stdout + result.stderr
    return {"out": out, "plan": plan, "grades": read_grades(out), "results": read_results(out)}


def _cells(run: dict, student: str, assignment: str) -> list[dict]:
    return [r for r in run["results"] if r["student_id"] == student and r["assignment"] == assignment]


@pytest.mark.parametrize("assignment", assignments())
def test_reference_solution_gets_full_marks(class_run, assignment):
    failing = [(r["grade_id"], r["error"]) for r in _cells(class_run, "reference", assignment) if r["error"]]
    assert not failing, failing
    score, max_score = class_run["grades"][("reference", assignment)]
    assert score == max_score > 0


@pytest.mark.parametrize("assignment", assignments())
def test_untouched_student_version_scores_zero(class_run, assignment):
    passing = [r["grade_id"] for r in _cells(class_run, "untouched", assignment) if r["score"] > 0]
    assert not passing, f"these test cells pass without any student code: {passing}"


@pytest.mark.parametrize("assignment", assignments())
def test_catalogue_is_complete(assignment):
    """At least two correct variants and five mistakes for every graded solution cell."""
    correct, mistakes = load_variants(assignment)
    source_nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    graded = set(solution_sources(source_nb))
    for name in graded:
        variants = [v for v, sources in correct.items() if name in sources]
        assert len(variants) >= 2, f"{assignment}: {name} has {len(variants)} correct variants"
        assert len(mistakes.get(name, {})) >= 5, f"{assignment}: {name} has {len(mistakes.get(name, {}))} mistakes"


@pytest.mark.parametrize("assignment", assignments())
def test_correct_variants_get_full_marks(class_run, assignment):
    for variant in class_run["plan"][assignment]["correct"]:
        failing = [(r["grade_id"], r["error"]) for r in _cells(class_run, f"v-{variant}", assignment) if r["error"]]
        assert not failing, f"correct variant {variant!r} lost points: {failing}"


@pytest.mark.parametrize("assignment", assignments())
def test_every_mistake_loses_points(class_run, assignment):
    slipped = []
    for k, round_ in enumerate(class_run["plan"][assignment]["rounds"]):
        cells = _cells(class_run, f"m-{k}", assignment)
        for name, (description, _) in round_.items():
            own = [r for r in cells if r["grade_id"].startswith(f"test_{name}__")]
            assert own, f"{assignment}: no test cells named test_{name}__*"
            if sum(r["score"] for r in own) >= sum(r["max_score"] for r in own):
                slipped.append(f"{name}: {description}")
    assert not slipped, f"{assignment}: mistakes that keep full marks: {slipped}"


def test_source_notebooks_have_no_outputs():
    for path in SOLUTIONS.glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        executed = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        assert not executed, f"{path.relative_to(ROOT)} is committed with outputs in cells {executed}"
