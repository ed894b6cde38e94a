"""Correct variants and classic mistakes for 03_backprop_im2col (see README.md here).

Every source is a whole solution cell: it imports what it needs and defines its own
private helpers, so it relies on no other graded function (nor on the notebook's
provided helpers).
"""

# ----------------------------------------------------------------------------- helpers
# Pasted into the sources below: pair/size helpers with the validation the contract asks for.
_HELPERS = '''import numpy as np


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _out(n, k, s, p, d):
    if k < 1 or s < 1 or d < 1 or p < 0:
        raise ValueError(f"bad settings: kernel {k}, stride {s}, padding {p}, dilation {d}")
    size = (n + 2 * p - d * (k - 1) - 1) // s + 1
    if size < 1:
        raise ValueError(f"kernel larger than the padded input ({n + 2 * p} pixels)")
    return size


def _check(x, w):
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError("x and w must be 4-D")
    if x.shape[1] != w.shape[1]:
        raise ValueError("channel mismatch between x and w")
'''

# ----------------------------------------------------------------- conv2d_backward
_BACKWARD_LOOPS = _HELPERS + '''

def conv2d_backward(dout, x, w, b, stride=1, padding=0, dilation=1):
    """Gradients by a loop over output positions."""
    dout, x, w, b = (np.asarray(a, dtype=np.float64) for a in (dout, x, w, b))
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    nf, _, kh, kw = w.shape
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(ho):
        for j in range(wo):
            rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
            cols = slice(j * sw, j * sw + dl * (kw - 1) + 1, dl)
            g = dout[:, :, i, j]  # (N, F)
            dw += np.einsum("nf,ncuv->fcuv", g, xp[:, :, rows, cols])
            dxp[:, :, rows, cols] += np.einsum("nf,fcuv->ncuv", g, w)
    return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))
'''

_BACKWARD_COL2IM = _HELPERS + '''

def _columns(xp, kh, kw, ho, wo, sh, sw, dh, dl):
    n, c = xp.shape[:2]
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = xp[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dl : v * dl + sw * (wo - 1) + 1 : sw]
    return cols


def conv2d_backward(dout, x, w, b, stride=1, padding=0, dilation=1):
    """Matrix form: dw = dout @ cols^T, dcols = W^T @ dout, then col2im with np.add.at."""
    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, wd = x.shape
    nf, _, kh, kw = w.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(wd, kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = _columns(xp, kh, kw, ho, wo, sh, sw, dh, dl).reshape(n, c * kh * kw, ho * wo)
    g = dout.reshape(n, nf, ho * wo)
    dw = np.einsum("nfl,nkl->fk", g, cols).reshape(w.shape)
    dcols = np.einsum("fk,nfl->nkl", w.reshape(nf, -1), g).reshape(n, c, kh, kw, ho, wo)
    rows = (np.arange(kh)[:, None, None, None] * dh + sh * np.arange(ho)[None, None, :, None])
    cols_idx = (np.arange(kw)[None, :, None, None] * dl + sw * np.arange(wo)[None, None, None, :])
    rows, cols_idx = np.broadcast_arrays(rows, cols_idx)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, w))
    np.add.at(dxp, (slice(None), slice(None), rows, cols_idx), dcols)
    return dxp[:, :, ph : ph + h, pw : pw + wd], dw, dout.sum(axis=(0, 2, 3))
'''

_BACKWARD_FLOAT64 = _HELPERS + '''

def conv2d_backward(dout, x, w, b, stride=1, padding=0, dilation=1):
    """Loop over kernel offsets with tensordot, always accumulating in float64."""
    dout, x, w, b = (np.asarray(a).astype(np.float64) for a in (dout, x, w, b))
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    nf, c, kh, kw = w.shape
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.empty_like(w)
    for u in range(kh):
        for v in range(kw):
            r = slice(u * dh, u * dh + sh * (ho - 1) + 1, sh)
            q = slice(v * dl, v * dl + sw * (wo - 1) + 1, sw)
            dw[:, :, u, v] = np.tensordot(dout, xp[:, :, r, q], axes=([0, 2, 3], [0, 2, 3]))
            dxp[:, :, r, q] += np.tensordot(dout, w[:, :, u, v], axes=([1], [0])).transpose(0, 3, 1, 2)
    db = np.sum(dout, axis=(0, 2, 3))
    return dxp[:, :, ph : xp.shape[2] - ph, pw : xp.shape[3] - pw], dw, db
'''


def _backward_loops_with(old: str, new: str) -> str:
    assert old in _BACKWARD_LOOPS, old
    return _BACKWARD_LOOPS.replace(old, new)


_BACKWARD_MISTAKES = {
    "gradients of overlapping windows overwritten (=) instead of summed (+=)": _backward_loops_with(
        "dxp[:, :, rows, cols] += ", "dxp[:, :, rows, cols] = "
    ),
    "kernel flipped when sending the gradient back to x": _backward_loops_with(
        '"nf,fcuv->ncuv", g, w)', '"nf,fcuv->ncuv", g, w[:, :, ::-1, ::-1])'
    ),
    "dw from the first sample only (not summed over the batch)": _backward_loops_with(
        'dw += np.einsum("nf,ncuv->fcuv", g, xp[:, :, rows, cols])',
        'dw += np.einsum("f,cuv->fcuv", g[0], xp[0, :, rows, cols])',
    ),
    "db averaged instead of summed": _backward_loops_with("dout.sum(axis=(0, 2, 3))", "dout.mean(axis=(0, 2, 3))"),
    "padding not cropped from dx": _backward_loops_with(
        "return dxp[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], dw,", "return dxp, dw,"
    ),
    "stride ignored when placing gradients into dx": _backward_loops_with(
        "dxp[:, :, rows, cols] += np.einsum",
        "dxp[:, :, i : i + dh * (kh - 1) + 1 : dh, j : j + dl * (kw - 1) + 1 : dl] += np.einsum",
    ),
    "dilation ignored inside the window (output size right)": _backward_loops_with(
        "rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)\n            cols = slice(j * sw, j * sw + dl * (kw - 1) + 1, dl)",
        "rows = slice(i * sh, i * sh + kh)\n            cols = slice(j * sw, j * sw + kw)",
    ),
}

# ----------------------------------------------------------------------------- im2col
_IM2COL_OFFSETS = _HELPERS + '''

def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """One strided slice per kernel offset."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("x must be 4-D")
    (kh, kw), (sh, sw), (ph, pw), (dh, dl) = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = xp[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dl : v * dl + sw * (wo - 1) + 1 : sw]
    return cols.reshape(n, c * kh * kw, ho * wo)
'''

_IM2COL_LOOPS = _HELPERS + '''

def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """A loop over output positions: one column per position."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError("x must be 4-D")
    (kh, kw), (sh, sw), (ph, pw), (dh, dl) = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.zeros((n, c * kh * kw, ho * wo))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dl * (kw - 1) + 1 : dl]
            cols[:, :, i * wo + j] = window.reshape(n, -1)
    return cols
'''

_IM2COL_FANCY = _HELPERS + '''

def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """Fancy indexing with precomputed row and column index arrays."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("x must be 4-D")
    (kh, kw), (sh, sw), (ph, pw), (dh, dl) = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    u, v, i, j = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(ho), np.arange(wo), indexing="ij")
    rows = (u * dh + i * sh).reshape(kh * kw, ho * wo)
    cols = (v * dl + j * sw).reshape(kh * kw, ho * wo)
    patches = xp[:, :, rows, cols]  # (N, C, KH*KW, H'*W')
    return patches.reshape(n, c * kh * kw, ho * wo)
'''

_IM2COL_STRIDED = _HELPERS + '''
from numpy.lib.stride_tricks import sliding_window_view


def im2col(x, kernel_size, stride=1, padding=0, dilation=1):
    """sliding_window_view over the dilated extent, then subsampled."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("x must be 4-D")
    (kh, kw), (sh, sw), (ph, pw), (dh, dl) = _pair(kernel_size), _pair(stride), _pair(padding), _pair(dilation)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(xp, (dh * (kh - 1) + 1, dl * (kw - 1) + 1), axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dl][:, :, :ho, :wo]  # (N, C, H', W', KH, KW)
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * kh * kw, ho * wo)
'''


def _im2col_with(old: str, new: str) -> str:
    assert old in _IM2COL_OFFSETS, old
    return _IM2COL_OFFSETS.replace(old, new)


_IM2COL_MISTAKES = {
    "rows ordered (kernel row, kernel column, channel)": _im2col_with(
        "return cols.reshape(n, c * kh * kw, ho * wo)", "return cols.transpose(0, 2, 3, 1, 4, 5).reshape(n, c * kh * kw, ho * wo)"
    ),
    "columns in column-major order (j * H' + i)": _im2col_with(
        "return cols.reshape(n, c * kh * kw, ho * wo)", "return cols.transpose(0, 1, 2, 3, 5, 4).reshape(n, c * kh * kw, ho * wo)"
    ),
    "dilation ignored inside the window": _im2col_with(
        "cols[:, :, u, v] = xp[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dl : v * dl + sw * (wo - 1) + 1 : sw]",
        "cols[:, :, u, v] = xp[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]",
    ),
    "stride ignored when slicing": _im2col_with(
        "cols[:, :, u, v] = xp[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dl : v * dl + sw * (wo - 1) + 1 : sw]",
        "cols[:, :, u, v] = xp[:, :, u * dh : u * dh + ho, v * dl : v * dl + wo]",
    ),
    "padding on one side only": _im2col_with(
        "xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))", "xp = np.pad(x, ((0, 0), (0, 0), (2 * ph, 0), (2 * pw, 0)))"
    ),
    "output size without the '- 1 ... + 1' (off by one)": _im2col_with(
        "ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)",
        "_out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dl)\n"
        "    ho, wo = (h + 2 * ph - dh * (kh - 1)) // sh, (w + 2 * pw - dl * (kw - 1)) // sw",
    ),
}

# ------------------------------------------------------------------------ conv2d_fast
_FAST_PREAMBLE = _HELPERS + '''

def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dl, ho, wo):
    n, c = x.shape[:2]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((n, c, kh, kw, ho, wo), dtype=xp.dtype)
    for u in range(kh):
        for v in range(kw):
            cols[:, :, u, v] = xp[:, :, u * dh : u * dh + sh * (ho - 1) + 1 : sh, v * dl : v * dl + sw * (wo - 1) + 1 : sw]
    return cols.reshape(n, c * kh * kw, ho * wo)
'''

_FAST_MATMUL = _FAST_PREAMBLE + '''

def conv2d_fast(x, w, b, stride=1, padding=0, dilation=1):
    """im2col, then one broadcast matrix product."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    n = x.shape[0]
    nf, c, kh, kw = w.shape
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    cols = _im2col(x, kh, kw, sh, sw, ph, pw, dh, dl, ho, wo)
    out = w.reshape(nf, c * kh * kw) @ cols
    out += b.reshape(1, nf, 1)
    return out.reshape(n, nf, ho, wo)
'''

_FAST_PER_SAMPLE = _FAST_PREAMBLE + '''

def conv2d_fast(x, w, b, stride=1, padding=0, dilation=1):
    """im2col, then one matrix product per sample."""
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    nf, c, kh, kw = w.shape
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    cols = _im2col(x, kh, kw, sh, sw, ph, pw, dh, dl, ho, wo)
    wmat = w.reshape(nf, -1)
    out = np.stack([wmat @ cols[i] + b[:, None] for i in range(x.shape[0])])
    return out.reshape(x.shape[0], nf, ho, wo)
'''

_FAST_FLOAT64 = _FAST_PREAMBLE + '''

def conv2d_fast(x, w, b, stride=1, padding=0, dilation=1):
    """im2col in float64 and one tensordot over the whole batch (columns side by side)."""
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    nf, c, kh, kw = w.shape
    n = x.shape[0]
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    cols = _im2col(x, kh, kw, sh, sw, ph, pw, dh, dl, ho, wo)  # (N, K, L)
    wide = cols.transpose(1, 0, 2).reshape(c * kh * kw, n * ho * wo)  # (K, N*L)
    out = w.reshape(nf, -1) @ wide + b[:, None]  # (F, N*L)
    return out.reshape(nf, n, ho, wo).transpose(1, 0, 2, 3)
'''


def _fast_with(old: str, new: str) -> str:
    assert old in _FAST_MATMUL, old
    return _FAST_MATMUL.replace(old, new)


_FAST_MISTAKES = {
    "too slow: a loop over output positions (right values)": _HELPERS + '''

def conv2d_fast(x, w, b, stride=1, padding=0, dilation=1):
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check(x, w)
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    nf, c, kh, kw = w.shape
    ho, wo = _out(x.shape[2], kh, sh, ph, dh), _out(x.shape[3], kw, sw, pw, dl)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((x.shape[0], nf, ho, wo), dtype=np.result_type(x, w))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dl * (kw - 1) + 1 : dl]
            out[:, :, i, j] = np.tensordot(win, w, axes=([1, 2, 3], [1, 2, 3]))
    return out + b[None, :, None, None]
''',
    "bias missing": _fast_with("    out += b.reshape(1, nf, 1)\n", ""),
    "kernel flipped (true convolution)": _fast_with(
        "out = w.reshape(nf, c * kh * kw) @ cols", "out = w[:, :, ::-1, ::-1].reshape(nf, c * kh * kw) @ cols"
    ),
    "weights flattened as (kernel row, kernel column, channel)": _fast_with(
        "out = w.reshape(nf, c * kh * kw) @ cols", "out = w.transpose(0, 2, 3, 1).reshape(nf, c * kh * kw) @ cols"
    ),
    "output reshaped to (N, F, W', H') and transposed": _fast_with(
        "return out.reshape(n, nf, ho, wo)", "return out.reshape(n, nf, wo, ho).transpose(0, 1, 3, 2)"
    ),
    "padding ignored": _fast_with(
        "cols = _im2col(x, kh, kw, sh, sw, ph, pw, dh, dl, ho, wo)",
        "ho, wo = _out(x.shape[2], kh, sh, 0, dh), _out(x.shape[3], kw, sw, 0, dl)\n"
        "    cols = _im2col(x, kh, kw, sh, sw, 0, 0, dh, dl, ho, wo)",
    ),
}

# -------------------------------------------------------------- conv2d_backward_torch
_TORCH_HELPERS = '''import torch
import torch.nn.functional as F


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _validate(dout, x, w, b, stride, padding, dilation):
    if x.dim() != 4 or w.dim() != 4:
        raise ValueError("x and w must be 4-D")
    if x.shape[1] != w.shape[1]:
        raise ValueError("channel mismatch between x and w")
    (sh, sw), (ph, pw), (dh, dl) = _pair(stride), _pair(padding), _pair(dilation)
    if min(sh, sw, dh, dl) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1, padding >= 0")
    if dh * (w.shape[2] - 1) + 1 > x.shape[2] + 2 * ph or dl * (w.shape[3] - 1) + 1 > x.shape[3] + 2 * pw:
        raise ValueError("kernel larger than the padded input")
    return (sh, sw), (ph, pw), (dh, dl)
'''

_TORCH_GRAD = _TORCH_HELPERS + '''

def conv2d_backward_torch(dout, x, w, b, stride=1, padding=0, dilation=1):
    """torch.autograd.grad on detached leaves."""
    s, p, d = _validate(dout, x, w, b, stride, padding, dilation)
    leaves = [t.detach().requires_grad_(True) for t in (x, w, b)]
    with torch.enable_grad():
        out = F.conv2d(leaves[0], leaves[1], leaves[2], stride=s, padding=p, dilation=d)
    return tuple(torch.autograd.grad(out, leaves, grad_outputs=dout))
'''

_TORCH_VJP = _TORCH_HELPERS + '''

def conv2d_backward_torch(dout, x, w, b, stride=1, padding=0, dilation=1):
    """torch.func.vjp: the vector-Jacobian product with dout."""
    s, p, d = _validate(dout, x, w, b, stride, padding, dilation)

    def layer(x_, w_, b_):
        return F.conv2d(x_, w_, b_, stride=s, padding=p, dilation=d)

    with torch.enable_grad():
        _, pullback = torch.func.vjp(layer, x.detach(), w.detach(), b.detach())
        return tuple(pullback(dout))
'''

_TORCH_BACKWARD = _TORCH_HELPERS + '''

def conv2d_backward_torch(dout, x, w, b, stride=1, padding=0, dilation=1):
    """.backward(dout) on cloned leaves, then their .grad."""
    s, p, d = _validate(dout, x, w, b, stride, padding, dilation)
    xs, ws, bs = (t.detach().clone().requires_grad_(True) for t in (x, w, b))
    with torch.enable_grad():
        F.conv2d(xs, ws, bs, stride=s, padding=p, dilation=d).backward(dout)
    return xs.grad, ws.grad, bs.grad
'''


def _torch_with(old: str, new: str) -> str:
    assert old in _TORCH_GRAD, old
    return _TORCH_GRAD.replace(old, new)


_TORCH_MISTAKES = {
    "dout ignored: gradients of out.sum()": _torch_with(
        "grad_outputs=dout", "grad_outputs=torch.ones_like(out)"
    ),
    "requires_grad set on the caller's tensors and .backward() used": _TORCH_HELPERS + '''

def conv2d_backward_torch(dout, x, w, b, stride=1, padding=0, dilation=1):
    s, p, d = _validate(dout, x, w, b, stride, padding, dilation)
    for t in (x, w, b):
        t.requires_grad_(True)
        t.grad = None
    F.conv2d(x, w, b, stride=s, padding=p, dilation=d).backward(dout)
    return x.grad.detach(), w.grad.detach(), b.grad.detach()
''',
    "computed in float32 (dtype not kept)": _torch_with(
        "leaves = [t.detach().requires_grad_(True) for t in (x, w, b)]",
        "leaves = [t.detach().float().requires_grad_(True) for t in (x, w, b)]\n    dout = dout.float()",
    ),
    "moved to the CPU (device not kept)": _torch_with(
        "leaves = [t.detach().requires_grad_(True) for t in (x, w, b)]",
        "leaves = [t.detach().cpu().requires_grad_(True) for t in (x, w, b)]\n    dout = dout.cpu()",
    ),
    "dilation not passed to F.conv2d": _torch_with(
        "stride=s, padding=p, dilation=d)", "stride=s, padding=p)"
    ),
    "fails inside torch.no_grad() (no torch.enable_grad)": _torch_with(
        "    with torch.enable_grad():\n        out = ", "    if True:\n        out = "
    ),
    "no ValueError: relies on F.conv2d's RuntimeError": _torch_with(
        "s, p, d = _validate(dout, x, w, b, stride, padding, dilation)",
        "s, p, d = _pair(stride), _pair(padding), _pair(dilation)",
    ),
}

CORRECT = {
    "loops": {
        "conv2d_backward": _BACKWARD_LOOPS,
        "im2col": _IM2COL_LOOPS,
        "conv2d_fast": _FAST_PER_SAMPLE,
        "conv2d_backward_torch": _TORCH_BACKWARD,
    },
    "vectorised": {
        "conv2d_backward": _BACKWARD_COL2IM,
        "im2col": _IM2COL_FANCY,
        "conv2d_fast": _FAST_MATMUL,
        "conv2d_backward_torch": _TORCH_GRAD,
    },
    "windows": {  # float64 accumulation, sliding_window_view, one wide product, torch.func.vjp
        "conv2d_backward": _BACKWARD_FLOAT64,
        "im2col": _IM2COL_STRIDED,
        "conv2d_fast": _FAST_FLOAT64,
        "conv2d_backward_torch": _TORCH_VJP,
    },
}

MISTAKES = {
    "conv2d_backward": _BACKWARD_MISTAKES,
    "im2col": _IM2COL_MISTAKES,
    "conv2d_fast": _FAST_MISTAKES,
    "conv2d_backward_torch": _TORCH_MISTAKES,
}
