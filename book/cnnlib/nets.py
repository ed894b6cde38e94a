"""Model builders for the chapters and a layer table (shapes, parameters, multiply-adds).

* MNIST-1D: :func:`mnist1d_fc` (about 150k parameters) and :func:`mnist1d_cnn` (2,050).
* Small nets: :func:`digits_cnn` (8x8 digits), :func:`deep_conv1d` (plain or residual,
  for the degradation experiment), :func:`tiny_segmenter` (encoder-decoder).
* Case studies, built from ``torch.nn`` layers: :func:`alexnet_two_tower`, :func:`zfnet`,
  :func:`vgg_net`, :func:`nin_net`, :class:`Inception`, :class:`Residual` with
  :func:`basic_residual` / :func:`bottleneck_residual` and :func:`resnet_net`,
  :func:`densenet_net`, :func:`squeezenet_v1`, :func:`mobilenet_v1`, :class:`SqueezeExcite`.
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
    "Fire",
    "Inception",
    "LayerRow",
    "Residual",
    "SqueezeExcite",
    "Table",
    "alexnet_two_tower",
    "basic_residual",
    "bottleneck_residual",
    "conv_bn",
    "count_params",
    "deep_conv1d",
    "densenet_net",
    "digits_cnn",
    "layer_summary",
    "layer_table",
    "mnist1d_cnn",
    "mnist1d_fc",
    "mobilenet_v1",
    "nin_net",
    "resnet_net",
    "separable_conv",
    "squeezenet_v1",
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


def _conv_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU())


class Inception(nn.Module):
    """GoogLeNet's module from a dict of widths; ``reduce=False`` drops the 1x1 bottlenecks.

    Keys: ``1x1``, ``3x3_reduce``, ``3x3``, ``5x5_reduce``, ``5x5``, ``pool_proj``. Without the
    reductions the 3x3 and 5x5 convolutions see all input channels and the pool branch
    passes its input through (the "naive" module of the paper).
    """

    def __init__(self, c_in: int, widths: dict[str, int], reduce: bool = True):
        super().__init__()
        w = widths
        self.one = _conv_relu(c_in, w["1x1"], 1)
        if reduce:
            self.three = nn.Sequential(
                _conv_relu(c_in, w["3x3_reduce"], 1), _conv_relu(w["3x3_reduce"], w["3x3"], 3)
            )
            self.five = nn.Sequential(
                _conv_relu(c_in, w["5x5_reduce"], 1), _conv_relu(w["5x5_reduce"], w["5x5"], 5)
            )
            self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), _conv_relu(c_in, w["pool_proj"], 1))
        else:
            self.three = _conv_relu(c_in, w["3x3"], 3)
            self.five = _conv_relu(c_in, w["5x5"], 5)
            self.pool = nn.MaxPool2d(3, 1, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(features) for branch in (self.one, self.three, self.five, self.pool)], dim=1)


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


class Residual(nn.Module):
    """``relu(shortcut(x) + gate(branch(x)))`` with optional stochastic depth.

    ``shortcut`` is the identity unless given. ``survival < 1`` turns on stochastic depth:
    in training the whole branch is skipped with probability ``1 - survival`` (one draw per
    forward pass); in evaluation the branch is scaled by ``survival``. ``gate`` is an
    optional module applied to the branch output (e.g. :class:`SqueezeExcite`).
    """

    def __init__(
        self,
        branch: nn.Module,
        shortcut: nn.Module | None = None,
        survival: float = 1.0,
        gate: nn.Module | None = None,
    ):
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.gate = gate if gate is not None else nn.Identity()
        self.survival = survival

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(features)
        if self.training and self.survival < 1.0 and torch.rand(()) > self.survival:
            return torch.relu(identity)
        out = self.gate(self.branch(features))
        if not self.training and self.survival < 1.0:
            out = out * self.survival
        return torch.relu(identity + out)


def _projection(c_in: int, c_out: int, stride: int) -> nn.Module | None:
    return None if (c_in == c_out and stride == 1) else conv_bn(c_in, c_out, 1, stride, relu=False)


def basic_residual(c_in: int, c_out: int, stride: int = 1, **kwargs) -> Residual:
    """Two 3x3 conv-BN layers; a 1x1 projection when the shape changes."""
    branch = nn.Sequential(conv_bn(c_in, c_out, 3, stride), conv_bn(c_out, c_out, 3, relu=False))
    return Residual(branch, _projection(c_in, c_out, stride), **kwargs)


def bottleneck_residual(
    c_in: int, c_out: int, stride: int = 1, width: int | None = None, groups: int = 1, **kwargs
) -> Residual:
    """1x1 down to ``width`` (default ``c_out // 4``), 3x3 (stride, ``groups``), 1x1 up to ``c_out``."""
    width = width or c_out // 4
    branch = nn.Sequential(
        conv_bn(c_in, width, 1),
        conv_bn(width, width, 3, stride, groups=groups),
        conv_bn(width, c_out, 1, relu=False),
    )
    return Residual(branch, _projection(c_in, c_out, stride), **kwargs)


def resnet_net(
    depths: Sequence[int] = (2, 2, 2, 2),
    bottleneck: bool = False,
    classes: int = 1000,
    groups: int = 1,
    width_per_group: int = 64,
    survival_last: float = 1.0,
    se_reduction: int | None = None,
) -> nn.Sequential:
    """ResNet family for 224x224 input (7x7 stem, 3x3 max-pool, four stages, average pool).

    ``depths=(2, 2, 2, 2)`` is ResNet-18, ``(3, 4, 6, 3)`` ResNet-34, and with
    ``bottleneck=True`` ResNet-50. ``groups``/``width_per_group`` give ResNeXt (32, 4) and
    Wide ResNet (1, 128). ``survival_last < 1`` sets stochastic depth with the linear decay
    rule; ``se_reduction`` adds a squeeze-and-excitation gate to every block.
    """
    blocks_total = sum(depths)
    stages: OrderedDict[str, nn.Module] = OrderedDict(
        stem=conv_bn(3, 64, 7, stride=2), pool=nn.MaxPool2d(3, 2, padding=1)
    )
    c_in, block_index = 64, 0
    for stage, count in enumerate(depths):
        planes = 64 * 2**stage
        c_out = planes * 4 if bottleneck else planes
        blocks = []
        for i in range(count):
            block_index += 1
            stride = 2 if (i == 0 and stage > 0) else 1
            options = {"survival": 1.0 - block_index / blocks_total * (1.0 - survival_last)}
            if se_reduction:
                options["gate"] = SqueezeExcite(c_out, se_reduction)
            if bottleneck:
                width = int(planes * width_per_group / 64) * groups
                blocks.append(bottleneck_residual(c_in, c_out, stride, width=width, groups=groups, **options))
            else:
                blocks.append(basic_residual(c_in, c_out, stride, **options))
            c_in = c_out
        stages[f"stage{stage + 1}"] = nn.Sequential(*blocks)
    stages["avgpool"] = nn.AdaptiveAvgPool2d(1)
    stages["flatten"] = nn.Flatten()
    stages["fc"] = nn.Linear(c_in, classes)
    return nn.Sequential(stages)


class _DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3 conv (k); output appended to the input channels."""

    def __init__(self, c_in: int, growth: int):
        super().__init__()
        self.new = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, 4 * growth, 1, bias=False),
            nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False),
        )  # fmt: skip

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.cat((features, self.new(features)), 1)


def densenet_net(
    blocks: Sequence[int] = (6, 12, 24, 16), growth: int = 32, stem: int = 64, classes: int = 1000
) -> nn.Sequential:
    """DenseNet-BC (DenseNet-121 by default): dense blocks joined by halving transitions."""
    parts: list[nn.Module] = [
        nn.Conv2d(3, stem, 7, 2, 3, bias=False),
        nn.BatchNorm2d(stem),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    channels = stem
    for b, layers in enumerate(blocks):
        for _ in range(layers):
            parts.append(_DenseLayer(channels, growth))
            channels += growth
        if b < len(blocks) - 1:
            parts += [
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(channels, channels // 2, 1, bias=False),
                nn.AvgPool2d(2),
            ]
            channels //= 2
    parts += [
        nn.BatchNorm2d(channels),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, classes),
    ]
    return nn.Sequential(*parts)


class Fire(nn.Module):
    """SqueezeNet's module: 1x1 squeeze to ``s`` channels, then ``e1`` 1x1 and ``e3`` 3x3 expands."""

    def __init__(self, c_in: int, s: int, e1: int, e3: int):
        super().__init__()
        self.squeeze = _conv_relu(c_in, s, 1)
        self.expand = nn.ModuleList([_conv_relu(s, e1, 1), _conv_relu(s, e3, 3)])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        squeezed = self.squeeze(features)
        return torch.cat([e(squeezed) for e in self.expand], 1)


def squeezenet_v1(classes: int = 1000) -> nn.Sequential:
    """SqueezeNet 1.0 (224x224 input): 1,248,424 parameters at 1000 classes."""
    fires = [
        (96, 16, 64),
        (128, 16, 64),
        (128, 32, 128),
        "M",
        (256, 32, 128),
        (256, 48, 192),
        (384, 48, 192),
        (384, 64, 256),
        "M",
        (512, 64, 256),
    ]
    parts: list[nn.Module] = [nn.Conv2d(3, 96, 7, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True)]
    for f in fires:
        parts.append(nn.MaxPool2d(3, 2, ceil_mode=True) if f == "M" else Fire(f[0], f[1], f[2], f[2]))
    parts += [nn.Dropout(0.5), nn.Conv2d(512, classes, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*parts)


def separable_conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 depthwise conv-BN-ReLU then 1x1 pointwise conv-BN-ReLU."""
    return nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1))


def mobilenet_v1(classes: int = 1000, alpha: float = 1.0) -> nn.Sequential:
    """MobileNet v1 for 224x224 input; ``alpha`` is the width multiplier."""
    plan = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )
    c = int(32 * alpha)
    parts: list[nn.Module] = [conv_bn(3, c, 3, stride=2)]
    for width, stride in plan:
        parts.append(separable_conv(c, int(width * alpha), stride))
        c = int(width * alpha)
    parts += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]
    return nn.Sequential(*parts)


class SqueezeExcite(nn.Module):
    """Channel gate: global average pool, bottleneck of ``channels // reduction``, sigmoid, rescale.

    Written with 1x1 convolutions, which on a 1x1 map are the two dense layers of SENet.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features * self.gate(features)
