"""Correct variants and classic mistakes for assignment 07_architectures.

Every source below is a complete, self-contained solution cell. Most mistakes are one
targeted edit of a correct variant; ``_edit`` fails loudly if the text to change is
missing, so a mistake can never silently equal its correct source.
"""

from __future__ import annotations

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def _edit(source: str, *changes: tuple[str, str]) -> str:
    """Apply (old, new) replacements, each of which must occur in ``source``."""
    for old, new in changes:
        if old not in source:
            raise ValueError(f"text to edit not found: {old!r}")
        source = source.replace(old, new)
    return source


def _check(name: str, channels: str) -> str:
    """Source lines of a forward-input check (rank and channel count)."""
    return (
        f"        if x.dim() != 4 or x.shape[1] != {channels}:\n"
        f"            raise ValueError(f\"{name} expects (N, {{{channels}}}, H, W), got {{tuple(x.shape)}}\")\n"
    )


# ----------------------------------------------------------------------------- VGGBlock
VGG_SEQUENTIAL = HEADER + '''class VGGBlock(nn.Module):
    def __init__(self, in_channels, out_channels, num_convs):
        super().__init__()
        self.in_channels = in_channels
        layers, channels = [], in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = out_channels
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
''' + _check("VGGBlock", "self.in_channels") + '''        return self.body(x)
'''

VGG_FUNCTIONAL = HEADER + '''class VGGBlock(nn.Module):
    def __init__(self, in_channels, out_channels, num_convs):
        super().__init__()
        self.in_channels = in_channels
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, 1, 1) for i in range(num_convs)
        )

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError("VGGBlock: x must be 4-D (N, C, H, W)")
        if x.size(1) != self.in_channels:
            raise ValueError(f"VGGBlock: expected {self.in_channels} channels, got {x.size(1)}")
        for conv in self.convs:
            x = F.relu(conv(x))
        return F.max_pool2d(x, 2)
'''

VGG_MISTAKES = {
    "convolutions without padding": _edit(VGG_FUNCTIONAL, ("3, 1, 1)", "3, 1, 0)")),
    "no ReLU after the last convolution": _edit(
        VGG_FUNCTIONAL,
        ("        for conv in self.convs:\n            x = F.relu(conv(x))\n",
         "        for i, conv in enumerate(self.convs):\n            x = conv(x)\n"
         "            if i < len(self.convs) - 1:\n                x = F.relu(x)\n"),
    ),
    "average pooling instead of max pooling": _edit(VGG_FUNCTIONAL, ("F.max_pool2d(x, 2)", "F.avg_pool2d(x, 2)")),
    "convolutions without bias": _edit(VGG_FUNCTIONAL, ("3, 1, 1)", "3, 1, 1, bias=False)")),
    "later convolutions share one module ([conv, relu] * (n - 1))": _edit(
        VGG_SEQUENTIAL,
        ("        for _ in range(num_convs):\n"
         "            layers += [nn.Conv2d(channels, out_channels, kernel_size=3, padding=1), nn.ReLU(inplace=True)]\n"
         "            channels = out_channels\n",
         "        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()]\n"
         "        layers += [nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1), nn.ReLU()] * (num_convs - 1)\n"),
    ),
    "max-pool with stride 1": _edit(VGG_FUNCTIONAL, ("F.max_pool2d(x, 2)", "F.max_pool2d(x, 2, 1)")),
    "max-pool before the convolutions": _edit(
        VGG_FUNCTIONAL,
        ("        for conv in self.convs:\n            x = F.relu(conv(x))\n        return F.max_pool2d(x, 2)\n",
         "        x = F.max_pool2d(x, 2)\n        for conv in self.convs:\n            x = F.relu(conv(x))\n        return x\n"),
    ),
}

# ----------------------------------------------------------------------------- InceptionModule
INCEPTION_SEQUENTIAL = HEADER + '''class InceptionModule(nn.Module):
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.in_channels = in_channels
        self.b1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU(inplace=True))
        self.b2 = nn.Sequential(nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(c3_reduce, c3, 3, padding=1), nn.ReLU(inplace=True))
        self.b3 = nn.Sequential(nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU(inplace=True))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU(inplace=True))

    def forward(self, x):
''' + _check("InceptionModule", "self.in_channels") + '''        return torch.cat([branch(x) for branch in (self.b1, self.b2, self.b3, self.b4)], 1)
'''

INCEPTION_FUNCTIONAL = HEADER + '''class InceptionModule(nn.Module):
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, c1, kernel_size=1)
        self.reduce3 = nn.Conv2d(in_channels, c3_reduce, kernel_size=1)
        self.conv3 = nn.Conv2d(c3_reduce, c3, kernel_size=3, padding=1)
        self.reduce5 = nn.Conv2d(in_channels, c5_reduce, kernel_size=1)
        self.conv5 = nn.Conv2d(c5_reduce, c5, kernel_size=5, padding=2)
        self.proj = nn.Conv2d(in_channels, pool_proj, kernel_size=1)

    def forward(self, x):
''' + _check("InceptionModule", "self.in_channels") + '''        y1 = F.relu(self.conv1(x))
        y3 = F.relu(self.conv3(F.relu(self.reduce3(x))))
        y5 = F.relu(self.conv5(F.relu(self.reduce5(x))))
        y4 = F.relu(self.proj(F.max_pool2d(x, kernel_size=3, stride=1, padding=1)))
        return torch.cat((y1, y3, y5, y4), dim=1)
'''

INCEPTION_MISTAKES = {
    "concatenated as [1x1, 3x3, pool, 5x5]": _edit(INCEPTION_FUNCTIONAL, ("(y1, y3, y5, y4)", "(y1, y3, y4, y5)")),
    "no ReLU after the reduce convolutions": _edit(
        INCEPTION_FUNCTIONAL,
        ("F.relu(self.reduce3(x))", "self.reduce3(x)"), ("F.relu(self.reduce5(x))", "self.reduce5(x)"),
    ),
    "5x5 convolution with padding 1": _edit(INCEPTION_FUNCTIONAL, ("kernel_size=5, padding=2", "kernel_size=5, padding=1")),
    "max-pool without padding": _edit(INCEPTION_FUNCTIONAL, ("stride=1, padding=1)", "stride=1, padding=0)")),
    "pool projection before the max-pool": _edit(
        INCEPTION_FUNCTIONAL,
        ("F.relu(self.proj(F.max_pool2d(x, kernel_size=3, stride=1, padding=1)))",
         "F.max_pool2d(F.relu(self.proj(x)), kernel_size=3, stride=1, padding=1)"),
    ),
    "convolutions without bias": INCEPTION_FUNCTIONAL.replace("kernel_size=1)", "kernel_size=1, bias=False)"),
    "no max-pool in the pool branch": _edit(
        INCEPTION_FUNCTIONAL, ("self.proj(F.max_pool2d(x, kernel_size=3, stride=1, padding=1))", "self.proj(x)")
    ),
}

# ----------------------------------------------------------------------------- ResidualBlock
RESIDUAL_SEQUENTIAL = HEADER + '''class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.in_channels = in_channels
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x):
''' + _check("ResidualBlock", "self.in_channels") + '''        return self.relu(self.main(x) + self.shortcut(x))
'''

RESIDUAL_FUNCTIONAL = HEADER + '''class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x):
''' + _check("ResidualBlock", "self.in_channels") + '''        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)
'''

RESIDUAL_MISTAKES = {
    "shortcut projection used when shapes match": _edit(
        RESIDUAL_FUNCTIONAL, ("if stride != 1 or in_channels != out_channels:", "if True:")
    ),
    "projection only when the channels change (stride ignored)": _edit(
        RESIDUAL_FUNCTIONAL, ("if stride != 1 or in_channels != out_channels:", "if in_channels != out_channels:")
    ),
    "ReLU before the addition": _edit(
        RESIDUAL_FUNCTIONAL, ("out = self.bn2(self.conv2(out))", "out = F.relu(self.bn2(self.conv2(out)))")
    ),
    "convolutions before BatchNorm keep their bias": RESIDUAL_FUNCTIONAL.replace(", bias=False)", ")"),
    "stride on the second convolution": _edit(
        RESIDUAL_FUNCTIONAL,
        ("kernel_size=3, stride=stride, padding=1", "kernel_size=3, stride=1, padding=1"),
        ("out_channels, out_channels, kernel_size=3, stride=1,", "out_channels, out_channels, kernel_size=3, stride=stride,"),
    ),
    "no BatchNorm on the projection shortcut": _edit(
        RESIDUAL_FUNCTIONAL,
        ("stride=stride, bias=False),\n                nn.BatchNorm2d(out_channels),\n",
         "stride=stride, bias=False),\n"),
    ),
    "no ReLU after the addition": _edit(RESIDUAL_FUNCTIONAL, ("return F.relu(out)", "return out")),
    "BatchNorm after the ReLU": _edit(
        RESIDUAL_FUNCTIONAL, ("F.relu(self.bn1(self.conv1(x)))", "self.bn1(F.relu(self.conv1(x)))")
    ),
}

# ----------------------------------------------------------------------------- BottleneckBlock
BOTTLENECK_SEQUENTIAL = HEADER + '''class BottleneckBlock(nn.Module):
    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = 4 * mid_channels
        self.in_channels = in_channels
        self.main = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, 1, bias=False), nn.BatchNorm2d(mid_channels), nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x):
''' + _check("BottleneckBlock", "self.in_channels") + '''        return torch.relu(self.main(x) + self.shortcut(x))
'''

BOTTLENECK_FUNCTIONAL = HEADER + '''class BottleneckBlock(nn.Module):
    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = mid_channels * 4
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, mid_channels, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.project = stride != 1 or in_channels != out_channels
        if self.project:
            self.proj_conv = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
''' + _check("BottleneckBlock", "self.in_channels") + '''        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = self.proj_bn(self.proj_conv(x)) if self.project else x
        return F.relu(out + shortcut)
'''

BOTTLENECK_MISTAKES = {
    "stride on the first 1x1 convolution": _edit(
        BOTTLENECK_FUNCTIONAL,
        ("mid_channels, kernel_size=1, bias=False)", "mid_channels, kernel_size=1, stride=stride, bias=False)"),
        ("kernel_size=3, stride=stride, padding=1", "kernel_size=3, stride=1, padding=1"),
    ),
    "no expansion: the output has mid_channels channels": _edit(
        BOTTLENECK_FUNCTIONAL, ("out_channels = mid_channels * 4", "out_channels = mid_channels")
    ),
    "shortcut projection used when shapes match": _edit(
        BOTTLENECK_FUNCTIONAL, ("self.project = stride != 1 or in_channels != out_channels", "self.project = True")
    ),
    "convolutions before BatchNorm keep their bias": BOTTLENECK_FUNCTIONAL.replace(", bias=False)", ")"),
    "ReLU before the addition": _edit(
        BOTTLENECK_FUNCTIONAL, ("out = self.bn3(self.conv3(out))", "out = F.relu(self.bn3(self.conv3(out)))")
    ),
    "projection only when the channels change (stride ignored)": _edit(
        BOTTLENECK_FUNCTIONAL, ("self.project = stride != 1 or in_channels != out_channels",
                                "self.project = in_channels != out_channels")
    ),
    "3x3 convolution without padding": _edit(BOTTLENECK_FUNCTIONAL, ("stride=stride, padding=1", "stride=stride, padding=0")),
}

# ----------------------------------------------------------------------------- DenseBlock
DENSE_SEQUENTIAL = HEADER + '''class DenseBlock(nn.Module):
    def __init__(self, num_layers, in_channels, growth_rate):
        super().__init__()
        self.in_channels = in_channels
        self.layers = nn.ModuleList()
        for i in range(num_layers):
            channels = in_channels + i * growth_rate
            self.layers.append(nn.Sequential(
                nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
                nn.Conv2d(channels, growth_rate, kernel_size=3, padding=1, bias=False),
            ))

    def forward(self, x):
''' + _check("DenseBlock", "self.in_channels") + '''        for layer in self.layers:
            x = torch.cat([x, layer(x)], dim=1)
        return x
'''

DENSE_FUNCTIONAL = HEADER + '''class DenseBlock(nn.Module):
    def __init__(self, num_layers, in_channels, growth_rate):
        super().__init__()
        self.in_channels = in_channels
        widths = [in_channels + i * growth_rate for i in range(num_layers)]
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in widths)
        self.convs = nn.ModuleList(nn.Conv2d(c, growth_rate, 3, padding=1, bias=False) for c in widths)

    def forward(self, x):
''' + _check("DenseBlock", "self.in_channels") + '''        features = [x]
        for norm, conv in zip(self.norms, self.convs):
            h = torch.cat(features, 1)
            features.append(conv(F.relu(norm(h))))
        return torch.cat(features, 1)
'''

DENSE_MISTAKES = {
    "new features concatenated before the input": _edit(
        DENSE_SEQUENTIAL, ("torch.cat([x, layer(x)], dim=1)", "torch.cat([layer(x), x], dim=1)")
    ),
    "conv -> BN -> ReLU (post-activation) instead of BN -> ReLU -> conv": _edit(
        DENSE_FUNCTIONAL,
        ("self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in widths)",
         "self.norms = nn.ModuleList(nn.BatchNorm2d(growth_rate) for c in widths)"),
        ("features.append(conv(F.relu(norm(h))))", "features.append(F.relu(norm(conv(h))))"),
    ),
    "convolutions with bias": _edit(DENSE_FUNCTIONAL, ("padding=1, bias=False)", "padding=1)")),
    "each layer reads only the previous layer's output": _edit(
        DENSE_FUNCTIONAL, ("h = torch.cat(features, 1)", "h = features[-1]")
    ),
    "only the new features are returned": _edit(DENSE_FUNCTIONAL, ("return torch.cat(features, 1)", "return torch.cat(features[1:], 1)")),
    "3x3 convolution without padding": _edit(DENSE_FUNCTIONAL, ("3, padding=1, bias=False)", "3, padding=0, bias=False)")),
    "no ReLU between BatchNorm and convolution": _edit(DENSE_FUNCTIONAL, ("conv(F.relu(norm(h)))", "conv(norm(h))")),
}

# ----------------------------------------------------------------------------- FireModule
FIRE_SEQUENTIAL = HEADER + '''class FireModule(nn.Module):
    def __init__(self, in_channels, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.in_channels = in_channels
        self.squeeze = nn.Sequential(nn.Conv2d(in_channels, squeeze, 1), nn.ReLU(inplace=True))
        self.expand1 = nn.Sequential(nn.Conv2d(squeeze, expand1x1, 1), nn.ReLU(inplace=True))
        self.expand3 = nn.Sequential(nn.Conv2d(squeeze, expand3x3, 3, padding=1), nn.ReLU(inplace=True))

    def forward(self, x):
''' + _check("FireModule", "self.in_channels") + '''        s = self.squeeze(x)
        return torch.cat([self.expand1(s), self.expand3(s)], 1)
'''

FIRE_FUNCTIONAL = HEADER + '''class FireModule(nn.Module):
    def __init__(self, in_channels, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.in_channels = in_channels
        self.squeeze = nn.Conv2d(in_channels, squeeze, kernel_size=1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)

    def forward(self, x):
''' + _check("FireModule", "self.in_channels") + '''        s = F.relu(self.squeeze(x))
        a = F.relu(self.expand1x1(s))
        b = F.relu(self.expand3x3(s))
        return torch.cat((a, b), dim=1)
'''

FIRE_MISTAKES = {
    "concatenated as [expand3x3, expand1x1]": _edit(FIRE_FUNCTIONAL, ("torch.cat((a, b), dim=1)", "torch.cat((b, a), dim=1)")),
    "no ReLU after the squeeze convolution": _edit(FIRE_FUNCTIONAL, ("s = F.relu(self.squeeze(x))", "s = self.squeeze(x)")),
    "3x3 expand convolution without padding": _edit(FIRE_FUNCTIONAL, ("kernel_size=3, padding=1", "kernel_size=3")),
    "the expand convolutions read the input instead of the squeezed tensor": _edit(
        FIRE_FUNCTIONAL,
        ("nn.Conv2d(squeeze, expand1x1,", "nn.Conv2d(in_channels, expand1x1,"),
        ("nn.Conv2d(squeeze, expand3x3,", "nn.Conv2d(in_channels, expand3x3,"),
        ("self.expand1x1(s)", "self.expand1x1(x)"), ("self.expand3x3(s)", "self.expand3x3(x)"),
    ),
    "convolutions without bias": FIRE_FUNCTIONAL.replace("kernel_size=1)", "kernel_size=1, bias=False)").replace(
        "padding=1)", "padding=1, bias=False)"),
    "no ReLU after the expand convolutions": _edit(
        FIRE_FUNCTIONAL, ("a = F.relu(self.expand1x1(s))", "a = self.expand1x1(s)"),
        ("b = F.relu(self.expand3x3(s))", "b = self.expand3x3(s)"),
    ),
    "the two expand branches are added instead of concatenated": _edit(
        FIRE_FUNCTIONAL, ("torch.cat((a, b), dim=1)", "a + b if a.shape == b.shape else torch.cat((a, b), dim=1)[:, : a.shape[1]]")
    ),
}

# ----------------------------------------------------------------------------- DepthwiseSeparableConv
DWSEP_SEQUENTIAL = HEADER + '''class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
            nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
        )

    def forward(self, x):
''' + _check("DepthwiseSeparableConv", "self.in_channels") + '''        return self.net(x)
'''

DWSEP_FUNCTIONAL = HEADER + '''class DepthwiseSeparableConv(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.in_channels = in_channels
        self.dw = nn.Conv2d(in_channels, in_channels, kernel_size=3, stride=stride, padding=1,
                            groups=in_channels, bias=False)
        self.dw_bn = nn.BatchNorm2d(in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False)
        self.pw_bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
''' + _check("DepthwiseSeparableConv", "self.in_channels") + '''        h = F.relu(self.dw_bn(self.dw(x)))
        return F.relu(self.pw_bn(self.pw(h)))
'''

DWSEP_MISTAKES = {
    "depthwise convolution without groups (a full 3x3 convolution)": _edit(
        DWSEP_FUNCTIONAL, ("padding=1,\n                            groups=in_channels, bias=False)",
                           "padding=1,\n                            bias=False)")
    ),
    "stride on the pointwise convolution": _edit(
        DWSEP_FUNCTIONAL, ("kernel_size=3, stride=stride,", "kernel_size=3, stride=1,"),
        ("kernel_size=1, stride=1,", "kernel_size=1, stride=stride,"),
    ),
    "convolutions before BatchNorm keep their bias": DWSEP_FUNCTIONAL.replace(", bias=False)", ")").replace(
        "groups=in_channels, bias=False)", "groups=in_channels)"),
    "ReLU6 instead of ReLU": DWSEP_FUNCTIONAL.replace("F.relu(", "F.relu6("),
    "no BatchNorm after the depthwise convolution": _edit(
        DWSEP_FUNCTIONAL, ("h = F.relu(self.dw_bn(self.dw(x)))", "h = F.relu(self.dw(x))"),
        ("        self.dw_bn = nn.BatchNorm2d(in_channels)\n", ""),
    ),
    "no ReLU between depthwise and pointwise": _edit(
        DWSEP_FUNCTIONAL, ("h = F.relu(self.dw_bn(self.dw(x)))", "h = self.dw_bn(self.dw(x))")
    ),
    "depthwise convolution without padding": _edit(DWSEP_FUNCTIONAL, ("stride=stride, padding=1,", "stride=stride, padding=0,")),
}

# ----------------------------------------------------------------------------- SEBlock
SE_CONV = HEADER + '''class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        hidden = channels // reduction
        if hidden < 1:
            raise ValueError(f"SEBlock: channels // reduction must be >= 1, got {channels} // {reduction}")
        self.channels = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
''' + _check("SEBlock", "self.channels") + '''        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))
        return scale * x
'''

SE_LINEAR = HEADER + '''class SEBlock(nn.Module):
    def __init__(self, channels, reduction=16):
        super().__init__()
        if channels // reduction == 0:
            raise ValueError("SEBlock: the hidden width channels // reduction is 0")
        self.channels = channels
        self.excite = nn.Sequential(
            nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels), nn.Sigmoid(),
        )

    def forward(self, x):
''' + _check("SEBlock", "self.channels") + '''        n, c = x.shape[:2]
        gate = self.excite(x.mean(dim=(2, 3)))
        return x * gate.view(n, c, 1, 1)
'''

SE_MISTAKES = {
    "no sigmoid on the gate": _edit(SE_LINEAR, ("nn.Linear(channels // reduction, channels), nn.Sigmoid(),",
                                                "nn.Linear(channels // reduction, channels),")),
    "hidden width reduction instead of channels // reduction": _edit(
        SE_LINEAR, ("nn.Linear(channels, channels // reduction)", "nn.Linear(channels, reduction)"),
        ("nn.Linear(channels // reduction, channels)", "nn.Linear(reduction, channels)"),
    ),
    "global max pooling for the squeeze": _edit(SE_LINEAR, ("x.mean(dim=(2, 3))", "x.amax(dim=(2, 3))")),
    "the gate is added to x": _edit(SE_LINEAR, ("return x * gate.view(n, c, 1, 1)", "return x + gate.view(n, c, 1, 1)")),
    "linear layers without bias": _edit(
        SE_LINEAR, ("nn.Linear(channels, channels // reduction)", "nn.Linear(channels, channels // reduction, bias=False)"),
        ("nn.Linear(channels // reduction, channels)", "nn.Linear(channels // reduction, channels, bias=False)"),
    ),
    "softmax over channels instead of sigmoid": _edit(SE_LINEAR, ("nn.Sigmoid()", "nn.Softmax(dim=1)")),
    "no ReLU between the linear layers": _edit(SE_LINEAR, ("nn.ReLU(inplace=True),\n", "\n")),
    "returns the gate instead of the scaled input": _edit(SE_CONV, ("return scale * x", "return scale")),
}

# ----------------------------------------------------------------------------- resnet18
RESNET_CLASSES = HEADER + '''class _BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class _ResNet(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(_BasicBlock(64, 64), _BasicBlock(64, 64))
        self.layer2 = nn.Sequential(_BasicBlock(64, 128, 2), _BasicBlock(128, 128))
        self.layer3 = nn.Sequential(_BasicBlock(128, 256, 2), _BasicBlock(256, 256))
        self.layer4 = nn.Sequential(_BasicBlock(256, 512, 2), _BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"resnet18 expects (N, 3, H, W), got {tuple(x.shape)}")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(torch.flatten(x, 1))


def resnet18(num_classes=1000):
    return _ResNet(num_classes)
'''

RESNET_FUNCTIONAL = HEADER + '''def _conv_bn(cin, cout, k, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class _Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = _conv_bn(cin, cout, 3, stride)
        self.b = _conv_bn(cout, cout, 3, 1)
        self.skip = _conv_bn(cin, cout, 1, stride) if (stride > 1 or cin != cout) else nn.Identity()

    def forward(self, x):
        return F.relu(self.b(F.relu(self.a(x))) + self.skip(x))


class _ResNet18(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.stem = _conv_bn(3, 64, 7, 2)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            blocks += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(512, num_classes)

    def forward(self, x):
        if x.ndim != 4:
            raise ValueError("resnet18: expected a 4-D batch of images")
        if x.shape[1] != 3:
            raise ValueError(f"resnet18: expected 3 input channels, got {x.shape[1]}")
        h = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)
        h = self.blocks(h)
        return self.head(F.adaptive_avg_pool2d(h, 1).flatten(1))


def resnet18(num_classes: int = 1000) -> nn.Module:
    return _ResNet18(num_classes)
'''

RESNET_MISTAKES = {
    "convolutions before BatchNorm keep their bias": _edit(
        RESNET_FUNCTIONAL, ("nn.Conv2d(cin, cout, k, stride, k // 2, bias=False)", "nn.Conv2d(cin, cout, k, stride, k // 2)")
    ),
    "CIFAR stem: 3x3 convolution with stride 1 and no max-pool": _edit(
        RESNET_FUNCTIONAL, ("self.stem = _conv_bn(3, 64, 7, 2)", "self.stem = _conv_bn(3, 64, 3, 1)"),
        ("h = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)", "h = F.relu(self.stem(x))"),
    ),
    "no max-pool after the stem": _edit(
        RESNET_FUNCTIONAL, ("h = F.max_pool2d(F.relu(self.stem(x)), 3, 2, 1)", "h = F.relu(self.stem(x))")
    ),
    "shortcut projection in every block": _edit(
        RESNET_FUNCTIONAL, ("if (stride > 1 or cin != cout) else nn.Identity()", "if True else nn.Identity()")
    ),
    "fixed 7x7 average pool instead of an adaptive one": _edit(
        RESNET_CLASSES, ("self.avgpool = nn.AdaptiveAvgPool2d((1, 1))", "self.avgpool = nn.AvgPool2d(7)")
    ),
    "no average pool before the head (flatten only)": _edit(RESNET_CLASSES, ("        x = self.avgpool(x)\n", "")),
    "ReLU before the addition in the blocks": _edit(
        RESNET_CLASSES, ("out = self.bn2(self.conv2(out))", "out = self.relu(self.bn2(self.conv2(out)))")
    ),
    "stride 2 in the first stage too": _edit(
        RESNET_CLASSES, ("nn.Sequential(_BasicBlock(64, 64), _BasicBlock(64, 64))",
                         "nn.Sequential(_BasicBlock(64, 64, 2), _BasicBlock(64, 64))")
    ),
}

# ----------------------------------------------------------------------------- vgg16
VGG16_SEQUENTIAL = HEADER + '''_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class _VGG(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        layers, cin = [], 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(cin, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=0.5),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"vgg16 expects (N, 3, H, W), got {tuple(x.shape)}")
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def vgg16(num_classes=1000):
    return _VGG(num_classes)
'''

VGG16_FUNCTIONAL = HEADER + '''def _block(cin, cout, n):
    layers = []
    for i in range(n):
        layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class _VGG16(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.blocks = nn.Sequential(_block(3, 64, 2), _block(64, 128, 2), _block(128, 256, 3),
                                    _block(256, 512, 3), _block(512, 512, 3))
        self.fc1 = nn.Linear(25088, 4096)
        self.fc2 = nn.Linear(4096, 4096)
        self.fc3 = nn.Linear(4096, num_classes)

    def forward(self, x):
        if x.ndim != 4 or x.size(1) != 3:
            raise ValueError("vgg16 expects a batch of RGB images (N, 3, H, W)")
        h = F.adaptive_avg_pool2d(self.blocks(x), (7, 7)).flatten(1)
        h = F.dropout(F.relu(self.fc1(h)), 0.5, training=self.training)
        h = F.dropout(F.relu(self.fc2(h)), 0.5, training=self.training)
        return self.fc3(h)


def vgg16(num_classes: int = 1000) -> nn.Module:
    return _VGG16(num_classes)
'''

VGG16_MISTAKES = {
    "dropout also active in eval mode (F.dropout without training=)": VGG16_FUNCTIONAL.replace(
        "0.5, training=self.training)", "0.5)"),
    "no dropout": VGG16_FUNCTIONAL.replace(", 0.5, training=self.training)", ", 0.0, training=self.training)"),
    "no adaptive 7x7 average pool": _edit(
        VGG16_FUNCTIONAL, ("F.adaptive_avg_pool2d(self.blocks(x), (7, 7)).flatten(1)", "self.blocks(x).flatten(1)")
    ),
    "dropout with p=0.2": VGG16_FUNCTIONAL.replace("0.5, training=self.training)", "0.2, training=self.training)"),
    "VGG-13 configuration (two convolutions per block)": _edit(
        VGG16_FUNCTIONAL, ("_block(128, 256, 3),\n                                    _block(256, 512, 3), _block(512, 512, 3)",
                           "_block(128, 256, 2),\n                                    _block(256, 512, 2), _block(512, 512, 2)")
    ),
    "BatchNorm after every convolution (vgg16_bn)": _edit(
        VGG16_FUNCTIONAL, ("layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.ReLU()]",
                           "layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]")
    ),
    "no ReLU in the classifier": _edit(
        VGG16_FUNCTIONAL, ("F.dropout(F.relu(self.fc1(h))", "F.dropout(self.fc1(h)"),
        ("F.dropout(F.relu(self.fc2(h))", "F.dropout(self.fc2(h)"),
    ),
    "dropout before the first linear layer": _edit(
        VGG16_SEQUENTIAL, ("nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5),",
                           "nn.Dropout(p=0.5), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True),")
    ),
}

CORRECT = {
    "sequential": {
        "VGGBlock": VGG_SEQUENTIAL,
        "InceptionModule": INCEPTION_SEQUENTIAL,
        "ResidualBlock": RESIDUAL_SEQUENTIAL,
        "BottleneckBlock": BOTTLENECK_SEQUENTIAL,
        "DenseBlock": DENSE_SEQUENTIAL,
        "FireModule": FIRE_SEQUENTIAL,
        "DepthwiseSeparableConv": DWSEP_SEQUENTIAL,
        "SEBlock": SE_CONV,
        "resnet18": RESNET_CLASSES,
        "vgg16": VGG16_SEQUENTIAL,
    },
    "functional": {
        "VGGBlock": VGG_FUNCTIONAL,
        "InceptionModule": INCEPTION_FUNCTIONAL,
        "ResidualBlock": RESIDUAL_FUNCTIONAL,
        "BottleneckBlock": BOTTLENECK_FUNCTIONAL,
        "DenseBlock": DENSE_FUNCTIONAL,
        "FireModule": FIRE_FUNCTIONAL,
        "DepthwiseSeparableConv": DWSEP_FUNCTIONAL,
        "SEBlock": SE_LINEAR,
        "resnet18": RESNET_FUNCTIONAL,
        "vgg16": VGG16_FUNCTIONAL,
    },
}

MISTAKES = {
    "VGGBlock": VGG_MISTAKES,
    "InceptionModule": INCEPTION_MISTAKES,
    "ResidualBlock": RESIDUAL_MISTAKES,
    "BottleneckBlock": BOTTLENECK_MISTAKES,
    "DenseBlock": DENSE_MISTAKES,
    "FireModule": FIRE_MISTAKES,
    "DepthwiseSeparableConv": DWSEP_MISTAKES,
    "SEBlock": SE_MISTAKES,
    "resnet18": RESNET_MISTAKES,
    "vgg16": VGG16_MISTAKES,
}
