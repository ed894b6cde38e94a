"""Student versions equal what nbgrader generates now, and leak nothing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from conftest import EXERCISES, ROOT, SOLUTIONS, assignments

SOLUTION_REGION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN_REGION = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def secret_snippets(min_chars: int = 30) -> list[tuple[str, str]]:
    """(notebook, line) for each distinctive line of reference solutions and hidden tests
    that students do not see anyway (hidden re-checks repeat visible inputs: not secret)."""
    notebooks = {path.name: nbformat.read(path, as_version=4) for path in sorted(SOLUTIONS.glob("*/*.ipynb"))}
    public = set()  # lines any student version shows: not secret, whichever notebook they come from
    for nb in notebooks.values():
        for cell in nb.cells:
            visible = HIDDEN_REGION.sub("", SOLUTION_REGION.sub("", cell.source))
            public.update(line.strip() for line in visible.splitlines())
    snippets = []
    for name, nb in notebooks.items():
        for cell in nb.cells:
            for region in SOLUTION_REGION.findall(cell.source) + HIDDEN_REGION.findall(cell.source):
                for line in region.splitlines():
                    line = line.strip()
                    if len(line) >= min_chars and not line.startswith("#") and line not in public:
                        snippets.append((name, line))
    return snippets


def _whole_line(line: str) -> re.Pattern:
    """``line`` as a whole line of code, in plain text, HTML or a notebook's JSON strings."""
    return re.compile(r'(?:^|["\n>]|\\n)[ \t]*' + re.escape(line) + r'[ \t]*(?:\\n|["<\n]|$)', re.M)


def assert_no_secrets(text: str, where: str, snippets: list[tuple[str, str]]) -> None:
    """Fail when ``text`` carries an nbgrader marker or a line of reference code."""
    for marker in MARKERS:
        assert marker not in text, f"{where} contains {marker!r}"
    leaked = [line for _, line in snippets if line in text and _whole_line(line).search(text)]
    assert not leaked, f"{where} shows reference code: {leaked[:3]}"


def _canonical(path: Path) -> dict:
    return json.loads(path.read_text())


def test_every_assignment_is_released():
    assert assignments(), "no assignments in solutions/"
    for assignment in assignments():
        assert (EXERCISES / assignment / f"{assignment}.ipynb").is_file(), f"exercises/{assignment} is missing"


@pytest.mark.parametrize("assignment", assignments())
def test_exercises_equal_what_nbgrader_generates(student_versions, assignment):
    generated = sorted(p.relative_to(student_versions / assignment) for p in (student_versions / assignment).rglob("*") if p.is_file())
    committed = sorted(p.relative_to(EXERCISES / assignment) for p in (EXERCISES / assignment).rglob("*") if p.is_file())
    assert generated == committed, "run `python -m autograder release` and commit exercises/"
    for rel in generated:
        new, old = student_versions / assignment / rel, EXERCISES / assignment / rel
        if rel.suffix == ".ipynb":
            assert _canonical(new) == _canonical(old), f"exercises/{assignment}/{rel} is stale: run `python -m autograder release`"
        else:
            assert new.read_bytes() == old.read_bytes()


def test_no_solution_or_hidden_test_in_exercises():
    snippets = secret_snippets()
    assert snippets, "no reference solutions found in solutions/"
    for path in EXERCISES.rglob("*"):
        if not path.is_file():
            continue
        assert_no_secrets(path.read_text(errors="replace"), str(path.relative_to(ROOT)), snippets)


def test_every_graded_name_is_listed_in_the_catalogue():
    catalogue = (EXERCISES / "README.md").read_text()
    for path in SOLUTIONS.glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and cell.cell_type == "code":
                assert f"`{meta['grade_id']}`" in catalogue, f"{meta['grade_id']} is not listed in exercises/README.md"


def test_cell_metadata_follows_the_conventions():
    for path in SOLUTIONS.glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
        assert all(ids), f"{path.name}: every cell needs nbgrader metadata with a grade_id"
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate grade_id"
        solutions = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata["nbgrader"].get("solution")}
        for cell in nb.cells:
            meta = cell.metadata["nbgrader"]
            if meta.get("grade") and not meta.get("solution"):
                assert meta.get("locked"), f"{path.name}: test cell {meta['grade_id']} is not locked"
                name = meta["grade_id"].removeprefix("test_").split("__")[0]
                assert meta["grade_id"].startswith("test_") and "__" in meta["grade_id"], meta["grade_id"]
                assert name in solutions, f"{path.name}: {meta['grade_id']} tests no solution cell"
                assert meta.get("points", 0) > 0


def test_every_test_cell_rechecks_with_trusted_helpers():
    """A faked visible pass (rigged __eq__, patched np.allclose) must gain nothing."""
    for path in SOLUTIONS.glob("*/*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                hidden = "\n".join(HIDDEN_REGION.findall(cell.source))
                assert "autograder.checks" in hidden or "_checks" in hidden, (
                    f"{path.name}: test cell {meta['grade_id']} has no hidden re-check with autograder.checks"
                )


def test_nbgrader_validator_agrees(student_versions):
    """nbgrader's own Validator: the reference passes, the student version fails."""
    from nbgrader.validator import Validator

    assignment = "02_convolution" if "02_convolution" in assignments() else assignments()[0]
    validator = Validator()
    validator.validate_all = True
    result = validator.validate(str(SOLUTIONS / assignment / f"{assignment}.ipynb"))
    assert not result.get("failed") and not result.get("passed"), result
    student = validator.validate(str(student_versions / assignment / f"{assignment}.ipynb"))
    assert student.get("failed"), "the untouched student version should fail validation"
