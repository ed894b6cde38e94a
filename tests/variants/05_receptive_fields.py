"""Correct variants and classic mistakes for 05_receptive_fields (see README.md here)."""

# ----------------------------------------------------------------------------- receptive_field
_RF_CHECKS = '''
def _check(layers):
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of triples")
    for layer in layers:
        if not isinstance(layer, (list, tuple)) or len(layer) != 3:
            raise ValueError(f"{layer!r} is not a (kernel_size, stride, dilation) triple")
        for value in layer:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{layer!r}: entries must be ints >= 1")
'''

RF_BACKWARDS = _RF_CHECKS + '''

def receptive_field(layers):
    """From the output unit back to the input: r <- s * r + d * (k - 1) + 1 - s."""
    _check(layers)
    size = 1
    for kernel_size, stride, dilation in reversed(layers):
        size = stride * size + dilation * (kernel_size - 1) + 1 - stride
    return size
'''

RF_NUMPY = '''
import numpy as np


def receptive_field(layers):
    """Closed form with NumPy: 1 + sum of d (k - 1) times the product of the previous strides."""
    if not isinstance(layers, (list, tuple)) or len(layers) == 0:
        raise ValueError("no layers")
    if any(not isinstance(layer, (list, tuple)) or len(layer) != 3 for layer in layers):
        raise ValueError("every layer must be a (kernel_size, stride, dilation) triple")
    if any(type(v) is not int for layer in layers for v in layer):
        raise ValueError("kernel_size, stride and dilation must be ints")
    table = np.array(layers, dtype=np.int64)
    if (table < 1).any():
        raise ValueError("kernel_size, stride and dilation must be >= 1")
    k, s, d = table[:, 0], table[:, 1], table[:, 2]
    jumps = np.concatenate([[1], np.cumprod(s)[:-1]])
    return int(1 + np.sum(d * (k - 1) * jumps))
'''


def _rf(update: str, final: str = "size") -> str:
    """A forward-recursion receptive_field whose per-layer update is ``update``."""
    return _RF_CHECKS + f'''

def receptive_field(layers):
    _check(layers)
    size, jump = 1, 1
    total = 0
    for kernel_size, stride, dilation in layers:
{update}
    return {final}
'''


RF_MISTAKES = {
    "dilation ignored": _rf("        size += (kernel_size - 1) * jump\n        jump *= stride"),
    "the current layer's stride multiplied in too": _rf(
        "        jump *= stride\n        size += dilation * (kernel_size - 1) * jump"),
    "strides summed instead of multiplied": _rf(
        "        size += dilation * (kernel_size - 1) * jump\n        total += stride\n        jump = total"),
    "the '+ 1' missing": _rf("        size += dilation * (kernel_size - 1) * jump\n        jump *= stride", "size - 1"),
    "k instead of k - 1 per layer": _rf("        size += dilation * kernel_size * jump\n        jump *= stride"),
    "strides ignored": _rf("        size += dilation * (kernel_size - 1)"),
    "no validation: an empty list or a zero stride is accepted": '''
def receptive_field(layers):
    size, jump = 1, 1
    for kernel_size, stride, dilation in layers:
        size += dilation * (kernel_size - 1) * jump
        jump *= stride
    return size
''',
    "the caller's list reversed in place": _RF_CHECKS + '''

def receptive_field(layers):
    _check(layers)
    layers.reverse()
    size = 1
    for kernel_size, stride, dilation in layers:
        size = stride * size + dilation * (kernel_size - 1) + 1 - stride
    return size
''',
}

# ----------------------------------------------------------------------------- empirical_receptive_field
ERF_RANDOM_POSITIVE = '''
import copy

import torch
import torch.nn.functional as F
from torch import nn


class _WindowSum(nn.Module):
    """A max-pool's window as a sum: every value of the window gets a gradient."""

    def __init__(self, pool):
        super().__init__()
        self.kernel_size = nn.modules.utils._pair(pool.kernel_size)
        self.stride = nn.modules.utils._pair(pool.stride or pool.kernel_size)
        self.padding = nn.modules.utils._pair(pool.padding)
        self.dilation = nn.modules.utils._pair(pool.dilation)

    def forward(self, x):
        channels = x.shape[1]
        weight = torch.ones(channels, 1, *self.kernel_size, dtype=x.dtype, device=x.device)
        return F.conv2d(x, weight, stride=self.stride, padding=self.padding, dilation=self.dilation, groups=channels)


def _swap_max_pools(module):
    for name, child in module.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(module, name, _WindowSum(child))
        else:
            _swap_max_pools(child)


def empirical_receptive_field(model, input_shape):
    """Random positive weights and a random positive input: no cancellation, no dead ReLU."""
    if not (isinstance(input_shape, tuple) and len(input_shape) == 3
            and all(isinstance(v, int) and v > 0 for v in input_shape)):
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    reference = next(iter([*model.parameters(), *model.buffers()]), None)
    device = reference.device if reference is not None else torch.device("cpu")
    holder = nn.ModuleList([copy.deepcopy(model)]).double().eval()
    _swap_max_pools(holder)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in holder.parameters():
            values = torch.rand(parameter.shape, generator=generator, dtype=torch.float64) + 0.5
            parameter.copy_(values.to(parameter.device))
    x = (torch.rand((1, *input_shape), generator=generator, dtype=torch.float64) + 0.5).to(device)
    x.requires_grad_(True)
    out = holder[0](x)
    if out.ndim != 4:
        raise ValueError("the model's output must be (N, C, H, W)")
    unit = out[0, :, (out.shape[-2]) // 2, (out.shape[-1]) // 2].sum()
    (grad,) = torch.autograd.grad(unit, x)
    mask = grad[0].ne(0).any(dim=0)
    rows = torch.where(mask.any(dim=1))[0]
    cols = torch.where(mask.any(dim=0))[0]
    return max(int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
'''

ERF_ONES_MODEL_DTYPE = '''
import copy

import torch
from torch import nn


def empirical_receptive_field(model, input_shape):
    """Ones everywhere, in the model's own dtype; max-pools become average pools."""
    if len(tuple(input_shape)) != 3 or any(int(v) != v or v < 1 for v in input_shape):
        raise ValueError("input_shape must be three positive ints (C, H, W)")
    probe = copy.deepcopy(model).eval()
    if isinstance(probe, nn.MaxPool2d):
        probe = nn.AvgPool2d(probe.kernel_size, probe.stride, probe.padding)
    for parent in list(probe.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    parameters = list(probe.parameters())
    dtype = parameters[0].dtype if parameters else torch.float32
    device = parameters[0].device if parameters else torch.device("cpu")
    with torch.no_grad():
        for parameter in parameters:
            parameter.copy_(torch.ones_like(parameter))
    x = torch.ones(1, *input_shape, dtype=dtype, device=device, requires_grad=True)
    out = probe(x)
    if out.dim() != 4:
        raise ValueError(f"expected a 4-D output, got {tuple(out.shape)}")
    out[..., out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    nonzero = torch.nonzero(x.grad[0].sum(dim=0))
    extent = nonzero.max(dim=0).values - nonzero.min(dim=0).values + 1
    return int(extent.max())
'''

_ERF_REFERENCE = '''
import copy
import numbers

import torch
from torch import nn


def empirical_receptive_field(model, input_shape):
    if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
            or not all(isinstance(v, numbers.Integral) and v >= 1 for v in input_shape)):
        raise ValueError(f"bad input_shape {input_shape!r}")
    tensors = [*model.parameters(), *model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    probe = nn.Sequential(copy.deepcopy(model)).to(dtype=torch.float64).eval()
    for parent in list(probe.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    with torch.no_grad():
        for parameter in probe.parameters():
            parameter.fill_(1.0)
    x = torch.ones((1, *input_shape), dtype=torch.float64, device=device, requires_grad=True)
    out = probe(x)
    if out.dim() != 4:
        raise ValueError(f"the model must return (N, C, H, W), got {tuple(out.shape)}")
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    touched = x.grad[0].abs().sum(dim=0) > 0
    rows = torch.nonzero(touched.any(dim=1)).flatten()
    cols = torch.nonzero(touched.any(dim=0)).flatten()
    return int(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))
'''


def _erf(old: str, new: str) -> str:
    """The reference with one piece replaced by a mistake."""
    assert old in _ERF_REFERENCE, old
    return _ERF_REFERENCE.replace(old, new)


ERF_MISTAKES = {
    "gradient of the model as it is, on a random input (dead ReLUs, max-pool winners only)": _erf(
        '''    probe = nn.Sequential(copy.deepcopy(model)).to(dtype=torch.float64).eval()
    for parent in list(probe.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    with torch.no_grad():
        for parameter in probe.parameters():
            parameter.fill_(1.0)
    x = torch.ones((1, *input_shape), dtype=torch.float64, device=device, requires_grad=True)''',
        '''    probe = nn.Sequential(copy.deepcopy(model)).to(dtype=torch.float64).eval()
    x = torch.randn((1, *input_shape), dtype=torch.float64, device=device, requires_grad=True)'''),
    "the caller's model is modified (no copy)": _erf(
        "probe = nn.Sequential(copy.deepcopy(model)).to(dtype=torch.float64).eval()",
        "probe = nn.Sequential(model.to(dtype=torch.float64)).eval()"),
    "the number of pixels (area) instead of the side": _erf(
        "return int(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))",
        "return int(touched.sum())"),
    "last - first instead of last - first + 1": _erf(
        "return int(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))",
        "return int(max(rows[-1] - rows[0], cols[-1] - cols[0]))"),
    "the corner unit (0, 0) instead of the centre one": _erf(
        "out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()",
        "out[0, :, 0, 0].sum().backward()"),
    "the input is float32 on the CPU whatever the model": _erf(
        '''    probe = nn.Sequential(copy.deepcopy(model)).to(dtype=torch.float64).eval()''',
        '''    probe = nn.Sequential(copy.deepcopy(model)).eval()''').replace(
        "dtype=torch.float64, device=device, requires_grad=True", "requires_grad=True"),
    "all output units instead of the centre one": _erf(
        "out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()", "out.sum().backward()"),
    "max-pools kept (their gradient reaches one value per window)": _erf(
        "            if isinstance(child, nn.MaxPool2d):", "            if False:"),
    "no ValueError when the output is not 4-D": _erf(
        '''    if out.dim() != 4:
        raise ValueError(f"the model must return (N, C, H, W), got {tuple(out.shape)}")
''', '''    if out.dim() == 2:
        out = out[:, :, None, None]
'''),
}

CORRECT = {
    "alternative-1": {"receptive_field": RF_BACKWARDS, "empirical_receptive_field": ERF_RANDOM_POSITIVE},
    "alternative-2": {"receptive_field": RF_NUMPY, "empirical_receptive_field": ERF_ONES_MODEL_DTYPE},
}

MISTAKES = {"receptive_field": RF_MISTAKES, "empirical_receptive_field": ERF_MISTAKES}
