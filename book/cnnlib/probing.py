"""Tools for looking inside a trained network (chapter "What did the network learn?").

* :func:`digits_on_canvas` puts scikit-learn's 8x8 digits, enlarged, at random places on a
  larger blank canvas, so that *where* a network looks is a meaningful question.
* :func:`recording` is a context manager that keeps a layer's output (and, after a backward
  pass, its gradient) through hooks, without changing the model.
* :func:`receptive_field` walks a ``nn.Sequential`` and returns the receptive field, jump
  and first centre of a layer's units in input pixels (the recurrence of chapter 5);
  :func:`crop` cuts the window of one unit out of an image.
* :func:`overlay` draws a coarse heat map over an image.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Recording", "crop", "digits_on_canvas", "overlay", "receptive_field", "recording"]


def digits_on_canvas(
    images: np.ndarray, size: int = 24, scale: int = 2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Each ``(8, 8)`` image enlarged ``scale`` times (pixel copies) at a random place on a
    ``size x size`` zero canvas. Returns canvases ``(N, size, size)`` float32 and the
    top-left corners ``(N, 2)`` (row, column)."""
    rng = np.random.default_rng(seed)
    big = np.kron(images, np.ones((1, scale, scale)))
    side = big.shape[-1]
    corners = rng.integers(0, size - side + 1, size=(len(images), 2))
    canvases = np.zeros((len(images), size, size), dtype=np.float32)
    for canvas, image, (row, col) in zip(canvases, big, corners, strict=True):
        canvas[row : row + side, col : col + side] = image
    return canvases, corners


@dataclass
class Recording:
    """What :func:`recording` saw: the layer's last ``output`` and, once a backward pass has
    reached it, ``grad`` (d something / d output), both with the batch axis first."""

    output: torch.Tensor | None = None
    grad: torch.Tensor | None = None


@contextmanager
def recording(layer: nn.Module) -> Iterator[Recording]:
    """Within the block, every forward call of ``layer`` stores its output in the yielded
    :class:`Recording`; a tensor hook stores the gradient that flows back into that output.
    The hooks are removed on leaving the block; the model is never modified."""
    seen = Recording()

    def keep_grad(grad: torch.Tensor) -> None:
        seen.grad = grad

    def keep_output(module: nn.Module, inputs, output: torch.Tensor) -> None:
        seen.output = output
        if output.requires_grad:
            output.register_hook(keep_grad)

    hook = layer.register_forward_hook(keep_output)
    try:
        yield seen
    finally:
        hook.remove()  # the model leaves the block exactly as it came in


def _pair(value) -> int:
    value = value[0] if isinstance(value, tuple) else value
    return int(value)


def receptive_field(model: nn.Sequential, upto: str) -> tuple[int, int, float]:
    """``(size, jump, first)`` for the units of the child ``upto`` of ``model``: each unit
    sees ``size x size`` input pixels; neighbouring units are ``jump`` pixels apart; the
    window of unit 0 is centred on input pixel ``first`` (negative or fractional when it
    hangs over the padding). Convolutions and pooling count, other layers add nothing."""
    size, jump, first = 1, 1, 0.0
    for name, module in model.named_children():
        if isinstance(module, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):
            k = _pair(module.kernel_size)
            s = _pair(module.stride)
            p = _pair(module.padding)
            d = _pair(getattr(module, "dilation", 1))
            first += ((k - 1) * d / 2 - p) * jump
            size += (k - 1) * d * jump
            jump *= s
        if name == upto:
            return size, jump, first
    raise KeyError(f"model has no child named {upto!r}")


def crop(image: np.ndarray, centre: tuple[float, float], size: int) -> np.ndarray:
    """The ``size x size`` window of ``image`` (H, W) centred on ``centre`` (row, column),
    with zeros where it leaves the image."""
    top = int(np.floor(centre[0] - (size - 1) / 2 + 0.5))
    left = int(np.floor(centre[1] - (size - 1) / 2 + 0.5))
    padded = np.pad(image, size)
    return padded[top + size : top + 2 * size, left + size : left + 2 * size]


def overlay(ax, image: np.ndarray, heat: np.ndarray, cmap: str = "jet", alpha: float = 0.5, title: str = ""):
    """``image`` in grey with ``heat`` (any smaller resolution) stretched over it and scaled
    to its own maximum; axes off."""
    height, width = image.shape
    ax.imshow(image, cmap="gray_r", extent=(0, width, height, 0))
    top = float(np.max(heat)) or 1.0
    ax.imshow(
        heat / top,
        cmap=cmap,
        alpha=alpha,
        vmin=0,
        vmax=1,
        extent=(0, width, height, 0),
        interpolation="bilinear",
    )
    ax.set_title(title, fontsize=8)
    ax.set_axis_off()
    return ax
