"""The website: every chapter executes during the build, has real figures, leaks nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from test_release import assert_no_secrets, secret_snippets

pytestmark = pytest.mark.slow
HTML = ROOT / "_build" / "html"


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files += [s["file"] for s in chapter.get("sections", [])]
    return files


def chapters() -> list[str]:
    """The chapters: every page of the numbered parts of the table of contents."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]]


@pytest.fixture(scope="session")
def built_site() -> Path:
    """Build the book once per test session (execution results are cached)."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", ".", "--keep-going", "-n", "-W"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    log = result.stdout + result.stderr
    reports = sorted((HTML / "reports").glob("**/*.err.log")) if (HTML / "reports").exists() else []
    details = "\n".join(p.read_text()[-3000:] for p in reports)
    assert result.returncode == 0, f"book build failed:\n{log[-6000:]}\n{details}"
    return HTML


def test_every_toc_file_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb", "")]
        assert any(p.is_file() for p in candidates), f"_toc.yml names {entry}, which does not exist"


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_has_real_figures_and_no_error_output(built_site, chapter):
    page = (built_site / f"{chapter}.html").read_text()
    images = re.findall(r"<img [^>]*src=\"([^\"]+\.png)\"", page)
    assert images, f"{chapter} shows no figure"
    for src in images:
        assert (built_site / Path(chapter).parent / src).resolve().is_file(), f"{chapter}: missing image {src}"
    assert "Traceback (most recent call last)" not in page
    assert 'class="output traceback' not in page and "output_error" not in page


@pytest.mark.parametrize("chapter", chapters())
def test_chapter_checks_understanding_and_links_its_exercise(chapter):
    source = (ROOT / f"{chapter}.md").read_text()
    assert "Check your understanding" in source
    assert "solution" in source
    links = re.findall(r"\.\./exercises/([\w]+)/([\w]+)\.ipynb", source)
    assert links, f"{chapter} links no exercise notebook"
    for folder, name in links:
        assert (ROOT / "exercises" / folder / f"{name}.ipynb").is_file(), f"{chapter} links a missing exercise"


def test_chapters_are_myst_notebooks_with_jupytext_headers():
    for chapter in chapters():
        head = (ROOT / f"{chapter}.md").read_text()[:400]
        assert "format_name: myst" in head and "kernelspec" in head, chapter


def test_no_solution_or_hidden_test_on_the_website(built_site):
    snippets = secret_snippets()
    for page in built_site.rglob("*"):
        if page.suffix not in (".html", ".ipynb", ".txt", ".js", ".md", ".py") or not page.is_file():
            continue
        assert_no_secrets(page.read_text(errors="replace"), str(page.relative_to(built_site)), snippets)
