"""Correct variants and classic mistakes for 04_pooling_upsampling (see README.md here).

Every source is a whole solution cell: it imports what it needs and defines its own
private helpers, so it relies on no other graded function (nor on the notebook's
provided helpers).
"""

_NP_HELPERS = '''import numpy as np


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _sizes(x, kernel_size, stride):
    if x.ndim != 4:
        raise ValueError("x must be 4-D (N, C, H, W)")
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    if min(kh, kw, sh, sw) < 1:
        raise ValueError("kernel_size and stride must be at least 1")
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ValueError("window larger than the input")
    return kh, kw, sh, sw, (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
'''


def _with(source: str, old: str, new: str) -> str:
    assert old in source, old
    return source.replace(old, new)


# ----------------------------------------------------------------- maxpool2d_forward
_MAX_OFFSETS = _NP_HELPERS + '''

def maxpool2d_forward(x, kernel_size, stride=None):
    """Running maximum over the window offsets."""
    x = np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    out = x[:, :, 0 : sh * (ho - 1) + 1 : sh, 0 : sw * (wo - 1) + 1 : sw].copy()
    for u in range(kh):
        for v in range(kw):
            out = np.maximum(out, x[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw])
    return out
'''

_MAX_LOOPS = _NP_HELPERS + '''

def maxpool2d_forward(x, kernel_size, stride=None):
    """One window at a time."""
    x = np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    out = np.empty((x.shape[0], x.shape[1], ho, wo), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].max(axis=(2, 3))
    return out
'''

_MAX_WINDOWS = _NP_HELPERS + '''
from numpy.lib.stride_tricks import sliding_window_view


def maxpool2d_forward(x, kernel_size, stride=None):
    """sliding_window_view, subsampled by the stride."""
    x = np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return windows.max(axis=(4, 5))
'''

_MAX_MISTAKES = {
    "stride ignored (always 1)": _with(_MAX_LOOPS, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
                                       "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, 1)"),
    "stride=None taken as 1 instead of kernel_size": _with(
        _MAX_LOOPS, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
        "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, 1 if stride is None else stride)"),
    "running maximum started at 0": _with(
        _MAX_OFFSETS, "out = x[:, :, 0 : sh * (ho - 1) + 1 : sh, 0 : sw * (wo - 1) + 1 : sw].copy()",
        "out = np.zeros((x.shape[0], x.shape[1], ho, wo))"),
    "window one row and one column short": _with(
        _MAX_LOOPS, "x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]",
        "x[:, :, i * sh : i * sh + max(kh - 1, 1), j * sw : j * sw + max(kw - 1, 1)]"),
    "kernel height and width swapped": _with(
        _MAX_LOOPS, "x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]", "x[:, :, i * sh : i * sh + kw, j * sw : j * sw + kh]"),
    "last window dropped (output size without the + 1)": _with(
        _MAX_LOOPS, "for i in range(ho):\n        for j in range(wo):", "for i in range(ho - 1):\n        for j in range(wo - 1):"),
    "computed in float32, cast back to float64": _with(
        _MAX_WINDOWS, "return windows.max(axis=(4, 5))", "return windows.astype(np.float32).max(axis=(4, 5)).astype(np.float64)"),
}

# ----------------------------------------------------------------- avgpool2d_forward
_AVG_OFFSETS = _NP_HELPERS + '''

def avgpool2d_forward(x, kernel_size, stride=None):
    """Sum of the strided slices of every window offset, divided by KH*KW."""
    x = np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    total = np.zeros((x.shape[0], x.shape[1], ho, wo), dtype=np.result_type(x, np.float32))
    for u in range(kh):
        for v in range(kw):
            total += x[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]
    return total / (kh * kw)
'''

_AVG_LOOPS = _NP_HELPERS + '''

def avgpool2d_forward(x, kernel_size, stride=None):
    """One window at a time, accumulated in float64."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    out = np.empty((x.shape[0], x.shape[1], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].mean(axis=(2, 3))
    return out
'''

_AVG_MISTAKES = {
    "sum instead of mean": _with(_AVG_OFFSETS, "return total / (kh * kw)", "return total"),
    "divided by KH only": _with(_AVG_OFFSETS, "return total / (kh * kw)", "return total / kh"),
    "divided by KH * KH (non-square windows)": _with(_AVG_OFFSETS, "return total / (kh * kw)", "return total / (kh * kh)"),
    "stride ignored (always 1)": _with(_AVG_LOOPS, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
                                       "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, 1)"),
    "window one row and one column short": _with(
        _AVG_LOOPS, "x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw]",
        "x[:, :, i * sh : i * sh + max(kh - 1, 1), j * sw : j * sw + max(kw - 1, 1)]"),
    "stride=None taken as 1 instead of kernel_size": _with(
        _AVG_LOOPS, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
        "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, 1 if stride is None else stride)"),
    "divided in float32": _with(_AVG_OFFSETS, "return total / (kh * kw)", "return total.astype(np.float32) / np.float32(kh * kw)"),
}

# ---------------------------------------------------------------- maxpool2d_backward
_BACK_LOOPS = _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    """np.argmax of every window (first maximum), gradients added."""
    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(ho):
                for j in range(wo):
                    u, v = divmod(int(np.argmax(x[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw])), kw)
                    dx[n, c, i * sh + u, j * sw + v] += dout[n, c, i, j]
    return dx
'''

_BACK_OFFSETS = _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    """Winning offset per window by a strict running maximum, then one scatter per offset."""
    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    best, winner = None, np.zeros((x.shape[0], x.shape[1], ho, wo), dtype=int)
    for u in range(kh):
        for v in range(kw):
            values = x[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]
            if best is None:
                best = values.copy()
                continue
            better = values > best
            best[better] = values[better]
            winner[better] = u * kw + v
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout, np.float32))
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw] += (winner == u * kw + v) * dout
    return dx
'''

_BACK_ADD_AT = _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    """Flat argmax of all windows at once, np.add.at for the overlaps."""
    from numpy.lib.stride_tricks import sliding_window_view

    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw][:, :, :ho, :wo]
    arg = windows.reshape(*windows.shape[:4], kh * kw).argmax(axis=-1)
    rows = np.arange(ho)[:, None] * sh + arg // kw
    cols = np.arange(wo)[None, :] * sw + arg % kw
    n_idx = np.arange(x.shape[0])[:, None, None, None]
    c_idx = np.arange(x.shape[1])[None, :, None, None]
    dx = np.zeros(x.shape, dtype=np.float64)
    np.add.at(dx, (n_idx, c_idx, rows, cols), dout)
    return dx
'''

_BACK_MISTAKES = {
    "gradients of overlapping windows overwritten (=) instead of summed (+=)": _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(ho):
                for j in range(wo):
                    window = x[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    mask = np.zeros(window.shape)
                    mask.flat[np.argmax(window)] = 1.0
                    dx[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw] = mask * dout[n, c, i, j]
    return dx
''',
    "all tied maxima receive the gradient": _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(ho):
                for j in range(wo):
                    window = x[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    dx[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw] += (window == window.max()) * dout[n, c, i, j]
    return dx
''',
    "ties sent to the last maximum (>= in the running maximum)": _with(
        _BACK_OFFSETS, "better = values > best", "better = values >= best"),
    "gradient spread evenly over the window (average pooling's backward)": _NP_HELPERS + '''

def maxpool2d_backward(dout, x, kernel_size, stride=None):
    dout, x = np.asarray(dout), np.asarray(x)
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    dx = np.zeros(x.shape)
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw] += dout / (kh * kw)
    return dx
''',
    "given stride ignored (windows taken kernel_size apart)": _with(
        _BACK_LOOPS, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
        "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)\n    sh, sw = kh, kw"),
    "window one row and one column short": _with(
        _BACK_LOOPS, "u, v = divmod(int(np.argmax(x[n, c, i * sh : i * sh + kh, j * sw : j * sw + kw])), kw)",
        "u, v = divmod(int(np.argmax(x[n, c, i * sh : i * sh + kh - 1, j * sw : j * sw + kw - 1])), max(kw - 1, 1))"),
}

# -------------------------------------------------------------------- global_avgpool
_GAP_MEAN = '''import numpy as np


def global_avgpool(x):
    """Mean over the two spatial axes."""
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    return x.mean(axis=(2, 3))
'''

_GAP_FLAT = '''import numpy as np


def global_avgpool(x):
    """Flatten H and W, sum in float64, divide by H*W."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    n, c, h, w = x.shape
    return x.reshape(n, c, h * w).sum(axis=-1) / (h * w)
'''

_GAP_MISTAKES = {
    "sum instead of mean": _with(_GAP_MEAN, "return x.mean(axis=(2, 3))", "return x.sum(axis=(2, 3))"),
    "keepdims: returns (N, C, 1, 1)": _with(_GAP_MEAN, "return x.mean(axis=(2, 3))", "return x.mean(axis=(2, 3), keepdims=True)"),
    "divided by H * H (square maps assumed)": _with(
        _GAP_FLAT, "return x.reshape(n, c, h * w).sum(axis=-1) / (h * w)", "return x.reshape(n, c, h * w).sum(axis=-1) / (h * h)"),
    "mean over the batch too (axes 0, 2, 3)": _with(_GAP_MEAN, "return x.mean(axis=(2, 3))", "return x.mean(axis=(0, 2, 3))"),
    "max instead of mean": _with(_GAP_MEAN, "return x.mean(axis=(2, 3))", "return x.max(axis=(2, 3))"),
    "no check of the number of dimensions": _with(
        _GAP_MEAN, '    if x.ndim != 4:\n        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")\n', ""),
    "computed in float32": _with(_GAP_MEAN, "return x.mean(axis=(2, 3))", "return x.astype(np.float32).mean(axis=(2, 3))"),
}

# ------------------------------------------------------------------- maxpool2d_torch
_TORCH_HELPERS = '''import torch
import torch.nn.functional as F


def _pair(value):
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _sizes(x, kernel_size, stride):
    if x.dim() != 4:
        raise ValueError("x must be 4-D (N, C, H, W)")
    (kh, kw) = _pair(kernel_size)
    (sh, sw) = _pair(kernel_size if stride is None else stride)
    if min(kh, kw, sh, sw) < 1:
        raise ValueError("kernel_size and stride must be at least 1")
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ValueError("window larger than the input")
    return kh, kw, sh, sw, (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
'''

_MPT_UNFOLD = _TORCH_HELPERS + '''

def maxpool2d_torch(x, kernel_size, stride=None):
    """Tensor.unfold twice, then max over the flattened window."""
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    windows = x.unfold(2, kh, sh).unfold(3, kw, sw)
    return windows.reshape(*windows.shape[:4], kh * kw).max(dim=-1).values
'''

_MPT_WHERE = _TORCH_HELPERS + '''

def maxpool2d_torch(x, kernel_size, stride=None):
    """Running maximum over offsets with torch.where (strict >: the first maximum wins)."""
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    best = None
    for u in range(kh):
        for v in range(kw):
            values = x[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw]
            best = values if best is None else torch.where(values > best, values, best)
    return best
'''

_MPT_F_UNFOLD = _TORCH_HELPERS + '''

def maxpool2d_torch(x, kernel_size, stride=None):
    """F.unfold on the channels folded into the batch."""
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    n, c, h, w = x.shape
    cols = F.unfold(x.reshape(n * c, 1, h, w), (kh, kw), stride=(sh, sw))  # (N*C, KH*KW, H'*W')
    return cols.max(dim=1).values.reshape(n, c, ho, wo)
'''

_MPT_MISTAKES = {
    "amax: the gradient is split between tied maxima": _with(
        _MPT_UNFOLD, ".max(dim=-1).values", ".amax(dim=-1)"),
    "ties sent to the last maximum (>=)": _with(_MPT_WHERE, "torch.where(values > best", "torch.where(values >= best"),
    "stride ignored (always 1)": _with(_MPT_UNFOLD, "x.unfold(2, kh, sh).unfold(3, kw, sw)", "x.unfold(2, kh, 1).unfold(3, kw, 1)"),
    "NumPy round trip (no autograd, device lost)": _TORCH_HELPERS + '''

def maxpool2d_torch(x, kernel_size, stride=None):
    import numpy as np

    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    a = x.detach().cpu().numpy()
    out = np.full((a.shape[0], a.shape[1], ho, wo), -np.inf)
    for u in range(kh):
        for v in range(kw):
            out = np.maximum(out, a[:, :, u : u + sh * (ho - 1) + 1 : sh, v : v + sw * (wo - 1) + 1 : sw])
    return torch.from_numpy(out).to(x.dtype)
''',
    "output created with torch.zeros (default dtype and device)": _TORCH_HELPERS + '''

def maxpool2d_torch(x, kernel_size, stride=None):
    kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)
    out = torch.zeros(x.shape[0], x.shape[1], ho, wo)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * sh : i * sh + kh, j * sw : j * sw + kw].reshape(x.shape[0], x.shape[1], -1).max(dim=-1).values
    return out
''',
    "stride=None taken as 1": _with(
        _MPT_UNFOLD, "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, stride)",
        "kh, kw, sh, sw, ho, wo = _sizes(x, kernel_size, 1 if stride is None else stride)"),
}

# ------------------------------------------------------------ conv_transpose2d_torch
_CT_CHECKS = _TORCH_HELPERS + '''

def _check(x, w, b, stride, padding):
    if x.dim() != 4 or w.dim() != 4:
        raise ValueError("x and w must be 4-D")
    if x.shape[1] != w.shape[0]:
        raise ValueError("x's channels must match w's first axis (C_in, F, KH, KW)")
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    if min(sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride must be >= 1 and padding >= 0")
    ho = (x.shape[2] - 1) * sh + w.shape[2] - 2 * ph
    wo = (x.shape[3] - 1) * sw + w.shape[3] - 2 * pw
    if ho < 1 or wo < 1:
        raise ValueError("empty output")
    return sh, sw, ph, pw, ho, wo
'''

_CT_STAMP = _CT_CHECKS + '''

def conv_transpose2d_torch(x, w, b=None, stride=1, padding=0):
    """Each kernel offset stamps x @ w[:, :, u, v] onto a strided slice of the full output."""
    sh, sw, ph, pw, ho, wo = _check(x, w, b, stride, padding)
    n, _, h, wd = x.shape
    _, nf, kh, kw = w.shape
    full = x.new_zeros((n, nf, (h - 1) * sh + kh, (wd - 1) * sw + kw))
    for u in range(kh):
        for v in range(kw):
            full[:, :, u : u + sh * (h - 1) + 1 : sh, v : v + sw * (wd - 1) + 1 : sw] += torch.einsum(
                "nchw,cf->nfhw", x, w[:, :, u, v]
            )
    out = full[:, :, ph : ph + ho, pw : pw + wo]
    return out if b is None else out + b[None, :, None, None]
'''

_CT_ZERO_INSERT = _CT_CHECKS + '''

def conv_transpose2d_torch(x, w, b=None, stride=1, padding=0):
    """Zeros between the pixels, padding K-1-p, then a correlation with the flipped, transposed kernel."""
    sh, sw, ph, pw, ho, wo = _check(x, w, b, stride, padding)
    n, cin, h, wd = x.shape
    _, nf, kh, kw = w.shape
    dilated = x.new_zeros((n, cin, (h - 1) * sh + 1, (wd - 1) * sw + 1))
    dilated[:, :, ::sh, ::sw] = x
    padded = F.pad(dilated, (kw - 1 - pw, kw - 1 - pw, kh - 1 - ph, kh - 1 - ph))
    kernel = w.flip(2, 3).transpose(0, 1).reshape(nf, cin * kh * kw)
    cols = F.unfold(padded, (kh, kw))  # (N, C_in*KH*KW, H_out*W_out)
    out = (kernel @ cols).reshape(n, nf, ho, wo)
    return out if b is None else out + b.view(1, nf, 1, 1)
'''

_CT_PIXELS = _CT_CHECKS + '''

def conv_transpose2d_torch(x, w, b=None, stride=1, padding=0):
    """A loop over input pixels; stamps collected with F.pad and summed (no in-place ops)."""
    sh, sw, ph, pw, ho, wo = _check(x, w, b, stride, padding)
    n, _, h, wd = x.shape
    _, nf, kh, kw = w.shape
    full_h, full_w = (h - 1) * sh + kh, (wd - 1) * sw + kw
    total = 0
    for i in range(h):
        for j in range(wd):
            stamp = torch.einsum("nc,cfuv->nfuv", x[:, :, i, j], w)
            total = total + F.pad(stamp, (j * sw, full_w - j * sw - kw, i * sh, full_h - i * sh - kh))
    out = total[:, :, ph : ph + ho, pw : pw + wo]
    if b is not None:
        out = out + b.reshape(1, -1, 1, 1)
    return out
'''

_CT_MISTAKES = {
    "zero insertion without flipping the kernel": _with(
        _CT_ZERO_INSERT, "kernel = w.flip(2, 3).transpose(0, 1)", "kernel = w.transpose(0, 1)"),
    "stride ignored (no zeros inserted between pixels)": _with(
        _CT_STAMP, "full[:, :, u : u + sh * (h - 1) + 1 : sh, v : v + sw * (wd - 1) + 1 : sw] +=",
        "full[:, :, u : u + h, v : v + wd] +="),
    "bias missing": _with(_CT_STAMP, "return out if b is None else out + b[None, :, None, None]", "return out"),
    "padding cropped on one side only": _with(
        _CT_STAMP, "out = full[:, :, ph : ph + ho, pw : pw + wo]", "out = full[:, :, 2 * ph :, 2 * pw :]"),
    "weights read as (F, C_in, KH, KW)": _with(
        _CT_STAMP, '"nchw,cf->nfhw", x, w[:, :, u, v]', '"nchw,cf->nfhw", x, w[:, :, u, v].transpose(0, 1)'),
    "output created with torch.zeros (default dtype and device)": _with(
        _CT_STAMP, "full = x.new_zeros((n, nf, (h - 1) * sh + kh, (wd - 1) * sw + kw))",
        "full = torch.zeros((n, nf, (h - 1) * sh + kh, (wd - 1) * sw + kw))"),
    "padding ignored": _with(_CT_STAMP, "out = full[:, :, ph : ph + ho, pw : pw + wo]", "out = full"),
}

CORRECT = {
    "loops": {
        "maxpool2d_forward": _MAX_LOOPS,
        "avgpool2d_forward": _AVG_LOOPS,
        "maxpool2d_backward": _BACK_LOOPS,
        "global_avgpool": _GAP_FLAT,
        "maxpool2d_torch": _MPT_WHERE,
        "conv_transpose2d_torch": _CT_PIXELS,
    },
    "vectorised": {
        "maxpool2d_forward": _MAX_OFFSETS,
        "avgpool2d_forward": _AVG_OFFSETS,
        "maxpool2d_backward": _BACK_OFFSETS,
        "global_avgpool": _GAP_MEAN,
        "maxpool2d_torch": _MPT_UNFOLD,
        "conv_transpose2d_torch": _CT_STAMP,
    },
    "windows": {
        "maxpool2d_forward": _MAX_WINDOWS,
        "maxpool2d_backward": _BACK_ADD_AT,
        "maxpool2d_torch": _MPT_F_UNFOLD,
        "conv_transpose2d_torch": _CT_ZERO_INSERT,
    },
}

MISTAKES = {
    "maxpool2d_forward": _MAX_MISTAKES,
    "avgpool2d_forward": _AVG_MISTAKES,
    "maxpool2d_backward": _BACK_MISTAKES,
    "global_avgpool": _GAP_MISTAKES,
    "maxpool2d_torch": _MPT_MISTAKES,
    "conv_transpose2d_torch": _CT_MISTAKES,
}
