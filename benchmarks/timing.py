"""Timing helpers and a description of the machine a run was made on."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path


def median_time(function: Callable[[], object], repeats: int, warmup: int = 1,
                sync: Callable[[], None] | None = None) -> float:
    """Median wall time of ``function()`` in seconds over ``repeats`` calls, after ``warmup`` calls.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called after each call, inside the timing.
    """
    for _ in range(warmup):
        function()
        if sync:
            sync()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        function()
        if sync:
            sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(functions: dict[str, Callable[[], object]], repeats: int,
                        rounds: int = 3) -> dict[str, float]:
    """Median seconds of each function over ``repeats`` calls, timed in turns by blocks.

    Each of ``rounds`` rounds times every function in a block of calls, after one untimed
    call. Taking turns spreads bursts of load from other processes over all functions
    alike, so that the ratios between them stay meaningful on a shared machine; the untimed
    call absorbs the switch from one library's thread pool to another's (NumPy's OpenBLAS
    threads and PyTorch's OpenMP threads spin for a while after their last call).
    """
    rounds = max(1, min(rounds, repeats))
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_index in range(rounds):
        block = repeats // rounds + (1 if round_index < repeats % rounds else 0)
        for name, function in functions.items():
            function()
            for _ in range(block):
                start = time.perf_counter()
                function()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def timed(function: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (empty where the OS has none)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine_info() -> dict:
    """Date, CPU, cores, memory, GPU and library versions of this run."""
    import numpy  # noqa: F401 - loads NumPy's BLAS, so that it is listed
    import torch

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "numpy_blas": _blas_description(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "versions": package_versions(
            ("numpy", "torch", "nbgrader", "nbclient", "jupyter-book", "myst-nb", "sphinx", "matplotlib")
        ),
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def _blas_description() -> str:
    """The BLAS libraries loaded in this process (NumPy's and PyTorch's) and their threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return "unknown"
    blas = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    return ", ".join(f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in blas) or "unknown"
