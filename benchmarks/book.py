"""The book build: ``jupyter-book build`` from scratch, then again with the execution cache warm."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def jupyter_book() -> str:
    """The ``jupyter-book`` beside this Python (the project's virtual environment)."""
    beside = Path(sys.executable).parent / "jupyter-book"
    return str(beside) if beside.exists() else (shutil.which("jupyter-book") or "jupyter-book")


# What myst-nb logs for each page it executes, and for each it takes from the cache.
EXECUTED = "Executed notebook in"
FROM_CACHE = "Using cached notebook"


def build(book_root: Path, path_output: Path, *extra: str) -> tuple[float, int, str]:
    """(seconds, exit status, log) of one ``jupyter-book build``."""
    command = [jupyter_book(), "build", str(book_root), "--path-output", str(path_output), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=book_root, capture_output=True, text=True)
    return time.perf_counter() - start, result.returncode, result.stdout + result.stderr


def run_book_benchmarks(book_root: Path = ROOT) -> dict:
    """A clean build into an empty folder, then a rebuild of every page (``--all``) that
    reuses the execution cache the first build left there: no notebook runs again."""
    with tempfile.TemporaryDirectory(prefix="bench-book-") as scratch:
        output = Path(scratch)
        clean_s, clean_rc, clean_log = build(book_root, output)
        cached_s, cached_rc, cached_log = build(book_root, output, "--all")
    results = {
        "book_build_clean_s": clean_s,
        "book_build_cached_s": cached_s,
        "book_build_ok": clean_rc == 0 and cached_rc == 0,
        "book_pages_executed_clean": clean_log.count(EXECUTED),
        "book_pages_executed_cached": cached_log.count(EXECUTED),
        "book_pages_from_cache": cached_log.count(FROM_CACHE),
    }
    if not results["book_build_ok"]:
        results["book_build_log"] = (clean_log if clean_rc else cached_log)[-2000:]
    return results
