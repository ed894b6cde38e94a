"""Correct variants and classic mistakes for assignment 02_convolution (see README.md).

Every source is a complete solution cell. Mistakes are written as a small edit of a
correct variant (``_mutate`` checks that the edited text exists), so each one reads as
the one-line slip a student makes.
"""

from __future__ import annotations


def _mutate(source: str, old: str, new: str) -> str:
    """``source`` with ``old`` replaced by ``new``; ``old`` must occur in it."""
    if old not in source:
        raise ValueError(f"mistake template not found: {old!r}")
    return source.replace(old, new)


# ---------------------------------------------------------------- conv_output_size
OUTPUT_SIZE_COUNTING = '''
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    """Count the kernel positions by sliding (no formula)."""
    if stride < 1 or dilation < 1 or padding < 0 or kernel_size < 1:
        raise ValueError("stride, dilation and kernel_size must be >= 1 and padding >= 0")
    span = dilation * (kernel_size - 1) + 1
    count, start = 0, 0
    while start + span <= n + 2 * padding:
        count += 1
        start += stride
    if count == 0:
        raise ValueError("the kernel does not fit in the padded input")
    return count
'''

OUTPUT_SIZE_FORMULA = '''
import math


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    if stride < 1:
        raise ValueError("stride must be >= 1")
    if dilation < 1:
        raise ValueError("dilation must be >= 1")
    if padding < 0:
        raise ValueError("padding must be >= 0")
    size = math.floor((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1
    if size < 1:
        raise ValueError("the kernel does not fit in the padded input")
    return int(size)
'''

OUTPUT_SIZE_MISTAKES = {
    "the '+ 1' is missing": _mutate(OUTPUT_SIZE_FORMULA, "/ stride) + 1", "/ stride)"),
    "ceil instead of floor": _mutate(OUTPUT_SIZE_FORMULA, "math.floor(", "math.ceil("),
    "padding counted once": _mutate(OUTPUT_SIZE_FORMULA, "n + 2 * padding", "n + padding"),
    "dilation ignored": _mutate(OUTPUT_SIZE_FORMULA, "dilation * (kernel_size - 1)", "(kernel_size - 1)"),
    "true division, the result is a float": _mutate(
        OUTPUT_SIZE_FORMULA,
        "math.floor((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1",
        "(n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride + 1",
    ).replace("return int(size)", "return size"),
    "dilated span taken as dilation * kernel_size": _mutate(
        OUTPUT_SIZE_FORMULA, "dilation * (kernel_size - 1) - 1", "dilation * kernel_size"
    ),
    "no ValueError when the kernel does not fit": _mutate(
        OUTPUT_SIZE_FORMULA, "    if size < 1:\n        raise ValueError(\"the kernel does not fit in the padded input\")\n", ""
    ),
    "stride 0 not rejected": _mutate(OUTPUT_SIZE_COUNTING, "stride < 1 or ", "").replace(
        "start += stride", "start += max(stride, 1)"
    ),
    "int(a / s) truncates towards zero: a kernel that just fails to fit gives 1 with stride > 1": _mutate(
        OUTPUT_SIZE_FORMULA, "math.floor((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride)",
        "int((n + 2 * padding - dilation * (kernel_size - 1) - 1) / stride)"),
}

# ---------------------------------------------------------------- conv1d
CONV1D_LOOPS = '''
import numpy as np


def conv1d(x, w, b=0.0):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if x.ndim != 1 or w.ndim != 1:
        raise ValueError("x and w must be 1-D")
    if len(w) > len(x):
        raise ValueError("the kernel is longer than the signal")
    y = np.zeros(len(x) - len(w) + 1)
    for i in range(len(y)):
        for k in range(len(w)):
            y[i] += w[k] * x[i + k]
    return y + b
'''

CONV1D_VECTORISED = '''
import numpy as np


def conv1d(x, w, b=0.0):
    x, w = np.asarray(x), np.asarray(w)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D, got {x.shape}")
    if w.ndim != 1:
        raise ValueError(f"w must be 1-D, got {w.shape}")
    if w.shape[0] > x.shape[0]:
        raise ValueError("the kernel is longer than the signal")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[0])
    return windows @ w + b
'''

CONV1D_MISTAKES = {
    "flipped kernel": _mutate(CONV1D_LOOPS, "w[k] * x[i + k]", "w[len(w) - 1 - k] * x[i + k]"),
    "output one sample short": _mutate(CONV1D_LOOPS, "len(x) - len(w) + 1", "len(x) - len(w)"),
    "bias missing": _mutate(CONV1D_LOOPS, "return y + b", "return y"),
    "'same' mode": _mutate(
        CONV1D_VECTORISED,
        "windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[0])\n    return windows @ w + b",
        "return np.correlate(x, w, 'same') + b",
    ),
    "integer result for integer input (np.zeros_like)": _mutate(
        CONV1D_LOOPS, "x = np.asarray(x, dtype=np.float64)", "x = np.asarray(x)"
    ).replace("y = np.zeros(len(x) - len(w) + 1)", "y = np.zeros_like(x[: len(x) - len(w) + 1])")
    .replace("        for k in range(len(w)):\n            y[i] += w[k] * x[i + k]\n    return y + b",
             "        y[i] = np.dot(w, x[i : i + len(w)]) + b\n    return y"),
    "kernel longer than the signal not rejected (np.correlate swaps them)": _mutate(
        CONV1D_VECTORISED,
        "windows = np.lib.stride_tricks.sliding_window_view(x, w.shape[0])\n    return windows @ w + b",
        "return np.correlate(x, w, 'valid') + b",
    ).replace('    if w.shape[0] > x.shape[0]:\n        raise ValueError("the kernel is longer than the signal")\n', ""),
    "computed in float32 (float64 input)": _mutate(
        CONV1D_VECTORISED, "return windows @ w + b", "return windows.astype(np.float32) @ w.astype(np.float32) + b"),
}

# ---------------------------------------------------------------- conv_matrix
CONV_MATRIX_LOOPS = '''
import numpy as np


def conv_matrix(w, n):
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError("w must be 1-D")
    size = len(w)
    if size > n:
        raise ValueError("the kernel is longer than the signal")
    matrix = np.zeros((n - size + 1, n))
    for i in range(n - size + 1):
        for k in range(size):
            matrix[i, i + k] = w[k]
    return matrix
'''

CONV_MATRIX_VECTORISED = '''
import numpy as np


def conv_matrix(w, n):
    w = np.asarray(w)
    if w.ndim != 1:
        raise ValueError(f"w must be 1-D, got {w.shape}")
    size = w.shape[0]
    if size > n:
        raise ValueError(f"a kernel of {size} does not fit in {n} samples")
    rows = np.arange(n - size + 1)[:, None]
    matrix = np.zeros((n - size + 1, n), dtype=np.result_type(w, np.float64))
    matrix[rows, rows + np.arange(size)] = w
    return matrix
'''

CONV_MATRIX_MISTAKES = {
    "flipped kernel": _mutate(CONV_MATRIX_LOOPS, "matrix[i, i + k] = w[k]", "matrix[i, i + k] = w[size - 1 - k]"),
    "transposed": _mutate(CONV_MATRIX_LOOPS, "return matrix", "return matrix.T"),
    "n x n matrix": _mutate(CONV_MATRIX_LOOPS, "np.zeros((n - size + 1, n))", "np.zeros((n, n))")
    .replace("for i in range(n - size + 1):", "for i in range(n):")
    .replace("matrix[i, i + k] = w[k]", "if i + k < n:\n                matrix[i, i + k] = w[k]"),
    "one row short": _mutate(CONV_MATRIX_LOOPS, "np.zeros((n - size + 1, n))", "np.zeros((n - size, n))").replace(
        "for i in range(n - size + 1):", "for i in range(n - size):"
    ),
    "kernel does not slide": _mutate(CONV_MATRIX_LOOPS, "matrix[i, i + k] = w[k]", "matrix[i, k] = w[k]"),
    "kernel longer than n not rejected": _mutate(
        CONV_MATRIX_LOOPS, '    if size > n:\n        raise ValueError("the kernel is longer than the signal")\n', ""
    ),
}

# ---------------------------------------------------------------- corr2d and convolve2d
CORR2D_LOOPS = '''
import numpy as np


def corr2d(x, k):
    x = np.asarray(x, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError("x and k must be 2-D")
    height, width = x.shape
    kh, kw = k.shape
    if kh > height or kw > width:
        raise ValueError("the kernel is larger than the image")
    out = np.zeros((height - kh + 1, width - kw + 1))
    for i in range(height - kh + 1):
        for j in range(width - kw + 1):
            for u in range(kh):
                for v in range(kw):
                    out[i, j] += k[u, v] * x[i + u, j + v]
    return out
'''

CORR2D_VECTORISED = '''
import numpy as np


def corr2d(x, k):
    x, k = np.asarray(x), np.asarray(k)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D, got {x.shape}")
    if k.ndim != 2:
        raise ValueError(f"k must be 2-D, got {k.shape}")
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(f"the kernel {k.shape} does not fit in the image {x.shape}")
    windows = np.lib.stride_tricks.sliding_window_view(x, k.shape)
    return np.tensordot(windows, k, axes=([2, 3], [0, 1])).astype(np.result_type(x, k, np.float32))
'''

CORR2D_MISTAKES = {
    "flipped kernel": _mutate(CORR2D_LOOPS, "k[u, v] * x[i + u, j + v]", "k[kh - 1 - u, kw - 1 - v] * x[i + u, j + v]"),
    "one row short": _mutate(CORR2D_LOOPS, "np.zeros((height - kh + 1,", "np.zeros((height - kh,").replace(
        "for i in range(height - kh + 1):", "for i in range(height - kh):"
    ),
    "height used for both output sides": _mutate(
        CORR2D_LOOPS, "np.zeros((height - kh + 1, width - kw + 1))", "np.zeros((height - kh + 1, height - kw + 1))"
    ).replace("for j in range(width - kw + 1):", "for j in range(height - kw + 1):"),
    "kernel transposed": _mutate(CORR2D_LOOPS, "k[u, v] * x[i + u, j + v]", "k[v, u] * x[i + u, j + v]"),
    "window averaged": _mutate(CORR2D_LOOPS, "    return out", "    return out / k.size"),
    "kernel larger than the image not rejected": _mutate(
        CORR2D_LOOPS, '    if kh > height or kw > width:\n        raise ValueError("the kernel is larger than the image")\n', ""
    ),
    "computed in float32, cast back to float64": _mutate(
        CORR2D_VECTORISED, "np.tensordot(windows, k,", "np.tensordot(windows.astype(np.float32), k.astype(np.float32),"),
}

CONVOLVE2D_LOOPS = _mutate(CORR2D_LOOPS, "def corr2d(x, k):", "def convolve2d(x, k):").replace(
    "k[u, v] * x[i + u, j + v]", "k[kh - 1 - u, kw - 1 - v] * x[i + u, j + v]"
)

CONVOLVE2D_VECTORISED = '''
import numpy as np


def _correlate(x, k):
    windows = np.lib.stride_tricks.sliding_window_view(x, k.shape)
    return np.einsum("ijuv,uv->ij", windows, k)


def convolve2d(x, k):
    x, k = np.asarray(x), np.asarray(k)
    if x.ndim != 2 or k.ndim != 2:
        raise ValueError(f"x and k must be 2-D, got {x.shape} and {k.shape}")
    if k.shape[0] > x.shape[0] or k.shape[1] > x.shape[1]:
        raise ValueError(f"the kernel {k.shape} does not fit in the image {x.shape}")
    return _correlate(x, np.flip(k, axis=(0, 1)))
'''

CONVOLVE2D_MISTAKES = {
    "kernel not flipped": _mutate(CONVOLVE2D_VECTORISED, "np.flip(k, axis=(0, 1))", "k"),
    "flipped along rows only": _mutate(CONVOLVE2D_VECTORISED, "np.flip(k, axis=(0, 1))", "k[::-1, :]"),
    "flipped along columns only": _mutate(CONVOLVE2D_VECTORISED, "np.flip(k, axis=(0, 1))", "k[:, ::-1]"),
    "kernel transposed instead of flipped": _mutate(CONVOLVE2D_VECTORISED, "np.flip(k, axis=(0, 1))", "k.T"),
    "kernel rotated by 90 degrees": _mutate(CONVOLVE2D_VECTORISED, "np.flip(k, axis=(0, 1))", "np.rot90(k)"),
    "kernel flipped in place": _mutate(
        CONVOLVE2D_VECTORISED, "    return _correlate(x, np.flip(k, axis=(0, 1)))", "    k[...] = k[::-1, ::-1]\n    return _correlate(x, k)"
    ),
}

# ---------------------------------------------------------------- pad2d
PAD2D_LOOPS = '''
import numpy as np


def pad2d(x, padding):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError("x must have shape (N, C, H, W)")
    if isinstance(padding, (int, np.integer)):
        ph = pw = int(padding)
    else:
        ph, pw = padding
    if ph < 0 or pw < 0:
        raise ValueError("padding must not be negative")
    n, c, height, width = x.shape
    out = np.zeros((n, c, height + 2 * ph, width + 2 * pw))
    for i in range(n):
        for j in range(c):
            for r in range(height):
                for s in range(width):
                    out[i, j, ph + r, pw + s] = x[i, j, r, s]
    return out
'''

PAD2D_VECTORISED = '''
import numpy as np


def pad2d(x, padding):
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {x.shape}")
    ph, pw = (padding, padding) if np.ndim(padding) == 0 else padding
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must not be negative, got {padding!r}")
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
'''

_PAD_WIDTHS = "((0, 0), (0, 0), (ph, ph), (pw, pw))"
PAD2D_MISTAKES = {
    "batch and channel axes padded too": _mutate(PAD2D_VECTORISED, _PAD_WIDTHS, "((ph, ph), (ph, ph), (ph, ph), (pw, pw))"),
    "one side only": _mutate(PAD2D_VECTORISED, _PAD_WIDTHS, "((0, 0), (0, 0), (ph, 0), (pw, 0))"),
    "(ph, pw) swapped": _mutate(PAD2D_VECTORISED, _PAD_WIDTHS, "((0, 0), (0, 0), (pw, pw), (ph, ph))"),
    "no copy for padding 0": _mutate(
        PAD2D_VECTORISED, "    return np.pad(", "    if ph == 0 and pw == 0:\n        return x\n    return np.pad("
    ),
    "edge values instead of zeros": _mutate(PAD2D_VECTORISED, f"{_PAD_WIDTHS})", f"{_PAD_WIDTHS}, mode='edge')"),
    "padding[0] used for both axes": _mutate(PAD2D_VECTORISED, _PAD_WIDTHS, "((0, 0), (0, 0), (ph, ph), (ph, ph))"),
}

# ---------------------------------------------------------------- conv2d_forward
CONV2D_FORWARD_LOOPS = '''
import numpy as np


def _pair(value):
    return (int(value), int(value)) if np.ndim(value) == 0 else (int(value[0]), int(value[1]))


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    x, w, b = (np.asarray(a, dtype=np.float64) for a in (x, w, b))
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError("x must be (N, C, H, W) and w (F, C, KH, KW)")
    n, channels, height, width = x.shape
    filters, w_channels, kh, kw = w.shape
    if w_channels != channels:
        raise ValueError("x and w have different numbers of channels")
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1, padding >= 0")
    xp = np.zeros((n, channels, height + 2 * ph, width + 2 * pw))
    xp[:, :, ph : ph + height, pw : pw + width] = x
    hp, wp = xp.shape[2], xp.shape[3]
    out_h = (hp - dh * (kh - 1) - 1) // sh + 1
    out_w = (wp - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("the kernel does not fit in the padded input")
    out = np.zeros((n, filters, out_h, out_w))
    for i in range(n):
        for f in range(filters):
            for r in range(out_h):
                for s in range(out_w):
                    top, left = r * sh, s * sw
                    window = xp[i, :, top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw]
                    out[i, f, r, s] = np.sum(window * w[f]) + b[f]
    return out
'''

CONV2D_FORWARD_VECTORISED = '''
import numpy as np


def _pair(value, name):
    pair = (value, value) if np.ndim(value) == 0 else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair")
    return int(pair[0]), int(pair[1])


def conv2d_forward(x, w, b, stride=1, padding=0, dilation=1):
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"w must be (F, C, KH, KW), got {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels, w expects {w.shape[1]}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1:
        raise ValueError("stride and dilation must be at least 1")
    if min(ph, pw) < 0:
        raise ValueError("padding must not be negative")
    span_h, span_w = dh * (w.shape[2] - 1) + 1, dw * (w.shape[3] - 1) + 1
    if span_h > x.shape[2] + 2 * ph or span_w > x.shape[3] + 2 * pw:
        raise ValueError("the kernel does not fit in the padded input")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (span_h, span_w), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # (N, C, H', W', KH, KW)
    return np.einsum("nchwuv,fcuv->nfhw", windows, w) + b.reshape(1, -1, 1, 1)
'''

CONV2D_FORWARD_MISTAKES = {
    "flipped kernel": _mutate(CONV2D_FORWARD_LOOPS, "np.sum(window * w[f])", "np.sum(window * w[f, :, ::-1, ::-1])"),
    "stride ignored along W": _mutate(CONV2D_FORWARD_LOOPS, "top, left = r * sh, s * sw", "top, left = r * sh, s"),
    "one output row short": _mutate(
        CONV2D_FORWARD_LOOPS, "out_h = (hp - dh * (kh - 1) - 1) // sh + 1", "out_h = (hp - dh * (kh - 1) - 1) // sh"
    ),
    "padding on one side only": _mutate(
        CONV2D_FORWARD_LOOPS, "np.zeros((n, channels, height + 2 * ph, width + 2 * pw))", "np.zeros((n, channels, height + ph, width + pw))"
    ),
    "dilation ignored": _mutate(CONV2D_FORWARD_LOOPS, "dh, dw = _pair(dilation)", "dh, dw = 1, 1"),
    "bias missing": _mutate(CONV2D_FORWARD_LOOPS, "np.sum(window * w[f]) + b[f]", "np.sum(window * w[f])"),
    "channels not summed (last channel only)": _mutate(
        CONV2D_FORWARD_LOOPS, "np.sum(window * w[f]) + b[f]", "np.sum(window[-1] * w[f, -1]) + b[f]"
    ),
    "bias added once per input channel": _mutate(
        CONV2D_FORWARD_LOOPS,
        "np.sum(window * w[f]) + b[f]",
        "sum(np.sum(window[c] * w[f, c]) + b[f] for c in range(channels))",
    ),
    "stride pair swapped": _mutate(CONV2D_FORWARD_LOOPS, "sh, sw = _pair(stride)", "sw, sh = _pair(stride)"),
    "kernel larger than the input not rejected": _mutate(
        CONV2D_FORWARD_LOOPS,
        '    if out_h < 1 or out_w < 1:\n        raise ValueError("the kernel does not fit in the padded input")\n',
        "    out_h, out_w = max(out_h, 0), max(out_w, 0)\n",
    ),
    "w reshaped in place (w.shape = ...)": _mutate(
        CONV2D_FORWARD_LOOPS,
        "    if w_channels != channels:",
        "    w.shape = (filters, channels * kh * kw)  # changes the caller's array\n    if w_channels != channels:",
    ).replace("np.sum(window * w[f]) + b[f]", "np.dot(w[f], window.reshape(-1)) + b[f]"),
    "computed in float32 (the bias brings it back to float64)": _mutate(
        CONV2D_FORWARD_VECTORISED, 'np.einsum("nchwuv,fcuv->nfhw", windows, w)',
        'np.einsum("nchwuv,fcuv->nfhw", windows.astype(np.float32), w.astype(np.float32))'),
    "stride ignored in the window position (the output size right)": _mutate(
        CONV2D_FORWARD_LOOPS, "top, left = r * sh, s * sw", "top, left = r, s"),
    "dilation ignored in the window position (the output size right)": _mutate(
        CONV2D_FORWARD_LOOPS, "top : top + dh * (kh - 1) + 1 : dh, left : left + dw * (kw - 1) + 1 : dw]",
        "top : top + kh, left : left + kw]"),
}

# ---------------------------------------------------------------- conv2d_torch
CONV2D_TORCH_LOOPS = '''
import torch


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if x.dim() != 4 or w.dim() != 4:
        raise ValueError("x must be (N, C, H, W) and w (F, C // groups, KH, KW)")
    n, channels, height, width = x.shape
    filters, group_channels, kh, kw = w.shape
    if groups < 1 or channels % groups or filters % groups or group_channels * groups != channels:
        raise ValueError("groups must divide the channels and filters, and w.shape[1] must be C // groups")
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1, padding >= 0")
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph))
    out_h = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("the kernel does not fit in the padded input")
    group_filters = filters // groups
    outputs = []
    for g in range(groups):
        acc = x.new_zeros((n, group_filters, out_h, out_w))
        for u in range(kh):
            for v in range(kw):
                tap = xp[:, g * group_channels : (g + 1) * group_channels,
                         u * dh : u * dh + sh * (out_h - 1) + 1 : sh,
                         v * dw : v * dw + sw * (out_w - 1) + 1 : sw]
                acc = acc + torch.einsum("nchw,fc->nfhw", tap, w[g * group_filters : (g + 1) * group_filters, :, u, v])
        outputs.append(acc)
    out = torch.cat(outputs, dim=1)
    if b is not None:
        out = out + b.view(1, -1, 1, 1)
    return out
'''

CONV2D_TORCH_UNFOLD = '''
import torch


def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    def pair(value):
        return (value, value) if isinstance(value, int) else tuple(value)

    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got {tuple(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"w must be (F, C // groups, KH, KW), got {tuple(w.shape)}")
    n, channels, height, width = x.shape
    filters, group_channels, kh, kw = w.shape
    if channels % groups or filters % groups:
        raise ValueError("groups must divide the channels and the filters")
    if group_channels != channels // groups:
        raise ValueError("w.shape[1] must be C // groups")
    (sh, sw), (ph, pw), (dh, dw) = pair(stride), pair(padding), pair(dilation)
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("stride and dilation must be >= 1, padding >= 0")
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("the kernel does not fit in the padded input")
    cols = torch.nn.functional.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))
    cols = cols.view(n, groups, group_channels * kh * kw, out_h * out_w)
    weights = w.reshape(groups, filters // groups, group_channels * kh * kw)
    out = (weights.unsqueeze(0) @ cols).reshape(n, filters, out_h, out_w)
    return out if b is None else out + b.view(1, -1, 1, 1)
'''

CONV2D_TORCH_AS_STRIDED = '''
import torch


def _pair(value):
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv2d_torch(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    if x.dim() != 4 or w.dim() != 4:
        raise ValueError("x and w must be 4-D")
    n, channels, height, width = x.shape
    filters, group_channels, kh, kw = w.shape
    if channels % groups or filters % groups or group_channels * groups != channels:
        raise ValueError("channels, filters and groups do not match")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("bad stride, dilation or padding")
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError("the kernel does not fit in the padded input")
    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph)).contiguous()
    s_n, s_c, s_h, s_w = xp.stride()
    windows = xp.as_strided((n, channels, out_h, out_w, kh, kw), (s_n, s_c, s_h * sh, s_w * sw, s_h * dh, s_w * dw))
    windows = windows.reshape(n, groups, group_channels, out_h, out_w, kh, kw)
    weights = w.reshape(groups, filters // groups, group_channels, kh, kw)
    out = torch.einsum("ngchwuv,gfcuv->ngfhw", windows, weights).reshape(n, filters, out_h, out_w)
    if b is not None:
        out = out + b.view(1, -1, 1, 1)
    return out
'''

CONV2D_TORCH_MISTAKES = {
    "calls F.conv2d": _mutate(
        CONV2D_TORCH_UNFOLD,
        "    cols = torch.nn.functional.unfold(",
        "    return torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups)\n"
        "    cols = torch.nn.functional.unfold(",
    ),
    "flipped kernel": _mutate(CONV2D_TORCH_LOOPS, ":, u, v])", ":, kh - 1 - u, kw - 1 - v])"),
    "stride ignored along W": _mutate(CONV2D_TORCH_LOOPS, "sh, sw = _pair(stride)", "sh, sw = _pair(stride)[0], 1"),
    "padding on one side only": _mutate(CONV2D_TORCH_LOOPS, "(pw, pw, ph, ph)", "(pw, 0, ph, 0)"),
    "dilation ignored": _mutate(CONV2D_TORCH_LOOPS, "dh, dw = _pair(dilation)", "dh, dw = 1, 1"),
    "bias ignored": _mutate(CONV2D_TORCH_LOOPS, "    if b is not None:\n        out = out + b.view(1, -1, 1, 1)\n", ""),
    "group channels interleaved": _mutate(
        CONV2D_TORCH_LOOPS, "g * group_channels : (g + 1) * group_channels,", "g::groups,"
    ),
    "NumPy round-trip": _mutate(
        CONV2D_TORCH_LOOPS,
        "    xp = torch.nn.functional.pad(x, (pw, pw, ph, ph))",
        "    import numpy as np\n"
        "    xp = torch.from_numpy(np.pad(x.detach().cpu().numpy(), ((0, 0), (0, 0), (ph, ph), (pw, pw))))",
    ).replace("w[g * group_filters", "w.detach().cpu()[g * group_filters").replace(
        "acc = x.new_zeros(", "acc = xp.new_zeros("
    ).replace("b.view(1, -1, 1, 1)", "b.detach().cpu().view(1, -1, 1, 1)"),
    "result cast to float32": _mutate(CONV2D_TORCH_AS_STRIDED, "    return out\n", "    return out.float()\n"),
    "computed under torch.no_grad": _mutate(
        CONV2D_TORCH_UNFOLD,
        "    cols = torch.nn.functional.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))",
        "    with torch.no_grad():\n"
        "        cols = torch.nn.functional.unfold(x, (kh, kw), dilation=(dh, dw), padding=(ph, pw), stride=(sh, sw))",
    ).replace("    weights = w.reshape(", "    weights = w.detach().reshape(").replace(
        "out + b.view(1, -1, 1, 1)", "out + b.detach().view(1, -1, 1, 1)"
    ),
    "output tensor created on the CPU": _mutate(
        CONV2D_TORCH_LOOPS, "acc = x.new_zeros((n, group_filters, out_h, out_w))",
        "acc = torch.zeros((n, group_filters, out_h, out_w), dtype=x.dtype)",
    ),
}

# ---------------------------------------------------------------- the catalogue
CORRECT = {
    "loops": {
        "conv_output_size": OUTPUT_SIZE_COUNTING,
        "conv1d": CONV1D_LOOPS,
        "conv_matrix": CONV_MATRIX_LOOPS,
        "corr2d": CORR2D_LOOPS,
        "convolve2d": CONVOLVE2D_LOOPS,
        "pad2d": PAD2D_LOOPS,
        "conv2d_forward": CONV2D_FORWARD_LOOPS,
        "conv2d_torch": CONV2D_TORCH_LOOPS,
    },
    "vectorised": {
        "conv_output_size": OUTPUT_SIZE_FORMULA,
        "conv1d": CONV1D_VECTORISED,
        "conv_matrix": CONV_MATRIX_VECTORISED,
        "corr2d": CORR2D_VECTORISED,
        "convolve2d": CONVOLVE2D_VECTORISED,
        "pad2d": PAD2D_VECTORISED,
        "conv2d_forward": CONV2D_FORWARD_VECTORISED,
        "conv2d_torch": CONV2D_TORCH_UNFOLD,
    },
    "as_strided": {
        "conv2d_torch": CONV2D_TORCH_AS_STRIDED,
    },
}

MISTAKES = {
    "conv_output_size": OUTPUT_SIZE_MISTAKES,
    "conv1d": CONV1D_MISTAKES,
    "conv_matrix": CONV_MATRIX_MISTAKES,
    "corr2d": CORR2D_MISTAKES,
    "convolve2d": CONVOLVE2D_MISTAKES,
    "pad2d": PAD2D_MISTAKES,
    "conv2d_forward": CONV2D_FORWARD_MISTAKES,
    "conv2d_torch": CONV2D_TORCH_MISTAKES,
}
