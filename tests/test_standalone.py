"""Every student notebook runs alone, as a student runs it: downloaded or in Colab.

Each notebook of ``exercises/`` is copied alone into an empty folder and executed cell by
cell in a Python environment that has what a Colab runtime has (numpy, torch,
matplotlib, scikit-learn, scipy, Jupyter) and nothing of this repository: no ``cnnlib``,
no ``autograder``, no repository path on ``sys.path``, and no ``mnist1d`` (a notebook
that needs it installs it itself; pip sees a local folder holding the pinned wheel,
built here from the installed copy, and no index: nothing is downloaded).

- **Untouched**, the only errors are ``NotImplementedError`` raised by the student's
  functions, in the student's own cells or in the test cells that call them (where an
  ``AssertionError`` is accepted too). Demo cells, setup cells and everything else run
  clean: no ``NameError``, no ``ModuleNotFoundError``.
- **Filled** with the reference solutions of ``solutions/`` (solution cells only; the
  hidden tests stay out), every cell runs without an error.

Links in student notebooks point to the course website, never to repository paths.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import EXERCISES, ROOT, SOLUTIONS

# What a downloaded notebook must not find: the course's own packages and mnist1d.
HIDDEN = ("cnnlib", "autograder", "mnist1d", "cnn_course", "__editable__")
CELL_TIMEOUT = 300


def student_assignments() -> list[str]:
    """Every assignment that has a student version (08 and 09 included once released)."""
    return sorted(p.name for p in EXERCISES.iterdir() if (p / f"{p.name}.ipynb").is_file())


def _pinned(name: str) -> str:
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.lower().startswith(name.lower() + "=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in constraints.txt")


def _build_wheel(dist_name: str, site: Path, out: Path) -> Path:
    """A wheel of an installed distribution, from its RECORD (what pip installed)."""
    dist_info = next(site.glob(f"{dist_name}-*.dist-info"))
    version = dist_info.name[len(dist_name) + 1:-len(".dist-info")]
    wheel = out / f"{dist_name}-{version}-py3-none-any.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for row in csv.reader((dist_info / "RECORD").read_text().splitlines()):
            rel = row[0]
            if "__pycache__" in rel or rel.endswith(("/RECORD", "/INSTALLER", "/REQUESTED", "/direct_url.json")):
                continue
            data = (site / rel).read_bytes()
            zf.writestr(rel, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            records.append(f"{rel},sha256={digest},{len(data)}")
        record = f"{dist_info.name}/RECORD"
        zf.writestr(record, "\n".join([*records, f"{record},,"]) + "\n")
    return wheel


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A venv whose site-packages is this one's minus the course and mnist1d, a kernel spec and a wheel folder."""
    root = tmp_path_factory.mktemp("standalone")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_paths()["purelib"])
    target = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    target.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if entry.name.lower().startswith(HIDDEN) or (entry.suffix == ".pth" and "distutils" not in entry.name):
            continue
        (target / entry.name).symlink_to(entry)
    wheels = root / "wheels"
    wheels.mkdir()
    _build_wheel("mnist1d", site, wheels)
    kernels = root / "kernels"
    (kernels / "standalone").mkdir(parents=True)
    (kernels / "standalone" / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "standalone", "language": "python",
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_", "VIRTUAL_ENV", "JUPYTER"))}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               # The notebooks' own switch for a grading run: demonstrations train for fewer epochs
               # (06); every cell still runs, and this test looks for errors, not accuracies.
               NBGRADER_EXECUTION="1")
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return {"python": venv / "bin" / "python", "kernels": kernels, "env": env, "root": root}


def test_environment_lacks_the_course(standalone):
    """The kernel's Python finds numpy, torch, sklearn, scipy, matplotlib, but not the course or mnist1d."""
    probe = (
        "import importlib.util, sys\n"
        "have = [m for m in ('numpy', 'torch', 'sklearn', 'scipy', 'matplotlib', 'ipykernel', 'pip')"
        " if importlib.util.find_spec(m) is None]\n"
        "bad = [m for m in ('cnnlib', 'autograder', 'mnist1d') if importlib.util.find_spec(m) is not None]\n"
        f"repo = [p for p in sys.path if p.startswith({str(ROOT)!r})]\n"
        "print(have, bad, repo)\n"
        "assert not have and not bad and not repo\n"
    )
    result = subprocess.run([str(standalone["python"]), "-c", probe], env=standalone["env"],
                            cwd=standalone["root"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _filled(student: nbformat.NotebookNode, assignment: str) -> nbformat.NotebookNode:
    """The student version with the reference solution cells (hidden tests stay out)."""
    source = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(json.loads(json.dumps(student)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = solutions[meta["grade_id"]]
    return nb


def _run(nb: nbformat.NotebookNode, standalone: dict, workdir: Path) -> list[tuple[int, dict, dict]]:
    """Execute every cell in a fresh standalone kernel; (index, nbgrader metadata, error output) per error."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    workdir.mkdir(parents=True, exist_ok=True)
    km = KernelManager(kernel_name="standalone",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(standalone["kernels"])]))
    client = NotebookClient(nb, km=km, allow_errors=True, timeout=CELL_TIMEOUT,
                            resources={"metadata": {"path": str(workdir)}})
    errors = []
    try:
        with client.setup_kernel(env=standalone["env"], cwd=str(workdir)):
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.execute_cell(cell, index)
                for output in cell.get("outputs", []):
                    if output.get("output_type") == "error":
                        errors.append((index, cell.metadata.get("nbgrader", {}), output))
    finally:  # the client does not own a kernel manager it was given: end the kernel here
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    nbformat.write(nb, workdir / "executed.ipynb")
    return errors


def _describe(index: int, meta: dict, output: dict) -> str:
    tb = "\n".join(output.get("traceback", []))
    tb = re.sub(r"\x1b\[[0-9;]*m", "", tb)
    return f"cell {index} ({meta.get('grade_id', 'no grade_id')}): {output['ename']}: {output['evalue']}\n{tb[-1500:]}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", student_assignments())
def test_untouched_notebook_shows_only_not_implemented(standalone, assignment, tmp_path):
    """Untouched: only the student's NotImplementedError, in their cells or the test cells that call them."""
    nb = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    errors = _run(nb, standalone, tmp_path / assignment)
    bad = []
    for index, meta, output in errors:
        ename = output["ename"]
        if meta.get("solution") and ename == "NotImplementedError":
            continue
        if meta.get("grade") and not meta.get("solution") and ename in ("NotImplementedError", "AssertionError"):
            continue
        bad.append(_describe(index, meta, output))
    assert not bad, f"{assignment} untouched, errors other than the student's NotImplementedError:\n" + "\n\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", student_assignments())
def test_filled_notebook_runs_without_error(standalone, assignment, tmp_path):
    """With the reference solutions in the solution cells, every cell runs without an error."""
    nb = _filled(nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4), assignment)
    errors = _run(nb, standalone, tmp_path / assignment)
    assert not errors, f"{assignment} with the reference solutions:\n" + "\n\n".join(_describe(*e) for e in errors)


def _site_pages() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = set()

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    pages.add(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return pages


@pytest.mark.parametrize("assignment", student_assignments())
def test_links_go_to_the_course_website(assignment):
    """Every http(s) link starts with html.baseurl and names a page of _toc.yml; no repository paths."""
    base = yaml.safe_load((ROOT / "_config.yml").read_text())["html"]["baseurl"].rstrip("/") + "/"
    pages = _site_pages()
    nb = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    problems = []
    for cell in nb.cells:
        text = cell.source
        for url in re.findall(r"https?://[^\s)\"'>\]]+", text):
            if not url.startswith(base):
                problems.append(f"{url}: not on the course website {base}")
                continue
            page = url[len(base):].split("#")[0]
            if not page.endswith(".html") or page[:-len(".html")] not in pages:
                problems.append(f"{url}: no page {page!r} in _toc.yml")
        if cell.cell_type == "markdown":
            for target in re.findall(r"\]\(([^)\s]+)\)", text):
                if not target.startswith(("http://", "https://", "#")):
                    problems.append(f"link to a file a downloaded notebook does not have: {target}")
            for path in re.findall(r"`([\w./-]+\.(?:md|py|ipynb|yml))`", text):
                if "/" in path or path.endswith((".md", ".yml")):
                    problems.append(f"names a repository file a downloaded notebook does not have: {path}")
    assert not problems, f"{assignment}:\n" + "\n".join(problems)



@pytest.mark.parametrize("assignment", student_assignments())
def test_installs_are_pinned(assignment):
    """A notebook that installs a package itself names the version pinned in constraints.txt."""
    nb = nbformat.read(EXERCISES / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in re.findall(r"^\s*[%!]pip install (.+)$", cell.source, re.MULTILINE):
            for requirement in line.split():
                if requirement.startswith("-"):
                    continue
                name, _, version = requirement.partition("==")
                assert version == _pinned(name), f"{assignment}: {requirement!r}, constraints.txt pins {name}=={_pinned(name)}"


def test_gpu_check_says_what_it_checked_or_skipped():
    """``make gpu-check`` exits 0 and says it checked nothing where there is no CUDA."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--assignments", "01_why_not_fully_connected"],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    if "gpu-check on " in result.stdout:  # a GPU machine: the check ran for real
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return
    assert result.returncode == 0 and "skipped, no CUDA device" in result.stdout, result.stdout + result.stderr
