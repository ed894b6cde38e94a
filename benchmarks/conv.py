"""One convolutional layer timed three ways (loop, im2col, PyTorch), its scaling with the
layer's size, and the machine's matrix-multiply peak that bounds them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .reference import load_reference
from .timing import interleaved_medians, median_time

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Layer:
    """A convolutional layer: N images of C x HW x HW, F filters of K x K, zero padding."""

    n: int = 16
    c: int = 32
    hw: int = 32
    f: int = 64
    k: int = 3
    padding: int = 1

    @property
    def out_hw(self) -> int:
        return self.hw + 2 * self.padding - self.k + 1

    @property
    def flop(self) -> int:
        """Floating-point operations of one forward pass: a multiply and an add per tap."""
        return 2 * self.n * self.f * self.out_hw**2 * self.c * self.k**2

    def arrays(self, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Random float32 input, weights and bias."""
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((self.n, self.c, self.hw, self.hw), dtype=np.float32)
        w = rng.standard_normal((self.f, self.c, self.k, self.k), dtype=np.float32)
        b = rng.standard_normal(self.f, dtype=np.float32)
        return x, w, b


BENCHMARK_LAYER = Layer()
SCALING_SIZES = (8, 16, 24, 32, 48, 64)
QUICK_SCALING_SIZES = (8, 16, 32)


def reference_convolutions(solutions: Path = ROOT / "solutions") -> dict:
    """``conv2d_forward`` (assignment 02) and ``conv2d_fast`` (assignment 03), from the notebooks."""
    loop = load_reference(solutions / "02_convolution" / "02_convolution.ipynb", ["conv2d_forward"])
    fast = load_reference(solutions / "03_backprop_im2col" / "03_backprop_im2col.ipynb", ["conv2d_fast"])
    return {"numpy_naive": loop["conv2d_forward"], "numpy_fast": fast["conv2d_fast"]}


def _torch_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, padding: int, device: str):
    """A no-grad ``F.conv2d`` call on ``device``; tensors are made once, outside the timing.

    On CUDA the call waits for the GPU to finish, so that its time is the kernel's, not
    the launch's.
    """
    xt, wt, bt = (torch.from_numpy(a).to(device) for a in (x, w, b))
    sync = torch.cuda.synchronize if xt.is_cuda else (lambda: None)

    def run():
        with torch.no_grad():
            out = F.conv2d(xt, wt, bt, padding=padding)
        sync()
        return out

    return run


def check_agreement(implementations: dict, layer: Layer) -> float:
    """Largest relative difference of the NumPy versions from PyTorch on a small layer."""
    small = Layer(n=2, c=4, hw=9, f=5, k=3, padding=layer.padding)
    x, w, b = small.arrays(seed=1)
    want = _torch_conv(x, w, b, small.padding, "cpu")().numpy()
    worst = 0.0
    for function in implementations.values():
        got = np.asarray(function(x, w, b, padding=small.padding))
        if got.shape != want.shape:
            raise AssertionError(f"{function.__name__} returned shape {got.shape}, expected {want.shape}")
        worst = max(worst, float(np.max(np.abs(got - want)) / np.max(np.abs(want))))
    if worst > 1e-4:
        raise AssertionError(f"a reference convolution disagrees with F.conv2d (relative error {worst:.2e})")
    return worst


def layer_functions(implementations: dict, layer: Layer) -> dict:
    """Zero-argument calls that run one forward pass of ``layer``, keyed by implementation."""
    x, w, b = layer.arrays()
    functions = {name: partial(function, x, w, b, padding=layer.padding) for name, function in implementations.items()}
    functions["torch_cpu"] = _torch_conv(x, w, b, layer.padding, "cpu")
    if torch.cuda.is_available():
        functions["torch_cuda"] = _torch_conv(x, w, b, layer.padding, "cuda")
    return functions


def time_layer(implementations: dict, layer: Layer, repeats: int) -> dict[str, float]:
    """Median seconds of one forward pass of ``layer`` per implementation (keys ``conv_*_s``)."""
    medians = interleaved_medians(layer_functions(implementations, layer), repeats)
    return {f"conv_{name}_s": seconds for name, seconds in medians.items()}


def scaling_curve(fast, sizes: tuple[int, ...], repeats: int) -> list[dict]:
    """im2col and PyTorch time against the layer's size (its height and width; N, C, F fixed)."""
    points = []
    for hw in sizes:
        layer = Layer(hw=hw)
        medians = interleaved_medians(layer_functions({"numpy_fast": fast}, layer), repeats)
        points.append({"hw": hw, "gflop": layer.flop / 1e9, **{f"{name}_s": s for name, s in medians.items()}})
    return points


def matmul_peak(size: int, repeats: int) -> dict[str, float]:
    """GFLOP/s of a ``size`` x ``size`` float32 matrix product in NumPy and PyTorch (CPU, and CUDA)."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    flop = 2 * size**3
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    peak = {
        "matmul_size": size,
        "matmul_numpy_gflops": flop / median_time(lambda: a @ b, repeats) / 1e9,
        "matmul_torch_cpu_gflops": flop / median_time(lambda: torch.mm(ta, tb), repeats) / 1e9,
    }
    if torch.cuda.is_available():
        ca, cb = ta.cuda(), tb.cuda()
        seconds = median_time(lambda: torch.mm(ca, cb), repeats, warmup=3, sync=torch.cuda.synchronize)
        peak["matmul_torch_cuda_gflops"] = flop / seconds / 1e9
    return peak


def achieved_gflops(times: dict[str, float], layer: Layer) -> dict[str, float]:
    """GFLOP/s of each timed implementation on ``layer``."""
    return {key[: -len("_s")] + "_gflops": layer.flop / seconds / 1e9 for key, seconds in times.items()}


def run_conv_benchmarks(quick: bool) -> dict:
    """Every convolution benchmark; the keys of the results file that start with conv_ and matmul_."""
    implementations = reference_convolutions()
    layer = BENCHMARK_LAYER
    error = check_agreement(implementations, layer)
    times = time_layer(implementations, layer, 6 if quick else 15)
    return {
        "conv_layer": {**asdict(layer), "gflop": layer.flop / 1e9, "dtype": "float32"},
        "conv_max_relative_error": error,
        **times,
        "conv_gflops": achieved_gflops(times, layer),
        **matmul_peak(1024 if quick else 2048, 5 if quick else 9),
        "conv_scaling": scaling_curve(
            implementations["numpy_fast"], QUICK_SCALING_SIZES if quick else SCALING_SIZES, 6 if quick else 9
        ),
    }
