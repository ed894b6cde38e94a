"""The benchmark code itself: the recorded run, the reference loader, targets, table, plots
and the Performance page. Nothing here is timed or asserts a speed."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import jupytext
import matplotlib
import nbformat
import numpy as np
import pytest

from conftest import ROOT, SOLUTIONS

matplotlib.use("Agg")
import matplotlib.pyplot as plt

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import conv, grading, plots, reference, report, timing

RECORDED = ROOT / "benchmarks" / "results" / "recorded.json"
PAGE = ROOT / "book" / "performance.md"
REQUIRED_SECONDS = (
    "conv_numpy_naive_s", "conv_numpy_fast_s", "conv_torch_cpu_s",
    "grade_jobs1_s", "grade_jobs2_s", "notebook_exec_s", "grade_templates_s",
    "grade_nbgrader_plain_s", "grade_dask2_s",
    "book_build_clean_s", "book_build_cached_s",
)


@pytest.fixture(scope="module")
def recorded() -> dict:
    return plots.load_run(RECORDED)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_recorded_run_has_every_measurement(recorded):
    for key in REQUIRED_SECONDS:
        assert isinstance(recorded[key], float) and recorded[key] > 0, key
    assert not recorded["quick"], "the committed run must be a full run, not --quick"
    assert recorded["grading_students"] >= 8
    assert recorded["grading_units"] == recorded["grading_students"] * len(recorded["grading_assignments"])
    assert recorded["grading_problems"] == [], "a reference-filled class must grade to full marks"
    assert recorded["book_build_ok"]
    assert recorded["book_pages_executed_clean"] > 0 and recorded["book_pages_executed_cached"] == 0
    assert recorded["book_pages_from_cache"] == recorded["book_pages_executed_clean"]
    assert recorded["conv_max_relative_error"] < 1e-4
    assert recorded["matmul_numpy_gflops"] > 0 and recorded["matmul_torch_cpu_gflops"] > 0
    assert set(recorded["conv_gflops"]) >= {"conv_numpy_naive_gflops", "conv_numpy_fast_gflops", "conv_torch_cpu_gflops"}
    sizes = [point["students"] for point in recorded["class_size"]]
    assert sizes == sorted(sizes) and len(sizes) >= 3
    assert len(recorded["conv_scaling"]) >= 4
    for point in recorded["conv_scaling"]:
        assert point["numpy_fast_s"] > 0 and point["torch_cpu_s"] > 0


def test_recorded_run_says_when_where_and_with_what(recorded):
    machine = recorded["machine"]
    assert machine["date"][:4].isdigit() and "T" in machine["date"]
    assert machine["cpu_model"] and machine["usable_cores"] >= 1
    for package in ("python", "numpy", "torch", "nbgrader", "jupyter-book"):
        assert machine["versions"][package]
    assert recorded["command"].startswith("python benchmarks/run.py")
    assert len(recorded["load_average_start"]) == 3


def test_recorded_targets_are_the_ratios_of_the_recorded_times(recorded):
    assert set(recorded["targets"]) == {target.name for target in report.TARGETS}  # a full run measures all
    assert set(recorded["targets"]) == set(report.evaluate_targets(recorded))
    assert report.evaluate_targets(recorded) == recorded["targets"]
    overhead = recorded["targets"]["grading_overhead"]
    assert math.isclose(overhead["ratio"], recorded["grade_jobs1_s"] / recorded["notebook_exec_s"])


def test_evaluate_targets_checks_bounds_and_skips_what_was_not_measured():
    times = {"conv_numpy_naive_s": 10.0, "conv_numpy_fast_s": 0.1, "conv_torch_cpu_s": 0.05}
    targets = report.evaluate_targets(times)
    assert set(targets) == {"im2col_vs_torch_cpu", "loop_vs_im2col"}
    assert targets["im2col_vs_torch_cpu"]["ratio"] == pytest.approx(2.0) and targets["im2col_vs_torch_cpu"]["met"]
    assert targets["loop_vs_im2col"]["ratio"] == pytest.approx(100.0) and targets["loop_vs_im2col"]["met"]
    times["conv_numpy_fast_s"] = 0.5
    targets = report.evaluate_targets(times)
    assert not targets["im2col_vs_torch_cpu"]["met"] and not targets["loop_vs_im2col"]["met"]


def test_table_shows_every_section_and_target(recorded):
    table = report.format_table(recorded)
    for heading in ("Convolution, one forward pass", "Convolution against layer size", "Grading",
                    "Grading against class size", "Book build", "Targets"):
        assert heading in table
    for name in recorded["targets"]:
        assert name in table


def test_reference_cells_are_solutions_and_set_up_cells_never_tests():
    nb = nbformat.read(SOLUTIONS / "03_backprop_im2col" / "03_backprop_im2col.ipynb", as_version=4)
    chosen = [cell.metadata["nbgrader"]["grade_id"] for cell in nb.cells if reference.is_reference_cell(cell)]
    assert {"im2col", "conv2d_fast", "setup", "helpers"} <= set(chosen)
    assert not [grade_id for grade_id in chosen if grade_id.startswith("test_")]


def test_reference_convolutions_agree_with_pytorch():
    implementations = conv.reference_convolutions()
    assert conv.check_agreement(implementations, conv.BENCHMARK_LAYER) < 1e-4
    layer = conv.Layer(n=2, c=3, hw=6, f=4)
    x, w, b = layer.arrays()
    for function in implementations.values():
        out = function(x, w, b, padding=layer.padding)
        assert out.shape == (2, 4, layer.out_hw, layer.out_hw) and out.dtype == np.float32


def test_reference_loader_names_what_a_notebook_lacks():
    with pytest.raises(LookupError, match="no_such_function"):
        reference.load_reference(SOLUTIONS / "02_convolution" / "02_convolution.ipynb", ["no_such_function"])


def test_layer_counts_a_multiply_and_an_add_per_tap():
    assert conv.Layer(n=1, c=1, hw=3, f=1, k=3, padding=0).flop == 2 * 9
    layer = conv.BENCHMARK_LAYER
    assert layer.out_hw == 32 and layer.flop == 2 * 16 * 64 * 32 * 32 * 32 * 9


def test_interleaved_medians_times_every_function_in_turns():
    calls: list[str] = []
    medians = timing.interleaved_medians({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                         repeats=5, rounds=2)
    assert set(medians) == {"a", "b"} and all(value >= 0 for value in medians.values())
    # each round: one untimed call, then a block (3 then 2 timed calls), a's block before b's
    assert calls == ["a"] * 4 + ["b"] * 4 + ["a"] * 3 + ["b"] * 3


def test_submissions_are_source_notebooks_in_the_graders_layout(tmp_path):
    subs = grading.make_submissions(tmp_path / "subs", grading.student_ids(2), ["02_convolution", "04_pooling_upsampling"])
    found = sorted(str(p.relative_to(subs)) for p in subs.rglob("*.ipynb"))
    assert found == [f"{s}/{a}/{a}.ipynb" for s in ("student01", "student02")
                     for a in ("02_convolution", "04_pooling_upsampling")]
    copied = subs / "student02" / "02_convolution" / "02_convolution.ipynb"
    assert copied.read_bytes() == (SOLUTIONS / "02_convolution" / "02_convolution.ipynb").read_bytes()
    command = grading.grade_command(subs, tmp_path / "out", 2, ["02_convolution", "04_pooling_upsampling"])
    assert command[1:4] == ["-m", "autograder", "grade"] and "--quiet" in command
    assert command[command.index("--jobs") + 1] == "2"
    assert command.count("--assignment") == 2


def test_short_of_full_marks_reads_grades_csv(tmp_path):
    (tmp_path / "grades.csv").write_text(
        "student_id,assignment,notebook,score,max_score\n"
        "student01,02_convolution,02_convolution,48,48\n"
        "student02,02_convolution,02_convolution,40,48\n"
    )
    short = grading.short_of_full_marks(tmp_path, ["student01", "student02", "student03"], ["02_convolution"])
    assert short == ["student02/02_convolution: 40/48", "student03/02_convolution: 0/-1"]


def test_plots_draw_the_recorded_run(recorded):
    _, axes = plt.subplots(2, 3)
    plots.conv_times(axes[0, 0], recorded)
    assert len(axes[0, 0].patches) >= 3
    plots.achieved_gflops(axes[0, 1], recorded)
    assert len(axes[0, 1].patches) >= 3 and len(axes[0, 1].get_lines()) >= 2
    plots.conv_scaling(axes[0, 2], recorded)
    assert len(axes[0, 2].get_lines()) >= 3
    plots.grading_modes(axes[1, 0], recorded)
    assert len(axes[1, 0].patches) == 5  # nbclient, plain nbgrader, --jobs 1, --jobs 2, Dask
    plots.class_size(axes[1, 1], recorded)
    assert all(math.isfinite(value) for value in plots.class_size_fit(recorded))
    assert "recorded" in plots.summary_markdown(recorded)
    assert plots.targets_markdown(recorded).count("\n") == 1 + len(recorded["targets"])


def test_plots_cope_with_a_run_that_skipped_parts(recorded):
    partial = {key: value for key, value in recorded.items()
               if not key.startswith(("grade", "notebook", "class_size", "book", "conv_scaling"))}
    partial["targets"] = report.evaluate_targets(partial)
    _, axes = plt.subplots(1, 3)
    plots.conv_scaling(axes[0], partial)
    plots.grading_modes(axes[1], partial)
    plots.class_size(axes[2], partial)
    assert all(not ax.axison for ax in axes)
    assert "book build" not in plots.summary_markdown(partial)


def test_performance_page_executes_on_the_recorded_run(monkeypatch):
    """The page's code cells, run in order from book/ as the book build runs them."""
    notebook = jupytext.read(PAGE)
    first = notebook.cells[[c.cell_type for c in notebook.cells].index("code")]
    assert "remove-cell" in first.metadata.get("tags", []) and "cnnlib.setup()" in first.source
    monkeypatch.chdir(ROOT / "book")
    monkeypatch.setattr(sys, "path", [str(ROOT / "book"), *sys.path])
    namespace: dict = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            code = "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))
            exec(compile(code, str(PAGE), "exec"), namespace)
    assert "../benchmarks/results/recorded.json" in PAGE.read_text()
    assert namespace["run"]["machine"]["date"] == plots.load_run(RECORDED)["machine"]["date"]
    assert plt.get_fignums(), "the page drew no figure"


def test_run_script_writes_json_even_with_every_part_skipped(tmp_path):
    out = tmp_path / "run.json"
    result = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--skip-conv", "--skip-grading", "--skip-book", "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    assert written["targets"] == {} and written["machine"]["cpu_model"]
    assert "Benchmarks of" in result.stdout


def test_unknown_assignment_is_refused():
    from benchmarks.run import grading_assignments

    with pytest.raises(SystemExit, match="no_such_assignment"):
        grading_assignments("no_such_assignment", quick=False, class_assignment="04_pooling_upsampling")
    from autograder.course import list_assignments

    assert grading_assignments("all", quick=False, class_assignment="x") == list_assignments()
