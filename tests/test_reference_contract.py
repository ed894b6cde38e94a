"""The reference solutions keep the contract of the graded functions (exercises/README.md).

The reference solution cells of ``solutions/`` (with the set-up cells they need) run in
this process; each graded function is probed against ``torch.nn.functional`` and autograd
on random configurations, for the dtype rule of the NumPy parts (float64 for integer
input, the input's float dtype otherwise, float16 included), and on bad input, which must
raise ``ValueError``.
"""

from __future__ import annotations

import itertools

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import SOLUTIONS

# The locked cells each assignment's solution cells need (imports and given helpers).
SETUP_CELLS = {
    "02_convolution": ["imports", "helper_as_pair", "imports_torch"],
    "03_backprop_im2col": ["setup", "helpers"],
    "04_pooling_upsampling": ["setup", "helpers"],
    "05_receptive_fields": ["setup"],
}


def _load(assignment: str) -> dict:
    nb = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    namespace: dict = {"__name__": f"reference_{assignment}"}
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    cells = [by_id[g] for g in SETUP_CELLS[assignment]]
    cells += [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for cell in sorted(cells, key=nb.cells.index):
        exec(compile(cell.source, f"<{assignment}:{cell.metadata['nbgrader']['grade_id']}>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def ref02() -> dict:
    return _load("02_convolution")


@pytest.fixture(scope="module")
def ref03() -> dict:
    return _load("03_backprop_im2col")


@pytest.fixture(scope="module")
def ref04() -> dict:
    return _load("04_pooling_upsampling")


@pytest.fixture(scope="module")
def ref05() -> dict:
    return _load("05_receptive_fields")


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _random_conv_configs(rng: np.random.Generator, count: int) -> list[dict]:
    """Layers whose dilated kernel fits in the padded input."""
    configs = []
    while len(configs) < count:
        n, c, f = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(3, 10, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
        if dilation[0] * (kh - 1) + 1 > h + 2 * padding[0] or dilation[1] * (kw - 1) + 1 > w + 2 * padding[1]:
            continue
        configs.append({"x": rng.normal(size=(n, c, h, w)), "w": rng.normal(size=(f, c, kh, kw)), "b": rng.normal(size=f),
                        "stride": stride, "padding": padding, "dilation": dilation})
    return configs


def _expect_dtype(function, make_args, name: str) -> None:
    """float64 for integer input, the input's float dtype otherwise."""
    for dtype, want in [(np.int64, np.float64), (np.int32, np.float64), (np.float16, np.float16),
                        (np.float32, np.float32), (np.float64, np.float64)]:
        result = function(*make_args(dtype))
        results = result if isinstance(result, tuple) else (result,)
        for r in results:
            assert isinstance(r, np.ndarray) and r.dtype == want, f"{name}: {np.dtype(dtype)} input gave {getattr(r, 'dtype', type(r))}, expected {np.dtype(want)}"


# ------------------------------------------------------------------------------- 02
def test_02_conv_output_size_matches_pytorch(ref02):
    conv_output_size = ref02["conv_output_size"]
    for n, k, s, p, d in itertools.product(range(1, 9), range(1, 5), range(1, 4), range(0, 3), range(1, 3)):
        span = d * (k - 1) + 1
        if span > n + 2 * p:
            with pytest.raises(ValueError):
                conv_output_size(n, k, s, p, d)
            continue
        got = conv_output_size(n, k, s, p, d)
        want = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
        assert type(got) is int and got == want, (n, k, s, p, d, got, want)


@pytest.mark.parametrize("args", [(-3, 1), (0, 1), (5, 3, 2.0), (5, 3, 1.5), (5.0, 3), (5, 3, True), ("5", 3),
                                  (5, 6, 2), (6, 4, 2, 0, 2), (5, 3, 0), (5, 3, 1, -1), (5, 3, 1, 0, 0), (5, 0)])
def test_02_conv_output_size_rejects_bad_input(ref02, args):
    with pytest.raises(ValueError):
        ref02["conv_output_size"](*args)


@pytest.mark.parametrize("value", [2.7, True, "2", (1, 2, 3), (1.5, 2), (True, 1), None])
@pytest.mark.parametrize("assignment", ["ref02", "ref03", "ref04"])
def test_as_pair_rejects_what_is_not_an_int_or_a_pair(request, assignment, value):
    as_pair = request.getfixturevalue(assignment)["as_pair"]
    with pytest.raises(ValueError):
        as_pair(value)
    assert as_pair(3) == (3, 3) and as_pair((1, 2)) == (1, 2) and as_pair(np.int64(2)) == (2, 2)


def test_02_numpy_functions_match_pytorch(ref02):
    rng = np.random.default_rng(0)
    for _ in range(20):
        length, size = int(rng.integers(3, 12)), int(rng.integers(1, 4))
        x, w, b = rng.normal(size=length), rng.normal(size=size), float(rng.normal())
        want = F.conv1d(_t(x)[None, None], _t(w)[None, None]).numpy()[0, 0] + b
        np.testing.assert_allclose(ref02["conv1d"](x, w, b), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ref02["conv_matrix"](w, length) @ x, want - b, rtol=1e-12, atol=1e-12)
        x2, k2 = rng.normal(size=(length, length + 1)), rng.normal(size=(size, size + 1))
        want2 = F.conv2d(_t(x2)[None, None], _t(k2)[None, None]).numpy()[0, 0]
        np.testing.assert_allclose(ref02["corr2d"](x2, k2), want2, rtol=1e-12, atol=1e-12)
        flipped = F.conv2d(_t(x2)[None, None], _t(k2[::-1, ::-1].copy())[None, None]).numpy()[0, 0]
        np.testing.assert_allclose(ref02["convolve2d"](x2, k2), flipped, rtol=1e-12, atol=1e-12)
    for cfg in _random_conv_configs(rng, 30):
        want = F.conv2d(_t(cfg["x"]), _t(cfg["w"]), _t(cfg["b"]), stride=cfg["stride"], padding=cfg["padding"],
                        dilation=cfg["dilation"]).numpy()
        got = ref02["conv2d_forward"](cfg["x"], cfg["w"], cfg["b"], cfg["stride"], cfg["padding"], cfg["dilation"])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
        padded = ref02["pad2d"](cfg["x"], cfg["padding"])
        ph, pw = cfg["padding"]
        np.testing.assert_array_equal(padded, F.pad(_t(cfg["x"]), (pw, pw, ph, ph)).numpy())


def test_02_dtype_rule(ref02):
    rng = np.random.default_rng(1)
    x1, w1 = rng.integers(-3, 4, size=9), rng.integers(-3, 4, size=3)
    x2, k2 = rng.integers(-3, 4, size=(5, 6)), rng.integers(-3, 4, size=(2, 3))
    x4, w4, b4 = rng.integers(-3, 4, size=(2, 3, 6, 5)), rng.integers(-3, 4, size=(4, 3, 3, 2)), rng.integers(-3, 4, size=4)
    _expect_dtype(ref02["conv1d"], lambda d: (x1.astype(d), w1.astype(d)), "conv1d")
    _expect_dtype(lambda w: ref02["conv_matrix"](w, 9), lambda d: (w1.astype(d),), "conv_matrix")
    _expect_dtype(ref02["corr2d"], lambda d: (x2.astype(d), k2.astype(d)), "corr2d")
    _expect_dtype(ref02["convolve2d"], lambda d: (x2.astype(d), k2.astype(d)), "convolve2d")
    _expect_dtype(lambda x: ref02["pad2d"](x, 1), lambda d: (x4.astype(d),), "pad2d")
    _expect_dtype(lambda x, w, b: ref02["conv2d_forward"](x, w, b, stride=2, padding=1),
                  lambda d: (x4.astype(d), w4.astype(d), b4.astype(d)), "conv2d_forward")


def test_02_conv2d_torch_matches_pytorch_and_autograd(ref02):
    conv2d_torch = ref02["conv2d_torch"]
    rng = np.random.default_rng(2)
    for cfg in _random_conv_configs(rng, 12):
        groups = 1
        x, w, b = _t(cfg["x"]).requires_grad_(), _t(cfg["w"]).requires_grad_(), _t(cfg["b"]).requires_grad_()
        kwargs = {k: cfg[k] for k in ("stride", "padding", "dilation")}
        got = conv2d_torch(x, w, b, groups=groups, **kwargs)
        want = F.conv2d(x, w, b, groups=groups, **kwargs)
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        seed = torch.randn_like(want)
        grads = torch.autograd.grad(got, (x, w, b), seed)
        want_grads = torch.autograd.grad(want, (x, w, b), seed)
        for g, e in zip(grads, want_grads, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)
    x, w = torch.randn(2, 4, 7, 6, dtype=torch.float64), torch.randn(6, 2, 3, 3, dtype=torch.float64)
    torch.testing.assert_close(conv2d_torch(x, w, groups=2, padding=1), F.conv2d(x, w, groups=2, padding=1))
    for dtype in (torch.float16, torch.float32):
        assert conv2d_torch(x.to(dtype), w.to(dtype), groups=2).dtype == dtype
    meta = conv2d_torch(torch.empty(2, 4, 9, 8, device="meta"), torch.empty(6, 2, 3, 3, device="meta"), groups=2)
    assert meta.device.type == "meta"
    for bad in [dict(stride=0), dict(padding=-1), dict(dilation=0), dict(groups=3)]:
        with pytest.raises(ValueError):
            conv2d_torch(x, w, **({"groups": 2} | bad))
    with pytest.raises(ValueError):
        conv2d_torch(x[0], w, groups=2)


# ------------------------------------------------------------------------------- 03
def test_03_im2col_conv2d_fast_and_backward_match_pytorch(ref03):
    rng = np.random.default_rng(3)
    for cfg in _random_conv_configs(rng, 20):
        kwargs = {k: cfg[k] for k in ("stride", "padding", "dilation")}
        kh, kw = cfg["w"].shape[2:]
        cols = ref03["im2col"](cfg["x"], (kh, kw), cfg["stride"], cfg["padding"], cfg["dilation"])
        np.testing.assert_allclose(cols, F.unfold(_t(cfg["x"]), (kh, kw), **kwargs).numpy(), rtol=0, atol=0)
        x, w, b = (_t(cfg[k]).requires_grad_() for k in ("x", "w", "b"))
        out = F.conv2d(x, w, b, **kwargs)
        np.testing.assert_allclose(ref03["conv2d_fast"](cfg["x"], cfg["w"], cfg["b"], **kwargs), out.detach().numpy(),
                                   rtol=1e-10, atol=1e-10)
        dout = torch.randn_like(out)
        want = torch.autograd.grad(out, (x, w, b), dout)
        got = ref03["conv2d_backward"](dout.numpy(), cfg["x"], cfg["w"], cfg["b"], **kwargs)
        for g, e in zip(got, want, strict=True):
            np.testing.assert_allclose(g, e.numpy(), rtol=1e-10, atol=1e-10)
        got_t = ref03["conv2d_backward_torch"](dout, x.detach(), w.detach(), b.detach(), **kwargs)
        for g, e in zip(got_t, want, strict=True):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)


def test_03_dtype_rule(ref03):
    rng = np.random.default_rng(4)
    x, w, b = rng.integers(-3, 4, size=(2, 3, 6, 5)), rng.integers(-3, 4, size=(4, 3, 3, 2)), rng.integers(-3, 4, size=4)
    dout = rng.integers(-3, 4, size=(2, 4, 3, 3))
    _expect_dtype(lambda x: ref03["im2col"](x, (3, 2), 2, 1), lambda d: (x.astype(d),), "im2col")
    _expect_dtype(lambda x, w, b: ref03["conv2d_fast"](x, w, b, stride=2, padding=1),
                  lambda d: (x.astype(d), w.astype(d), b.astype(d)), "conv2d_fast")
    _expect_dtype(lambda dout, x, w, b: ref03["conv2d_backward"](dout, x, w, b, stride=2, padding=1),
                  lambda d: (dout.astype(d), x.astype(d), w.astype(d), b.astype(d)), "conv2d_backward")


# ------------------------------------------------------------------------------- 04
def test_04_pooling_matches_pytorch(ref04):
    rng = np.random.default_rng(5)
    for _ in range(25):
        h, w = (int(v) for v in rng.integers(3, 10, size=2))
        k = (int(rng.integers(1, min(h, w) + 1)), int(rng.integers(1, min(h, w) + 1)))
        stride = None if rng.random() < 0.3 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        x_np = rng.normal(size=(2, 3, h, w))
        x = _t(x_np).requires_grad_()
        want = F.max_pool2d(x, k, stride=stride)
        np.testing.assert_array_equal(ref04["maxpool2d_forward"](x_np, k, stride), want.detach().numpy())
        np.testing.assert_allclose(ref04["avgpool2d_forward"](x_np, k, stride), F.avg_pool2d(_t(x_np), k, stride=stride).numpy(),
                                   rtol=1e-12, atol=1e-12)
        dout = torch.randn_like(want)
        (dx,) = torch.autograd.grad(want, x, dout)
        np.testing.assert_allclose(ref04["maxpool2d_backward"](dout.numpy(), x_np, k, stride), dx.numpy(), rtol=1e-12, atol=1e-12)
        xt = _t(x_np).requires_grad_()
        got = ref04["maxpool2d_torch"](xt, k, stride)
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(torch.autograd.grad(got, xt, dout)[0], dx)
        np.testing.assert_allclose(ref04["global_avgpool"](x_np), x_np.mean(axis=(2, 3)), rtol=1e-12, atol=1e-12)


def test_04_conv_transpose2d_torch_matches_pytorch(ref04):
    conv_transpose2d_torch = ref04["conv_transpose2d_torch"]
    rng = np.random.default_rng(6)
    for _ in range(20):
        c, f = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(1, 6, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
        ph, pw = min(int(rng.integers(0, 3)), (kh - 1)), min(int(rng.integers(0, 3)), (kw - 1))
        x, wt, b = (torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((2, c, h, w), (c, f, kh, kw), (f,)))
        if (h - 1) * sh + kh - 2 * ph < 1 or (w - 1) * sw + kw - 2 * pw < 1:  # the padding leaves nothing
            with pytest.raises(ValueError):
                conv_transpose2d_torch(x, wt, b, stride=(sh, sw), padding=(ph, pw))
            continue
        got = conv_transpose2d_torch(x, wt, b, stride=(sh, sw), padding=(ph, pw))
        want = F.conv_transpose2d(x, wt, b, stride=(sh, sw), padding=(ph, pw))
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
        seed = torch.randn_like(want)
        for g, e in zip(torch.autograd.grad(got, (x, wt, b), seed), torch.autograd.grad(want, (x, wt, b), seed), strict=True):
            torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-10)
    x = torch.randn(1, 2, 4, 4, dtype=torch.float64)
    for w_shape in [(2, 3, 0, 3), (2, 3, 3, 0)]:
        with pytest.raises(ValueError):
            conv_transpose2d_torch(x, torch.randn(w_shape, dtype=torch.float64))
    with pytest.raises(ValueError):
        conv_transpose2d_torch(x, torch.randn(3, 3, 2, 2))  # channel mismatch
    with pytest.raises(ValueError):
        conv_transpose2d_torch(x, torch.randn(2, 3, 2, 2), stride=0)


def test_04_dtype_rule_and_bad_input(ref04):
    rng = np.random.default_rng(7)
    x, dout = rng.integers(-5, 6, size=(2, 3, 6, 7)), rng.normal(size=(2, 3, 3, 3))
    _expect_dtype(lambda x: ref04["maxpool2d_forward"](x, 2), lambda d: (x.astype(d),), "maxpool2d_forward")
    _expect_dtype(lambda x: ref04["avgpool2d_forward"](x, 2), lambda d: (x.astype(d),), "avgpool2d_forward")
    _expect_dtype(ref04["global_avgpool"], lambda d: (x.astype(d),), "global_avgpool")
    _expect_dtype(lambda dout, x: ref04["maxpool2d_backward"](dout, x, 2),
                  lambda d: (dout.astype(d), x.astype(d)), "maxpool2d_backward")
    for function in ("maxpool2d_forward", "avgpool2d_forward"):
        for args in [(x[0], 2), (x, 8), (x, 0), (x, 2, 0), (x, 2.5), (x, True)]:
            with pytest.raises(ValueError):
                ref04[function](*args)


# ------------------------------------------------------------------------------- 05
def _layer(kind: str, k: int, s: int, d: int) -> nn.Module:
    return nn.Conv2d(2, 2, k, stride=s, dilation=d) if kind == "conv" else nn.MaxPool2d(k, stride=s, dilation=d)


def test_05_empirical_receptive_field_equals_the_formula(ref05):
    rng = np.random.default_rng(8)
    receptive_field, empirical = ref05["receptive_field"], ref05["empirical_receptive_field"]
    assert empirical(nn.Sequential(nn.MaxPool2d(3, stride=1, dilation=2)), (1, 15, 15)) == 5
    assert empirical(nn.Sequential(nn.MaxPool2d(2, stride=2, dilation=3)), (1, 16, 16)) == 4
    for _ in range(15):
        layers, modules = [], [nn.Conv2d(1, 2, 1)]
        for _ in range(int(rng.integers(1, 4))):
            k, s, d = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
            kind = "conv" if rng.random() < 0.5 else "pool"
            if kind == "pool" and (k - 1) * d + 1 < 2:
                k = 2
            layers.append((k, s, d))
            modules.append(_layer(kind, k, s, d))
        want = receptive_field(layers)
        assert empirical(nn.Sequential(*modules), (1, 4 * want + 9, 4 * want + 9)) == want, layers


class _Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0


@pytest.mark.parametrize("model, shape", [
    (nn.Sequential(nn.Conv2d(1, 1, 3), _Zero()), (1, 9, 9)),  # no input reaches the centre unit
    (nn.Sequential(nn.Conv2d(1, 1, 5)), (1, 3, 3)),  # the input is too small
    (nn.Sequential(nn.MaxPool2d(3, dilation=3)), (1, 5, 5)),  # the dilated window does not fit
    (nn.Sequential(nn.Conv2d(1, 1, 3)), (9, 9)),  # not (C, H, W)
    (nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 0, 9)),
])
def test_05_empirical_receptive_field_raises_value_error(ref05, model, shape):
    with pytest.raises(ValueError):
        ref05["empirical_receptive_field"](model, shape)
