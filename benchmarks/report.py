"""The targets a run is judged by, and the readable table that ``run.py`` prints."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """``numerator / denominator`` must be ``at_most`` or ``at_least`` ``bound``."""

    name: str
    numerator: str
    denominator: str
    bound: float
    at_most: bool
    description: str

    def evaluate(self, results: dict) -> dict | None:
        """The ratio and whether it meets the bound; None when the run skipped either time."""
        if self.numerator not in results or self.denominator not in results:
            return None
        ratio = results[self.numerator] / results[self.denominator]
        met = ratio <= self.bound if self.at_most else ratio >= self.bound
        return {"ratio": ratio, "bound": self.bound, "at_most": self.at_most, "met": met,
                "numerator": self.numerator, "denominator": self.denominator, "description": self.description}


TARGETS = (
    Target("im2col_vs_torch_cpu", "conv_numpy_fast_s", "conv_torch_cpu_s", 3.0, True,
           "im2col in NumPy within 3x of PyTorch's CPU convolution"),
    Target("loop_vs_im2col", "conv_numpy_naive_s", "conv_numpy_fast_s", 50.0, False,
           "the loop version at least 50x slower than im2col"),
    Target("grading_jobs2_speedup", "grade_jobs1_s", "grade_jobs2_s", 1.6, False,
           "grading with --jobs 2 at least 1.6x faster than with --jobs 1"),
    Target("grading_overhead", "grade_jobs1_s", "notebook_exec_s", 1.5, True,
           "grading (--jobs 1) at most 1.5x the plain execution of the same notebooks"),
    Target("grading_vs_nbgrader_plain", "grade_jobs1_s", "grade_nbgrader_plain_s", 1.0, True,
           "sandboxed grading (--jobs 1) no slower than plain serial nbgrader autograde"),
    Target("grading_dask2_speedup", "grade_jobs1_s", "grade_dask2_s", 1.6, False,
           "grading on a two-worker Dask cluster at least 1.6x faster than with --jobs 1"),
)


def evaluate_targets(results: dict) -> dict[str, dict]:
    """Every target whose times the run measured."""
    evaluated = {target.name: target.evaluate(results) for target in TARGETS}
    return {name: value for name, value in evaluated.items() if value is not None}


def _seconds(value: float) -> str:
    return f"{value * 1e3:9.2f} ms" if value < 1 else f"{value:9.2f} s "


def _rows(title: str, rows: list[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    width = max(len(label) for label, _ in rows)
    return ["", title, "-" * len(title), *(f"  {label:<{width}}  {value}" for label, value in rows)]


def format_table(results: dict) -> str:
    """A plain-text summary of a run, section by section."""
    machine = results.get("machine", {})
    lines = [f"Benchmarks of {machine.get('date', '?')} on {machine.get('cpu_model', '?')}, "
             f"{machine.get('usable_cores', '?')} usable cores, GPU: {machine.get('gpu') or 'none'}; "
             f"load average {results.get('load_average_start')} -> {results.get('load_average_end')}"]
    conv = [(key[len("conv_"):-2], _seconds(results[key]) + f"  {results['conv_gflops'][key[:-2] + '_gflops']:7.1f} GFLOP/s")
            for key in ("conv_numpy_naive_s", "conv_numpy_fast_s", "conv_torch_cpu_s", "conv_torch_cuda_s")
            if key in results]
    peaks = [(key[len("matmul_"):-len("_gflops")] + " matmul peak", f"{results[key]:9.1f} GFLOP/s")
             for key in ("matmul_numpy_gflops", "matmul_torch_cpu_gflops", "matmul_torch_cuda_gflops") if key in results]
    layer = results.get("conv_layer", {})
    lines += _rows(f"Convolution, one forward pass (N={layer.get('n')}, C={layer.get('c')}, "
                   f"{layer.get('hw')}x{layer.get('hw')}, F={layer.get('f')}, {layer.get('k')}x{layer.get('k')}, "
                   f"{results.get('conv_threads')} threads)", conv + peaks)
    scaling = [(f"{p['hw']:3d} x {p['hw']:<3d} ({p['gflop']:6.3f} GFLOP)",
                "  ".join(f"{name[:-2]} {_seconds(p[name]).strip()}" for name in p if name.endswith("_s")))
               for p in results.get("conv_scaling", [])]
    lines += _rows("Convolution against layer size", scaling)
    grading = [(key, _seconds(results[key])) for key in
               ("grade_templates_s", "grade_jobs1_s", "grade_jobs2_s", "grade_dask2_s", "notebook_exec_s",
                "grade_nbgrader_plain_s", "grade_overhead_per_unit_s") if key in results]
    if grading:
        grading.insert(0, ("batch", f"{results['grading_students']} students x {len(results['grading_assignments'])} "
                                    f"assignments = {results['grading_units']} notebooks"))
    lines += _rows("Grading", grading)
    lines += _rows(f"Grading against class size ({results.get('class_size_assignment')}, --jobs "
                   f"{results.get('class_size_jobs')})",
                   [(f"{p['students']} students", _seconds(p["grade_jobs2_s"])) for p in results.get("class_size", [])])
    book = [(key, _seconds(results[key])) for key in ("book_build_clean_s", "book_build_cached_s") if key in results]
    if "book_pages_executed_clean" in results:
        book.append(("pages executed", f"{results['book_pages_executed_clean']} from scratch, "
                                       f"{results['book_pages_executed_cached']} with the cache warm "
                                       f"({results['book_pages_from_cache']} taken from it)"))
    lines += _rows("Book build", book)
    lines += _rows("Targets", [(name, f"{t['ratio']:7.2f} ({'<=' if t['at_most'] else '>='} {t['bound']:g}): "
                                      f"{'met' if t['met'] else 'NOT met'}")
                               for name, t in results.get("targets", {}).items()])
    problems = results.get("grading_problems", []) + ([] if results.get("book_build_ok", True) else ["the book build failed"])
    lines += _rows("Problems", [(str(i), p) for i, p in enumerate(problems, start=1)])
    if "wall_s" in results:
        lines += ["", f"Whole run: {results['wall_s']:.0f} s"]
    return "\n".join(lines)
