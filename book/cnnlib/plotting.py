"""Plotting helpers shared by the chapters: image grids, matrix heat maps and
multi-panel figures of a kernel sliding over a (padded) input.

Every function returns the matplotlib ``Figure`` (or ``Axes``) it drew, so a chapter can
add titles or save it. Nothing here computes a convolution: the chapters do that with
PyTorch or NumPy and pass the numbers in.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

__all__ = ["heatmap", "heatmaps", "image_grid", "kernel_sliding", "sliding_positions"]

PAD_COLOUR = "#e4e4e4"
INPUT_COLOUR = "white"
TAP_COLOUR = "#f28e2b"
DONE_COLOUR = "#c6dbef"
CURRENT_COLOUR = "#2171b5"
UNUSED_COLOUR = "#d62728"

IntPair = int | tuple[int, int]


def _pair(value: IntPair) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 1.8,
    vmin: float | None = None,
    vmax: float | None = None,
    suptitle: str | None = None,
    colorbar: bool = False,
) -> Figure:
    """Show 2-D images (H, W) or RGB images (H, W, 3) in a grid without axes.

    ``vmin``/``vmax`` apply to every panel; leave them ``None`` to scale each panel alone.
    """
    images = [np.asarray(image) for image in images]
    ncols = ncols or len(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.3 if suptitle else 0)), squeeze=False
    )
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= len(images):
            continue
        shown = ax.imshow(images[index], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
        if colorbar:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def heatmap(
    matrix: np.ndarray,
    ax: Axes | None = None,
    annotate: bool | None = None,
    fmt: str = "{:.2g}",
    cmap: str = "RdBu_r",
    centre: bool = True,
    title: str | None = None,
    labels: np.ndarray | None = None,
    zero_blank: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Draw a matrix as coloured cells with a thin grid.

    ``centre`` makes the colour scale symmetric about 0 (white = 0). ``annotate`` writes
    each value in its cell (default: only when the matrix has at most 120 entries);
    ``labels`` replaces the numbers by strings of the same shape; ``zero_blank`` leaves
    cells equal to 0 unlabelled, which makes sparse (banded) matrices easy to read.
    ``vmin``/``vmax`` fix the colour scale (they override ``centre``).
    """
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    ax = ax if ax is not None else plt.gca()
    bound = float(np.nanmax(np.abs(matrix))) or 1.0
    kwargs = {"vmin": -bound, "vmax": bound} if centre else {}
    if vmin is not None or vmax is not None:
        kwargs = {"vmin": vmin, "vmax": vmax}
    shown = ax.imshow(matrix, cmap=cmap, interpolation="nearest", **kwargs)
    rows, cols = matrix.shape
    ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
    ax.grid(which="minor", color="0.75", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annotate is None:
        annotate = matrix.size <= 120
    if annotate or labels is not None:
        for i, j in product(range(rows), range(cols)):
            value = matrix[i, j]
            if zero_blank and value == 0 and labels is None:
                continue
            text = str(labels[i][j]) if labels is not None else fmt.format(value)
            red, green, blue, _ = shown.cmap(shown.norm(value))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def heatmaps(
    matrices: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    size: float = 0.32,
    **kwargs,
) -> Figure:
    """Several heat maps side by side, each panel sized by its matrix (``size`` inches per cell)."""
    shapes = [np.atleast_2d(np.asarray(m)).shape for m in matrices]
    widths = [max(cols, 2) for _, cols in shapes]
    height = max(rows for rows, _ in shapes)
    fig, axes = plt.subplots(
        1,
        len(matrices),
        figsize=(size * sum(widths) + 0.6 * len(matrices), size * height + 0.8),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for index, (ax, matrix) in enumerate(zip(axes[0], matrices, strict=True)):
        heatmap(matrix, ax=ax, title=None if titles is None else titles[index], **kwargs)
    fig.tight_layout()
    return fig


def sliding_positions(
    input_shape: IntPair,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """Output shape and the top-left corner (in padded coordinates) of every window.

    Window corners are enumerated directly (start at 0, step by the stride while the
    dilated kernel still fits), which is how the figures find which cells are covered.
    """
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(
        _pair, (input_shape, kernel_size, stride, padding, dilation)
    )
    last_top = h + 2 * ph - (dh * (kh - 1) + 1)  # largest top row at which the window still fits
    last_left = w + 2 * pw - (dw * (kw - 1) + 1)
    rows = list(range(0, last_top + 1, sh))
    cols = list(range(0, last_left + 1, sw))
    return (len(rows), len(cols)), [(r, c) for r in rows for c in cols]


def _cell(
    ax: Axes, x: float, y: float, colour: str, text: str = "", hatch: str | None = None, edge: str = "0.35"
) -> None:
    ax.add_patch(Rectangle((x, y), 1, 1, facecolor=colour, edgecolor=edge, linewidth=0.8, hatch=hatch))
    if text:
        ax.text(x + 0.5, y + 0.5, text, ha="center", va="center", fontsize=7)


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2g}"


def kernel_sliding(
    input_shape: IntPair,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    steps: Sequence[int] | None = None,
    ncols: int = 4,
    values: np.ndarray | None = None,
    outputs: np.ndarray | None = None,
    panel_size: float = 2.4,
    suptitle: str | None = None,
) -> Figure:
    """Panels of a kernel sliding over a padded input, one panel per output position.

    Each panel draws the padded input (padding cells grey), the cells the kernel reads for
    that output (orange; with dilation the footprint's outline is dashed), cells no window
    ever reads (red hatching), and the output grid with finished cells light blue and the
    current one dark blue. ``steps`` are output indices in row-major order (default: the
    first ``ncols``). ``values`` / ``outputs`` optionally label the input / output cells.
    A one-row input (``input_shape=(1, n)``, ``kernel_size=(1, k)``, ``padding=(0, p)``)
    puts the output row under the input, each output cell centred under its window.
    """
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw) = map(
        _pair, (input_shape, kernel_size, stride, padding, dilation)
    )
    (oh, ow), corners = sliding_positions((h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    if not corners:
        raise ValueError("the dilated kernel does not fit in the padded input")
    steps = list(range(min(ncols, len(corners)))) if steps is None else list(steps)
    hp, wp = h + 2 * ph, w + 2 * pw
    taps = [(u * dh, v * dw) for u in range(kh) for v in range(kw)]
    covered = {(r + du, c + dv) for r, c in corners for du, dv in taps}
    one_row = h == 1 and kh == 1
    span_w = dw * (kw - 1) + 1

    if one_row:

        def out_xy(i: int, j: int) -> tuple[float, float]:
            return corners[i * ow + j][1] + (span_w - 1) / 2, 1.6

        extent_w, extent_h = wp, 2.6
    else:
        gap = 1.5

        def out_xy(i: int, j: int) -> tuple[float, float]:
            return wp + gap + j, (hp - oh) / 2 + i

        extent_w, extent_h = wp + gap + ow, float(hp)

    ncols = min(ncols, len(steps))
    nrows = int(np.ceil(len(steps) / ncols))
    scale = panel_size / max(extent_w, extent_h)
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(max(ncols * extent_w * scale, 3.0), nrows * (extent_h * scale + 0.45) + 0.3),
        squeeze=False,
    )
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, step in zip(axes.flat, steps, strict=False):
        top, left = corners[step]
        reads = {(top + du, left + dv) for du, dv in taps}
        for r, c in product(range(hp), range(wp)):
            is_pad = not (ph <= r < ph + h and pw <= c < pw + w)
            colour = TAP_COLOUR if (r, c) in reads else (PAD_COLOUR if is_pad else INPUT_COLOUR)
            hatch = "xxx" if (r, c) not in covered and not is_pad else None
            label = "" if values is None or is_pad else _fmt(np.asarray(values).reshape(h, w)[r - ph, c - pw])
            if values is not None and is_pad:
                label = "0"
            _cell(ax, c, r, colour, label, hatch=hatch, edge=UNUSED_COLOUR if hatch else "0.35")
        if dh > 1 or dw > 1:
            span_h = dh * (kh - 1) + 1
            ax.add_patch(
                Rectangle(
                    (left, top), span_w, span_h, fill=False, edgecolor="black", linestyle="--", linewidth=1.2
                )
            )
        for index in range(oh * ow):
            i, j = divmod(index, ow)
            colour = CURRENT_COLOUR if index == step else (DONE_COLOUR if index < step else INPUT_COLOUR)
            label = "" if outputs is None or index > step else _fmt(np.asarray(outputs).reshape(oh, ow)[i, j])
            x, y = out_xy(i, j)
            _cell(ax, x, y, colour, label)
            if index == step and label:
                ax.texts[-1].set_color("white")
        ax.set_xlim(-0.2, extent_w + 0.2)
        ax.set_ylim(extent_h + 0.2, -0.2)
        ax.set_aspect("equal")
        ax.set_title(f"output {divmod(step, ow) if not one_row else step}", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
