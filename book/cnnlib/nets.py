"""Model builders for the chapters and a layer table (shapes, parameters, multiply-adds).

* MNIST-1D: :func:`mnist1d_fc` (about 150k parameters) and :func:`mnist1d_cnn` (2,050).
* Small nets: :func:`digits_cnn` (8x8 digits), :func:`deep_conv1d` (plain or residual,
  for the degradation experiment), :func:`tiny_segmenter` (encoder-decoder).
* Case studies, built from ``torch.nn`` layers: :func:`alexnet_two_tower`, :func:`zfnet`,
  :func:`vgg_net`, :func:`nin_net`, and :func:`conv_bn` (convolution, BatchNorm, ReLU), the
  unit that ResNet-style networks repeat. The blocks of chapter 7 (residual, bottleneck,
  Inception, fire, depthwise separable, MBConv, squeeze-and-excitation, dense) are written
  in that chapter, where they are taught.
* :func:`layer_table` runs one forward pass with hooks (on the ``meta`` device by default,
  so nothing is computed) and returns a row per leaf layer; :func:`layer_summary` and
  :func:`table` display rows as an HTML table.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "VGG_CONFIGS",
    "LayerRow",
    "Table",
    "alexnet_two_tower",
    "conv_bn",
    "count_params",
    "deep_conv1d",
    "digits_cnn",
    "layer_summary",
    "layer_table",
    "mnist1d_cnn",
    "mnist1d_fc",
    "nin_net",
    "table",
    "tiny_segmenter",
    "totals",
    "vgg_net",
    "zfnet",
]


# --------------------------------------------------------------------------- tables
def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not) of ``model``."""
    return sum(p.numel() for p in model.parameters())


@dataclass
class LayerRow:
    """One leaf layer's call: output shape without the batch axis, parameters, multiply-adds."""

    name: str
    kind: str
    out_shape: tuple[int, ...]
    params: int
    macs: int

    @property
    def activations(self) -> int:
        return math.prod(self.out_shape)


def _macs(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    """Multiply-adds per sample of a convolution or dense layer; 0 for everything else."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_input = module.out_channels // module.groups * math.prod(module.kernel_size)
        return inp[0].numel() * per_input
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return out[0].numel() * per_output
    if isinstance(module, nn.Linear):
        return out[0].numel() * module.in_features
    return 0


def layer_table(
    model: nn.Module, input_shape: Sequence[int], device: str | torch.device = "meta"
) -> list[LayerRow]:
    """Run one sample of shape ``input_shape`` through ``model`` and describe every leaf call.

    On the ``meta`` device (the default) tensors have shapes but no data, so even VGG-16 at
    224x224 costs nothing; ``model`` is copied there and left untouched.
    """
    import copy

    device = torch.device(device)
    net = copy.deepcopy(model).to(device) if device.type == "meta" else model
    rows: list[LayerRow] = []
    handles = []

    def hook(module, inputs, output, name):
        out = output[0] if isinstance(output, tuple) else output
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(
            LayerRow(name, type(module).__name__, tuple(out.shape[1:]), params, _macs(module, inputs[0], out))
        )

    for name, module in net.named_modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name)))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros((1, *input_shape), device=device))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    return rows


def totals(rows: Sequence[LayerRow]) -> dict[str, int]:
    """Sum of parameters, multiply-adds and output activations over ``rows``."""
    return {
        "params": sum(r.params for r in rows),
        "macs": sum(r.macs for r in rows),
        "activations": sum(r.activations for r in rows),
    }


def _fmt(value) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value)
    return str(value)


_NUMBER = re.compile(r"[-+]?[\d,.]+((×\d+)+| ?[kMGT%]| × [\d,.]+)?")  # 1,234  15.5 G  96×55×55  7 × 7


class Table:
    """Rows of values shown as an HTML table in notebooks and on the website.

    Integers get thousands separators and tuples are written ``a×b×c``. A cell written
    ``**text**`` is shown in bold. ``str()`` gives an aligned plain-text version.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence]):
        self.header = [str(h) for h in header]
        self.rows = [[_fmt(v) for v in row] for row in rows]

    @staticmethod
    def _cell_html(text: str, tag: str) -> str:
        from html import escape

        bold = len(text) > 4 and text.startswith("**") and text.endswith("**")
        body = f"<b>{escape(text[2:-2])}</b>" if bold else escape(text)
        numeric = tag == "td" and _NUMBER.fullmatch(text) is not None
        align = "right" if numeric else "left"
        return f'<{tag} style="text-align: {align}; padding: 0.15em 0.7em">{body}</{tag}>'

    def _repr_html_(self) -> str:
        head = "".join(self._cell_html(h, "th") for h in self.header)
        body = "".join("<tr>" + "".join(self._cell_html(c, "td") for c in row) + "</tr>" for row in self.rows)
        return f'<table style="font-size: 0.85em; width: auto"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'

    def _repr_markdown_(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in self.rows])

    def __str__(self) -> str:
        table = [self.header, *self.rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(self.header))]
        return "\n".join(
            "  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True)) for row in table
        )

    __repr__ = __str__


def table(header: Sequence[str], rows: Sequence[Sequence]) -> Table:
    """A :class:`Table` with ``header`` and ``rows``; the last expression of a cell displays it."""
    return Table(header, rows)


_SHORT_KIND = {
    "LocalResponseNorm": "LRN",
    "AdaptiveAvgPool2d": "AdaptiveAvgPool",
    "ConvTranspose2d": "ConvTranspose",
}


def layer_summary(rows: Sequence[LayerRow], kinds: Sequence[str] | None = None, total: bool = True) -> Table:
    """Table of :func:`layer_table` rows, keeping only layer types in ``kinds``; MACs = multiply-adds.

    The total row sums parameters and multiply-adds over *all* rows (so BatchNorm
    parameters count even when hidden) and activations over the rows shown.
    """
    kept = [r for r in rows if kinds is None or r.kind in kinds]
    body = [
        (r.name, _SHORT_KIND.get(r.kind, r.kind), r.out_shape, r.activations, r.params, r.macs) for r in kept
    ]
    if total:
        t = totals(rows)
        body.append(("**total**", "", "", totals(kept)["activations"], t["params"], t["macs"]))
    return Table(("layer", "type", "output", "activations", "parameters", "MACs"), body)


# --------------------------------------------------------------------------- small nets
def mnist1d_fc(hidden: int = 362, length: int = 40, classes: int = 10) -> nn.Sequential:
    """Two hidden dense layers of ``hidden`` units: 149,878 parameters by default."""
    return nn.Sequential(
        nn.Linear(length, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes)
    )


def mnist1d_cnn(channels: int = 15, length: int = 40, classes: int = 10) -> nn.Sequential:
    """Three Conv1d layers (kernel 3, stride 2, no padding) and one dense layer: 2,050 parameters.

    Takes ``(N, length)`` signals; the lengths go 40 -> 19 -> 9 -> 4.
    """
    named: OrderedDict[str, nn.Module] = OrderedDict(unflatten=nn.Unflatten(1, (1, length)))
    c_in, n = 1, length
    for i in range(1, 4):
        named[f"conv{i}"] = nn.Conv1d(c_in, channels, kernel_size=3, stride=2)
        named[f"relu{i}"] = nn.ReLU()
        c_in, n = channels, (n - 3) // 2 + 1
    named["flatten"] = nn.Flatten()
    named["fc"] = nn.Linear(channels * n, classes)
    return nn.Sequential(named)


def digits_cnn(c1: int = 8, c2: int = 16, classes: int = 10) -> nn.Sequential:
    """For 8x8 digits: 5x5 conv (c1) - pool - 3x3 conv (c2) - pool - dense."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, c1, kernel_size=5, padding=2),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(2),
            conv2=nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(2),
            flat=nn.Flatten(),
            fc=nn.Linear(c2 * 2 * 2, classes),
        )
    )


class _TwoConv1d(nn.Module):
    """Two conv-BN layers on ``width`` channels, with or without the identity added back."""

    def __init__(self, width: int, skip: bool):
        super().__init__()
        self.skip = skip
        self.body = nn.Sequential(
            nn.Conv1d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Conv1d(width, width, 3, padding=1, bias=False),
            nn.BatchNorm1d(width),
        )

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        change = self.body(signal)
        return torch.relu(signal + change if self.skip else change)


def deep_conv1d(
    blocks: int, residual: bool, width: int = 16, length: int = 40, classes: int = 10
) -> nn.Sequential:
    """Stem conv, ``blocks`` two-layer blocks (plain or residual), average pool, dense layer.

    Depth in weight layers is ``2 * blocks + 2``.
    """
    return nn.Sequential(
        nn.Unflatten(1, (1, length)),
        nn.Conv1d(1, width, 3, padding=1, bias=False),
        nn.BatchNorm1d(width),
        nn.ReLU(),
        nn.MaxPool1d(2),
        *[_TwoConv1d(width, residual) for _ in range(blocks)],
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(width, classes),
    )


def tiny_segmenter(in_ch: int = 1, classes: int = 3, width: int = 16) -> nn.Sequential:
    """Fully convolutional: two stride-2 convs down (H/4), two transposed convs back up."""

    def down(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU())

    def up(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU())

    return nn.Sequential(
        OrderedDict(
            stem=nn.Sequential(nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU()),
            down1=down(width, width),
            down2=down(width, 2 * width),
            middle=nn.Sequential(nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU()),
            up1=up(2 * width, width),
            up2=up(width, width),
            head=nn.Conv2d(width, classes, 1),
        )
    )


# --------------------------------------------------------------------------- case studies
def alexnet_two_tower(classes: int = 1000) -> nn.Sequential:
    """AlexNet as published (227x227 input): LRN, and ``groups=2`` where the two GPUs did not talk.

    60,965,224 parameters at 1000 classes.
    """

    def lrn() -> nn.Module:
        return nn.LocalResponseNorm(size=5, alpha=1e-4, beta=0.75, k=2.0)

    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 96, 11, stride=4),
            relu1=nn.ReLU(),
            norm1=lrn(),
            pool1=nn.MaxPool2d(3, stride=2),
            conv2=nn.Conv2d(96, 256, 5, padding=2, groups=2),
            relu2=nn.ReLU(),
            norm2=lrn(),
            pool2=nn.MaxPool2d(3, stride=2),
            conv3=nn.Conv2d(256, 384, 3, padding=1),
            relu3=nn.ReLU(),
            conv4=nn.Conv2d(384, 384, 3, padding=1, groups=2),
            relu4=nn.ReLU(),
            conv5=nn.Conv2d(384, 256, 3, padding=1, groups=2),
            relu5=nn.ReLU(),
            pool5=nn.MaxPool2d(3, stride=2),
            flatten=nn.Flatten(),
            drop6=nn.Dropout(0.5),
            fc6=nn.Linear(256 * 6 * 6, 4096),
            relu6=nn.ReLU(),
            drop7=nn.Dropout(0.5),
            fc7=nn.Linear(4096, 4096),
            relu7=nn.ReLU(),
            fc8=nn.Linear(4096, classes),
        )
    )


def zfnet(classes: int = 1000) -> nn.Sequential:
    """ZFNet (224x224 input): AlexNet's layout with a 7x7 stride-2 first layer, one tower."""
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 96, 7, stride=2, padding=1),
            relu1=nn.ReLU(),
            pool1=nn.MaxPool2d(3, stride=2, padding=1),
            conv2=nn.Conv2d(96, 256, 5, stride=2),
            relu2=nn.ReLU(),
            pool2=nn.MaxPool2d(3, stride=2, padding=1),
            conv3=nn.Conv2d(256, 384, 3, padding=1),
            relu3=nn.ReLU(),
            conv4=nn.Conv2d(384, 384, 3, padding=1),
            relu4=nn.ReLU(),
            conv5=nn.Conv2d(384, 256, 3, padding=1),
            relu5=nn.ReLU(),
            pool5=nn.MaxPool2d(3, stride=2),
            flatten=nn.Flatten(),
            fc6=nn.Linear(256 * 6 * 6, 4096),
            relu6=nn.ReLU(),
            drop6=nn.Dropout(0.5),
            fc7=nn.Linear(4096, 4096),
            relu7=nn.ReLU(),
            drop7=nn.Dropout(0.5),
            fc8=nn.Linear(4096, classes),
        )
    )


# "M" is a 2x2 max-pool; numbers are the widths of 3x3 convolutions (padding 1).
VGG_CONFIGS: dict[str, list[int | str]] = {
    "VGG-11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG-13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "VGG-16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "VGG-19": [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        256,
        "M",
        512,
        512,
        512,
        512,
        "M",
        512,
        512,
        512,
        512,
        "M",
    ],
}


def vgg_net(config: str = "VGG-16", classes: int = 1000) -> nn.Sequential:
    """VGG from a config of :data:`VGG_CONFIGS`; layers named ``conv{stage}_{i}``, ``pool{stage}``."""
    named: OrderedDict[str, nn.Module] = OrderedDict()
    c_in, stage, index = 3, 1, 1
    for item in VGG_CONFIGS[config]:
        if item == "M":
            named[f"pool{stage}"] = nn.MaxPool2d(2, 2)
            stage, index = stage + 1, 1
            continue
        named[f"conv{stage}_{index}"] = nn.Conv2d(c_in, int(item), 3, padding=1)
        named[f"relu{stage}_{index}"] = nn.ReLU()
        c_in, index = int(item), index + 1
    named["avgpool"] = nn.AdaptiveAvgPool2d(7)
    named["flatten"] = nn.Flatten()
    for i, (a, b) in enumerate(((512 * 7 * 7, 4096), (4096, 4096)), start=6):
        named[f"fc{i}"] = nn.Linear(a, b)
        named[f"relu{i}"] = nn.ReLU()
        named[f"drop{i}"] = nn.Dropout(0.5)
    named["fc8"] = nn.Linear(4096, classes)
    return nn.Sequential(named)


def _mlpconv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0) -> nn.Sequential:
    """NiN's micro network: a k x k convolution followed by two 1x1 convolutions."""
    return nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(c_in, c_out, k, stride, padding), relu=nn.ReLU(),
            mix1=nn.Conv2d(c_out, c_out, 1), relu1=nn.ReLU(),
            mix2=nn.Conv2d(c_out, c_out, 1), relu2=nn.ReLU(),
        )
    )  # fmt: skip


def nin_net(classes: int = 1000) -> nn.Sequential:
    """Network in Network for 224x224 input: four mlpconv blocks and global average pooling."""
    return nn.Sequential(
        OrderedDict(
            mlpconv1=_mlpconv(3, 96, 11, stride=4),
            pool1=nn.MaxPool2d(3, 2),
            mlpconv2=_mlpconv(96, 256, 5, padding=2),
            pool2=nn.MaxPool2d(3, 2),
            mlpconv3=_mlpconv(256, 384, 3, padding=1),
            pool3=nn.MaxPool2d(3, 2),
            drop=nn.Dropout(0.5),
            mlpconv4=_mlpconv(384, classes, 3, padding=1),
            gap=nn.AdaptiveAvgPool2d(1),
            flatten=nn.Flatten(),
        )
    )


def conv_bn(
    c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> nn.Sequential:
    """Convolution without bias, BatchNorm, optional ReLU: the unit ResNet-style nets repeat."""
    parts: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        parts.append(nn.ReLU(inplace=True))
    return nn.Sequential(*parts)
