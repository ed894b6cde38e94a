"""Figures and summaries of a recorded benchmark run (used by ``book/performance.md``).

Every function takes the run as loaded from its JSON file and copes with the parts a run
skipped (no GPU, ``--skip-grading``, ``--skip-book``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter, NullFormatter

IMPLEMENTATIONS = {
    "numpy_naive": "loop (conv2d_forward)",
    "numpy_fast": "im2col (conv2d_fast)",
    "torch_cpu": "PyTorch, CPU",
    "torch_cuda": "PyTorch, CUDA",
}
COLORS = {"numpy_naive": "#bbbbbb", "numpy_fast": "#1f77b4", "torch_cpu": "#ff7f0e", "torch_cuda": "#2ca02c"}
PEAKS = {"matmul_numpy_gflops": "NumPy matmul", "matmul_torch_cpu_gflops": "PyTorch matmul, CPU",
         "matmul_torch_cuda_gflops": "PyTorch matmul, CUDA"}


def load_run(path: str | Path) -> dict:
    """A run written by ``python benchmarks/run.py --json PATH``."""
    return json.loads(Path(path).read_text())


def _plain_log_axis(axis) -> None:
    """Log-scale ticks written as plain numbers (0.1, 1, 10), without minor labels."""
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _empty(ax: Axes, what: str) -> Axes:
    ax.text(0.5, 0.5, f"{what}: not measured in this run", ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return ax


def conv_times(ax: Axes, run: dict) -> Axes:
    """One forward pass of the benchmark layer, per implementation (log scale)."""
    names = [name for name in IMPLEMENTATIONS if f"conv_{name}_s" in run]
    if not names:
        return _empty(ax, "convolution times")
    millis = [1e3 * run[f"conv_{name}_s"] for name in names]
    ax.barh([IMPLEMENTATIONS[n] for n in names], millis, color=[COLORS[n] for n in names])
    for y, value in enumerate(millis):
        ax.text(value, y, f" {value:.3g} ms", va="center")
    ax.set_xscale("log")
    _plain_log_axis(ax.xaxis)
    ax.invert_yaxis()
    ax.set_xlabel("time of one forward pass (ms, log scale)")
    layer = run["conv_layer"]
    ax.set_title(f"N={layer['n']}, C={layer['c']}, {layer['hw']}x{layer['hw']}, F={layer['f']}, "
                 f"{layer['k']}x{layer['k']}, float32")
    ax.margins(x=0.35)
    return ax


def achieved_gflops(ax: Axes, run: dict) -> Axes:
    """GFLOP/s of each implementation on the benchmark layer, against the matmul peaks."""
    rates = run.get("conv_gflops", {})
    names = [name for name in IMPLEMENTATIONS if f"conv_{name}_gflops" in rates]
    if not names:
        return _empty(ax, "GFLOP/s")
    values = [rates[f"conv_{name}_gflops"] for name in names]
    ax.bar(range(len(names)), values, color=[COLORS[n] for n in names])
    ax.set_xticks(range(len(names)), [IMPLEMENTATIONS[n].replace(" (", "\n(") for n in names])
    for key, label in PEAKS.items():
        if key in run and (key != "matmul_torch_cuda_gflops" or "torch_cuda" in names):
            style = {"matmul_numpy_gflops": "--", "matmul_torch_cpu_gflops": ":"}.get(key, "-.")
            ax.axhline(run[key], color="black", linestyle=style, linewidth=1, label=f"{label}: {run[key]:.0f} GFLOP/s")
    ax.set_yscale("log")
    _plain_log_axis(ax.yaxis)
    top = max([*values, *(run[key] for key in PEAKS if key in run)])
    ax.set_ylim(top=top * 4)
    ax.set_ylabel("GFLOP/s (log scale)")
    threads = run.get("conv_threads")
    if threads:
        ax.set_title(f"CPU work on {threads} thread{'s' if threads > 1 else ''}")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return ax


def conv_scaling(ax: Axes, run: dict) -> Axes:
    """Time against the layer's work, with the time the NumPy matmul peak would need."""
    points = run.get("conv_scaling", [])
    if not points:
        return _empty(ax, "scaling")
    gflop = np.array([p["gflop"] for p in points])
    for name in IMPLEMENTATIONS:
        if f"{name}_s" in points[0]:
            ax.plot(gflop, [1e3 * p[f"{name}_s"] for p in points], "o-", color=COLORS[name], label=IMPLEMENTATIONS[name])
    if "matmul_numpy_gflops" in run:
        ax.plot(gflop, 1e3 * gflop / run["matmul_numpy_gflops"], "k--", linewidth=1, label="at the NumPy matmul peak")
    for p in points:
        ax.annotate(f"{p['hw']}²", (p["gflop"], 1e3 * p["numpy_fast_s"]), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log_axis(ax.xaxis)
    _plain_log_axis(ax.yaxis)
    ax.set_xlabel("work of the layer (GFLOP); labels: height x width")
    ax.set_ylabel("time (ms)")
    ax.legend(fontsize=8, frameon=False)
    return ax


def grading_modes(ax: Axes, run: dict) -> Axes:
    """The same class executed plainly, graded by plain nbgrader, and by the grader with one
    job, two jobs and two Dask workers (the bars a run measured)."""
    keys = {"notebook_exec_s": "plain execution\n(nbclient)", "grade_nbgrader_plain_s": "nbgrader\nautograde",
            "grade_jobs1_s": "grade\n--jobs 1", "grade_jobs2_s": "grade\n--jobs 2",
            "grade_dask2_s": "grade, Dask\n2 workers"}
    colours = {"notebook_exec_s": "#bbbbbb", "grade_nbgrader_plain_s": "#888888", "grade_jobs1_s": "#1f77b4",
               "grade_jobs2_s": "#ff7f0e", "grade_dask2_s": "#2ca02c"}
    present = [key for key in keys if key in run]
    if not present:
        return _empty(ax, "grading")
    values = [run[key] for key in present]
    ax.bar([keys[k] for k in present], values, color=[colours[k] for k in present])
    for x, value in enumerate(values):
        ax.text(x, value, f"{value:.0f} s", ha="center", va="bottom")
    ax.set_ylabel("seconds")
    ax.set_title(f"{run['grading_students']} students x {len(run['grading_assignments'])} assignments "
                 f"({run['grading_units']} notebooks)")
    return ax


def class_size_fit(run: dict) -> tuple[float, float]:
    """(seconds per student, fixed seconds) of a straight line through the class-size curve."""
    points = run["class_size"]
    slope, intercept = np.polyfit([p["students"] for p in points], [p["grade_jobs2_s"] for p in points], 1)
    return float(slope), float(intercept)


def class_size(ax: Axes, run: dict) -> Axes:
    """Grading time against the number of students, with a fitted straight line."""
    points = run.get("class_size", [])
    if not points:
        return _empty(ax, "class size")
    students = np.array([p["students"] for p in points])
    ax.plot(students, [p["grade_jobs2_s"] for p in points], "o", color=COLORS["numpy_fast"])
    if len(points) > 1:
        slope, intercept = class_size_fit(run)
        grid = np.linspace(0, students.max(), 50)
        ax.plot(grid, intercept + slope * grid, "k--", linewidth=1,
                label=f"{intercept:.0f} s + {slope:.1f} s per student")
        ax.legend(frameon=False)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("students")
    ax.set_ylabel("seconds")
    ax.set_title(f"{run['class_size_assignment']}, --jobs {run['class_size_jobs']}")
    return ax


def _seconds(value: float) -> str:
    return f"{1e3 * value:.3g} ms" if value < 1 else f"{value:.1f} s"


def summary_markdown(run: dict) -> str:
    """When, where and how the run was made, as a Markdown table."""
    machine = run["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    rows = [
        ("recorded", machine["date"].replace("T", " ")),
        ("machine", f"{machine['cpu_model']}, {machine['usable_cores']} cores, "
                    f"{machine.get('memory_gib', '?')} GiB; GPU: {machine.get('gpu') or 'none'}"),
        ("load average (1, 5, 15 min)", f"{run['load_average_start']} at the start, {run['load_average_end']} at the end"),
        ("threads (convolutions)", str(run.get("conv_threads", "-"))),
        ("BLAS (threads by default)", machine.get("numpy_blas", "?")),
        ("versions", versions),
        ("command", f"`{run['command']}`"),
        ("whole run", _seconds(run["wall_s"])),
    ]
    for key, label in (("book_build_clean_s", "book build, from scratch"),
                       ("book_build_cached_s", "book build, execution cache warm (`--all`)"),
                       ("grade_templates_s", "template gradebooks (once per assignment)")):
        if key in run:
            rows.append((label, _seconds(run[key])))
    return "| | this run |\n|---|---|\n" + "\n".join(f"| {label} | {value} |" for label, value in rows)


def targets_markdown(run: dict) -> str:
    """Each target, the ratio measured and whether it was met, as a Markdown table."""
    lines = ["| target | measured ratio | met? |", "|---|---|---|"]
    for target in run.get("targets", {}).values():
        sign = "≤" if target["at_most"] else "≥"
        lines.append(f"| {target['description']} ({sign} {target['bound']:g}) | {target['ratio']:.2f} | "
                     f"{'yes' if target['met'] else '**no**'} |")
    return "\n".join(lines)
