"""Correct variants and classic mistakes for 01_why_not_fully_connected (see README.md here)."""

# ----------------------------------------------------------------------------- correct
DENSE_LOOP = '''
def dense_param_count(input_shape, units, bias=True):
    n = 1
    for size in input_shape:
        if size < 1:
            raise ValueError("every size in input_shape must be >= 1")
        n *= int(size)
    if len(tuple(input_shape)) == 0 or units < 1:
        raise ValueError("need a non-empty input_shape and units >= 1")
    weights = n * int(units)
    biases = int(units) if bias else 0
    return weights + biases
'''

DENSE_NUMPY = '''
import numpy as np

def dense_param_count(input_shape, units, bias=True):
    shape = np.asarray(input_shape, dtype=np.int64)
    if shape.ndim != 1 or shape.size == 0 or (shape < 1).any() or units < 1:
        raise ValueError(f"bad input_shape {input_shape!r} or units {units!r}")
    n = int(np.prod(shape, dtype=np.int64))
    return (n + int(bias)) * int(units)
'''

CONV_TUPLE = '''
def conv2d_param_count(in_channels, out_channels, kernel_size, bias=True, groups=1):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    if groups < 1 or in_channels % groups != 0 or out_channels % groups != 0:
        raise ValueError("in_channels and out_channels must be divisible by groups")
    if min(in_channels, out_channels, kh, kw) < 1:
        raise ValueError("sizes must be >= 1")
    per_filter = (in_channels // groups) * kh * kw
    return out_channels * (per_filter + (1 if bias else 0))
'''

CONV_PER_GROUP = '''
import numpy as np

def conv2d_param_count(in_channels, out_channels, kernel_size, bias=True, groups=1):
    k = np.broadcast_to(np.asarray(kernel_size), (2,))
    if (k < 1).any() or in_channels < 1 or out_channels < 1 or groups < 1:
        raise ValueError("sizes must be >= 1")
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}")
    total = 0
    for _ in range(groups):   # each group is a small convolution of its own
        total += (out_channels // groups) * (in_channels // groups) * int(k[0]) * int(k[1])
    if bias:
        total += out_channels
    return int(total)
'''

SHIFT_LOOPS = '''
import numpy as np

def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs at least 2 axes")
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            si, sj = i - dy, j - dx
            if 0 <= si < h and 0 <= sj < w:
                out[..., i, j] = x[..., si, sj]
    return out
'''

SHIFT_PAD = '''
import numpy as np

def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs at least 2 axes")
    h, w = x.shape[-2:]
    py, px = min(abs(dy), h), min(abs(dx), w)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(py, py), (px, px)])
    top = py - max(-h, min(h, dy))
    left = px - max(-w, min(w, dx))
    return padded[..., top:top + h, left:left + w].copy()
'''

EQUI_LOOPS = '''
import math
import numpy as np

def _shift(x, dy, dx):
    x = np.asarray(x)
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out

def equivariance_error(f, x, dy, dx, border=0):
    if border < 0:
        raise ValueError("border must be >= 0")
    a = np.array(f(_shift(x, dy, dx)), dtype=float)
    b = _shift(np.array(f(x), dtype=float), dy, dx)
    h, w = b.shape[-2:]
    if h - 2 * border < 1 or w - 2 * border < 1:
        raise ValueError("empty crop")
    a = a[..., border:h - border, border:w - border]
    b = b[..., border:h - border, border:w - border]
    num = math.sqrt(float(((a - b) ** 2).sum()))
    den = math.sqrt(float((b ** 2).sum()))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den
'''

EQUI_PAD = '''
import numpy as np

def _shift(x, dy, dx):
    x = np.asarray(x)
    h, w = x.shape[-2:]
    py, px = min(abs(dy), h), min(abs(dx), w)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(py, py), (px, px)])
    top, left = py - max(-h, min(h, dy)), px - max(-w, min(w, dx))
    return padded[..., top:top + h, left:left + w]

def equivariance_error(f, x, dy, dx, border=0):
    fx = np.asarray(f(x), dtype=np.float64)
    fsx = np.asarray(f(_shift(x, dy, dx)), dtype=np.float64)
    h, w = fx.shape[-2:]
    if border < 0 or 2 * border >= min(h, w):
        raise ValueError(f"border {border} is negative or too large for {h}x{w}")
    rows, cols = slice(border, h - border), slice(border, w - border)
    diff = (fsx - _shift(fx, dy, dx))[..., rows, cols]
    ref = _shift(fx, dy, dx)[..., rows, cols]
    den = np.linalg.norm(ref.ravel())
    num = np.linalg.norm(diff.ravel())
    return float(num / den) if den > 0 else (0.0 if num == 0 else float("inf"))
'''

INV_LOOPS = '''
import math
import numpy as np

def _shift(x, dy, dx):
    x = np.asarray(x)
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = x[..., i - dy, j - dx]
    return out

def invariance_error(f, x, dy, dx):
    a = np.array(f(_shift(x, dy, dx)), dtype=float).ravel()
    b = np.array(f(x), dtype=float).ravel()
    num = math.sqrt(sum((p - q) ** 2 for p, q in zip(a, b)))
    den = math.sqrt(sum(q * q for q in b))
    if den == 0.0:
        return 0.0 if num == 0.0 else math.inf
    return num / den
'''

INV_PAD = '''
import numpy as np

def _shift(x, dy, dx):
    x = np.asarray(x)
    h, w = x.shape[-2:]
    py, px = min(abs(dy), h), min(abs(dx), w)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(py, py), (px, px)])
    top, left = py - max(-h, min(h, dy)), px - max(-w, min(w, dx))
    return padded[..., top:top + h, left:left + w]

def invariance_error(f, x, dy, dx):
    before = np.asarray(f(x), dtype=np.float64)
    after = np.asarray(f(_shift(x, dy, dx)), dtype=np.float64)
    den = np.sqrt(np.sum(before * before))
    num = np.sqrt(np.sum((after - before) ** 2))
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(num / den)
'''

PERM_INDEX_SELECT = '''
import torch

def permute_pixels(x, perm):
    if x.dim() < 2:
        raise ValueError("x must be (..., H, W)")
    h, w = x.shape[-2], x.shape[-1]
    perm = torch.as_tensor(perm, dtype=torch.long)
    if perm.shape != (h * w,):
        raise ValueError("perm must have H*W entries")
    if perm.device.type != "meta" and not torch.equal(torch.bincount(perm, minlength=h * w), torch.ones(h * w, dtype=torch.long)):
        raise ValueError("perm must be a permutation")
    flat = x.reshape(*x.shape[:-2], h * w)
    return flat.index_select(-1, perm.to(x.device)).reshape(*x.shape[:-2], h, w)
'''

PERM_GATHER = '''
import torch

def permute_pixels(x, perm):
    if x.ndim < 2:
        raise ValueError("x must be (..., H, W)")
    h, w = x.shape[-2:]
    perm = torch.as_tensor(perm).long()
    if perm.ndim != 1 or len(perm) != h * w or sorted(perm.tolist()) != list(range(h * w)):
        raise ValueError("perm must be a permutation of 0..H*W-1")
    flat = x.flatten(-2)
    index = perm.to(x.device).expand(*flat.shape[:-1], h * w)
    return torch.gather(flat, -1, index).unflatten(-1, (h, w))
'''

CORRECT = {
    "loops": {
        "dense_param_count": DENSE_LOOP,
        "conv2d_param_count": CONV_TUPLE,
        "shift2d": SHIFT_LOOPS,
        "equivariance_error": EQUI_LOOPS,
        "invariance_error": INV_LOOPS,
        "permute_pixels": PERM_INDEX_SELECT,
    },
    "vectorised": {
        "dense_param_count": DENSE_NUMPY,
        "conv2d_param_count": CONV_PER_GROUP,
        "shift2d": SHIFT_PAD,
        "equivariance_error": EQUI_PAD,
        "invariance_error": INV_PAD,
        "permute_pixels": PERM_GATHER,
    },
}

# ----------------------------------------------------------------------------- mistakes
_DENSE = '''
import math

def dense_param_count(input_shape, units, bias=True):
    if len(input_shape) == 0 or min(input_shape) < 1 or units < 1:
        raise ValueError("bad input")
    n = math.prod(input_shape)
    return {body}
'''

_CONV = '''
def conv2d_param_count(in_channels, out_channels, kernel_size, bias=True, groups=1):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if min(in_channels, out_channels, kh, kw, groups) < 1:
        raise ValueError("sizes must be >= 1")
    if in_channels % groups or out_channels % groups:
        raise ValueError("not divisible by groups")
    return {body}
'''

_SHIFT_HEAD = '''
import numpy as np

def _zero_shift(x, dy, dx):
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    if abs(dy) < h and abs(dx) < w:
        out[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = \\
            x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out
'''

_EQUI = _SHIFT_HEAD + '''
def equivariance_error(f, x, dy, dx, border=0):
    if border < 0:
        raise ValueError("border must be >= 0")
    shift = {shift}
    a = np.asarray(f(shift(x, dy, dx)), dtype=np.float64)
    b = shift(np.asarray(f(x), dtype=np.float64), {out_dy}, {out_dx})
    {compare}
    h, w = b.shape[-2:]
    if 2 * border >= min(h, w):
        raise ValueError("empty crop")
    crop = {crop}
    num = {num}
    den = {den}
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float(num / den)
'''

_INV = _SHIFT_HEAD + '''
def invariance_error(f, x, dy, dx):
    shift = {shift}
    a = np.asarray(f(shift(np.asarray(x), dy, dx)), dtype=np.float64)
    b = np.asarray(f(x), dtype=np.float64)
    {compare}
    num = np.linalg.norm(a - b)
    den = {den}
    if den == 0:
        return 0.0 if num == 0 else float("inf")
    return float({result})
'''

_ROLL = "lambda z, a, b: np.roll(z, (a, b), axis=(-2, -1))"
_CROP = "(..., slice(border, h - border), slice(border, w - border))"
_NUM = "np.linalg.norm(a[crop] - b[crop])"
_DEN = "np.linalg.norm(b[crop])"


def _equi(shift="_zero_shift", out_dy="dy", out_dx="dx", compare="pass", crop=_CROP, num=_NUM, den=_DEN):
    return _EQUI.format(shift=shift, out_dy=out_dy, out_dx=out_dx, compare=compare, crop=crop, num=num, den=den)


def _inv(shift="_zero_shift", compare="pass", den="np.linalg.norm(b)", result="num / den"):
    return _INV.format(shift=shift, compare=compare, den=den, result=result)


_PERM = '''
import torch

def permute_pixels(x, perm):
    if x.ndim < 2:
        raise ValueError("x must be (..., H, W)")
    h, w = x.shape[-2:]
    perm = torch.as_tensor(perm).long()
    if perm.shape != (h * w,) or sorted(perm.tolist()) != list(range(h * w)):
        raise ValueError("perm must be a permutation of 0..H*W-1")
{body}
'''

MISTAKES = {
    "dense_param_count": {
        "the bias is missing": _DENSE.format(body="n * units"),
        "the bias is counted even when bias=False": _DENSE.format(body="n * units + units"),
        "only the last axis of input_shape is used": _DENSE.format(body="input_shape[-1] * units + (units if bias else 0)"),
        "one bias per input instead of one per unit": _DENSE.format(body="n * units + (n if bias else 0)"),
        "the sizes are added instead of multiplied": _DENSE.format(body="sum(input_shape) * units + (units if bias else 0)"),
        "32-bit overflow (np.prod with dtype int32)": '''
import numpy as np

def dense_param_count(input_shape, units, bias=True):
    if len(input_shape) == 0 or min(input_shape) < 1 or units < 1:
        raise ValueError("bad input")
    n = np.prod(np.array(input_shape), dtype=np.int32)
    with np.errstate(over="ignore"):
        return n * np.int32(units) + np.int32(units if bias else 0)
''',
        "returns a float": _DENSE.format(body="float(n * units + (units if bias else 0))"),
        "no ValueError on bad input": '''
import math

def dense_param_count(input_shape, units, bias=True):
    return math.prod(input_shape) * units + (units if bias else 0)
''',
    },
    "conv2d_param_count": {
        "groups ignored": _CONV.format(body="out_channels * in_channels * kh * kw + (out_channels if bias else 0)"),
        "both channel counts divided by groups": _CONV.format(
            body="(out_channels // groups) * (in_channels // groups) * kh * kw + (out_channels if bias else 0)"),
        "the bias is missing": _CONV.format(body="out_channels * (in_channels // groups) * kh * kw"),
        "one bias per input channel": _CONV.format(
            body="out_channels * (in_channels // groups) * kh * kw + (in_channels if bias else 0)"),
        "the kernel counted as KH instead of KH*KW": _CONV.format(
            body="out_channels * (in_channels // groups) * kh + (out_channels if bias else 0)"),
        "KH used for both sides of the kernel": _CONV.format(
            body="out_channels * (in_channels // groups) * kh * kh + (out_channels if bias else 0)"),
        "no ValueError when channels are not divisible by groups": '''
def conv2d_param_count(in_channels, out_channels, kernel_size, bias=True, groups=1):
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    return out_channels * (in_channels // groups) * kh * kw + (out_channels if bias else 0)
''',
    },
    "shift2d": {
        "np.roll wraps pixels around": '''
import numpy as np

def shift2d(x, dy, dx):
    if np.ndim(x) < 2:
        raise ValueError("x needs 2 axes")
    return np.roll(x, (dy, dx), axis=(-2, -1))
''',
        "the shift goes the wrong way": _SHIFT_HEAD + '''
def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs 2 axes")
    return _zero_shift(x, -dy, -dx)
''',
        "dy and dx swapped": _SHIFT_HEAD + '''
def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs 2 axes")
    return _zero_shift(x, dx, dy)
''',
        "modifies x in place and returns it": _SHIFT_HEAD + '''
def shift2d(x, dy, dx):
    if np.ndim(x) < 2:
        raise ValueError("x needs 2 axes")
    x[...] = _zero_shift(x, dy, dx)
    return x
''',
        "works only for 2-D images (no ellipsis)": '''
import numpy as np

def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs 2 axes")
    h, w = x.shape[0], x.shape[1]
    out = np.zeros_like(x)
    if abs(dy) < h and abs(dx) < w:
        out[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = \\
            x[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out
''',
        "shifts of H rows or more are not handled": '''
import numpy as np

def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs 2 axes")
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    out[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = \\
        x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out
''',
        "float64 result for a float32 input": '''
import numpy as np

def shift2d(x, dy, dx):
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError("x needs 2 axes")
    h, w = x.shape[-2:]
    out = np.zeros(x.shape)
    if abs(dy) < h and abs(dx) < w:
        out[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)] = \\
            x[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out
''',
    },
    "equivariance_error": {
        "compares f(S x) with f(x) (invariance)": _equi(compare="b = np.asarray(f(x), dtype=np.float64)"),
        "the output is shifted the opposite way": _equi(out_dy="-dy", out_dx="-dx"),
        "border ignored (no crop)": _equi(crop="(...,)"),
        "divides by ||f(S x)|| instead of ||S f(x)||": _equi(den="np.linalg.norm(a[crop])"),
        "np.roll (wrap-around) instead of a zero-filled shift": _equi(shift=_ROLL),
        "absolute instead of relative error": _equi(den="1.0"),
        "largest absolute difference instead of the norm": _equi(
            num="np.abs(a[crop] - b[crop]).max()", den="np.abs(b[crop]).max()"),
        "crop only along the rows": _equi(crop="(..., slice(border, h - border), slice(None))"),
    },
    "invariance_error": {
        "compares with the shifted output S f(x) (equivariance)": _inv(compare="b = _zero_shift(b, dy, dx)"),
        "absolute instead of relative error": _inv(result="num"),
        "divides by ||f(S x)|| instead of ||f(x)||": _inv(den="np.linalg.norm(a)"),
        "squared ratio (no square roots)": _inv(result="(num / den) ** 2"),
        "np.roll (wrap-around) instead of a zero-filled shift": _inv(shift=_ROLL),
        "divides by ||x|| instead of ||f(x)||": _inv(den="np.linalg.norm(np.asarray(x, dtype=float))"),
    },
    "permute_pixels": {
        "the inverse permutation (out[perm] = x)": _PERM.format(body='''    flat = x.flatten(-2)
    out = torch.empty_like(flat)
    out[..., perm.to(x.device)] = flat
    return out.reshape(x.shape)'''),
        "pixels numbered column by column": _PERM.format(body='''    flat = x.transpose(-1, -2).flatten(-2)
    return flat[..., perm.to(x.device)].reshape(*x.shape[:-2], w, h).transpose(-1, -2)'''),
        "returns the flattened (..., H*W) tensor": _PERM.format(body='''    return x.flatten(-2)[..., perm.to(x.device)]'''),
        "NumPy round-trip (device, dtype and gradient lost)": _PERM.format(body='''    import numpy as np
    a = x.detach().cpu().numpy()
    flat = a.reshape(*a.shape[:-2], h * w)[..., perm.numpy()]
    return torch.from_numpy(np.ascontiguousarray(flat.reshape(a.shape)))'''),
        "a different random permutation for every image": _PERM.format(body='''    flat = x.flatten(-2)
    rows = [f[torch.randperm(h * w).to(x.device)] for f in flat.reshape(-1, h * w)]
    return torch.stack(rows).reshape(x.shape)'''),
        "the whole batch flattened together": _PERM.format(body='''    return x.reshape(-1)[perm.to(x.device)].reshape(x.shape)'''),
        "no ValueError on a bad perm": '''
import torch

def permute_pixels(x, perm):
    perm = torch.as_tensor(perm).long()
    return x.flatten(-2)[..., perm.to(x.device) % (x.shape[-2] * x.shape[-1])].reshape(x.shape)
''',
    },
}
