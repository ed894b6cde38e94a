"""Schematic figures drawn by code: the convolution volume and a backprop data-flow picture.

Nothing here computes anything a chapter teaches; these are diagrams. Volumes are drawn in
an oblique projection (depth goes up and to the right) with matplotlib patches; the
data-flow picture is a :class:`cnnlib.diagrams.Diagram`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon

from .diagrams import Diagram
from .plotting import CURRENT_COLOUR, TAP_COLOUR

__all__ = ["backprop_flow", "box3d", "conv_volume"]

DEPTH_DX, DEPTH_DY = 0.45, 0.35  # screen offset of one unit of depth
FORWARD_COLOUR = "0.15"
BACKWARD_COLOUR = "#d62728"


def _project(x: float, y: float, z: float) -> tuple[float, float]:
    return x + DEPTH_DX * z, y + DEPTH_DY * z


def box3d(
    ax: Axes,
    origin: tuple[float, float, float],
    size: tuple[float, float, float],
    colour: str,
    alpha: float = 1.0,
    grid: tuple[int, int] | None = None,
    edge: str = "0.2",
    linewidth: float = 1.0,
) -> None:
    """A box of (width, height, depth) ``size`` whose front-bottom-left corner is ``origin``.

    The front, top and right faces are drawn, lighter to darker; ``grid`` = (columns, rows)
    draws pixel lines on the front face.
    """
    x, y, z = origin
    w, h, d = size
    corners = {
        "front": [(x, y, z), (x + w, y, z), (x + w, y + h, z), (x, y + h, z)],
        "top": [(x, y + h, z), (x + w, y + h, z), (x + w, y + h, z + d), (x, y + h, z + d)],
        "side": [(x + w, y, z), (x + w, y, z + d), (x + w, y + h, z + d), (x + w, y + h, z)],
    }
    shades = {"front": 1.0, "top": 0.8, "side": 0.65}
    for face, points in corners.items():
        rgb = plt.matplotlib.colors.to_rgb(colour)
        shade = tuple(channel * shades[face] for channel in rgb)
        ax.add_patch(
            Polygon(
                [_project(*p) for p in points],
                closed=True,
                facecolor=shade,
                alpha=alpha,
                edgecolor=edge,
                linewidth=linewidth,
            )
        )
    if grid is not None:
        columns, rows = grid
        for i in range(1, columns):
            ax.plot(
                *zip(
                    _project(x + i * w / columns, y, z), _project(x + i * w / columns, y + h, z), strict=True
                ),
                color=edge,
                linewidth=0.4,
                alpha=0.6,
            )
        for j in range(1, rows):
            ax.plot(
                *zip(_project(x, y + j * h / rows, z), _project(x + w, y + j * h / rows, z), strict=True),
                color=edge,
                linewidth=0.4,
                alpha=0.6,
            )


def conv_volume(
    channels: int = 3,
    side: int = 7,
    kernel: int = 3,
    position: tuple[int, int] = (1, 3),
    ax: Axes | None = None,
) -> Figure:
    """Input volume C x H x W, one filter C x K x K and the output map it produces.

    The filter's window at output ``position`` (row, column) is shaded in the input and
    the output pixel it produces is marked; dashed lines join them.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.8))
    else:
        fig = ax.figure
    out_side = side - kernel + 1
    row, col = position
    depth = channels * 0.9
    # input volume, then the window it reads (all channels), drawn over it
    box3d(ax, (0, 0, 0), (side, side, depth), "#c6dbef", alpha=0.55, grid=(side, side))
    wx, wy = col, side - kernel - row  # window's lower-left corner, rows counted from the top
    box3d(ax, (wx, wy, 0), (kernel, kernel, depth), TAP_COLOUR, alpha=0.75)
    # the filter
    fx = side + 3.2
    box3d(ax, (fx, (side - kernel) / 2, 0), (kernel, kernel, depth), TAP_COLOUR, grid=(kernel, kernel))
    # the output map, one pixel marked
    ox = fx + kernel + DEPTH_DX * depth + 2.6
    oy = (side - out_side) / 2
    box3d(ax, (ox, oy, 0), (out_side, out_side, 0.25), "#eeeeee", grid=(out_side, out_side))
    cx, cy = ox + col, oy + out_side - 1 - row
    box3d(ax, (cx, cy, 0), (1, 1, 0.25), CURRENT_COLOUR)
    for corner in [(wx + kernel, wy + kernel, depth), (wx + kernel, wy, 0)]:
        target = (cx, cy + 1, 0.25) if corner[1] > wy else (cx, cy, 0)
        ax.plot(
            *zip(_project(*corner), _project(*target), strict=True), "--", color=CURRENT_COLOUR, linewidth=1
        )
    text = {"ha": "center", "va": "top", "fontsize": 10}
    ax.text(
        side / 2,
        -0.6,
        f"input volume  $C \\times H \\times W$\n(here ${channels} \\times {side} \\times {side}$)",
        **text,
    )
    ax.text(
        fx + kernel / 2,
        (side - kernel) / 2 - 0.6,
        f"one filter  $C \\times K \\times K$\n(${channels} \\times {kernel} \\times {kernel}$)\nplus a bias $b_f$",
        **text,
    )
    ax.text(
        ox + out_side / 2,
        oy - 0.6,
        f"one output map  $H' \\times W'$\n(${out_side} \\times {out_side}$)",
        **text,
    )
    ax.text(
        (side + DEPTH_DX * depth + fx) / 2, side / 2 + 0.3, "$\\star$", fontsize=22, ha="center", va="center"
    )
    ax.text(
        (fx + kernel + DEPTH_DX * depth + ox) / 2,
        side / 2 + 0.3,
        "$=$",
        fontsize=20,
        ha="center",
        va="center",
    )
    ax.text(
        ox + out_side / 2,
        side + 1.6,
        "$z_{f,i,j} = b_f + \\sum_{c}\\sum_{u,v} w_{f,c,u,v}\\, x_{c,\\,i+u,\\,j+v}$",
        ha="center",
        va="bottom",
        fontsize=11,
        color=CURRENT_COLOUR,
    )
    ax.set_xlim(-0.8, ox + out_side + DEPTH_DX * 0.25 + 1.5)
    ax.set_ylim(-2.3, side + DEPTH_DY * depth + 2.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return fig


def backprop_flow(ax: Axes | None = None) -> Axes:
    """Forward (top row) and backward (bottom row) data flow through conv -> max pool -> loss.

    Drawn with :class:`cnnlib.diagrams.Diagram`; dashed arrows are what the forward pass
    saves for the backward pass.
    """
    d = Diagram(box_width=2.0, box_height=0.5, fontsize=10)
    d.box("x", 0, 0, "input $x$", "io", width=1.3)
    d.box("conv", 2.6, 0, "conv2d ($w$, $b$)", "conv")
    d.box("pool", 6.0, 0, "max pool", "pool")
    d.box("loss", 8.7, 0, "loss $L$", "io", width=1.3)
    d.arrow("x", "conv", label="$x$").arrow("conv", "pool", label="$z$").arrow("pool", "loss", label="$p$")
    d.box("dx", 0, -1.5, "$\\partial L/\\partial x$", "grad", width=1.3)
    d.box("convb", 2.6, -1.5, "full conv of $\\delta$\nwith flipped $w$", "grad", width=2.1)
    d.box("poolb", 6.0, -1.5, "route to the\nargmax", "grad")
    d.box("dp", 8.7, -1.5, "$\\partial L/\\partial p$", "grad", width=1.3)
    d.box(
        "dw",
        2.6,
        -2.9,
        "$\\partial L/\\partial w$: correlate $x$ with $\\delta$\n"
        "$\\partial L/\\partial b$: sum of $\\delta$",
        "grad",
        width=3.1,
    )
    red = BACKWARD_COLOUR
    d.arrow("loss", "dp", colour=red)
    d.arrow("dp", "poolb", colour=red).arrow(
        "poolb", "convb", colour=red, label="$\\delta = \\partial L/\\partial z$"
    )
    d.arrow("convb", "dx", colour=red).arrow("convb", "dw", colour=red)
    d.arrow("conv", "convb", style="--", colour="0.55", label="$x, w$")
    d.arrow("pool", "poolb", style="--", colour="0.55", label="argmax")
    d.note(10.0, 0.0, "forward", ha="left", color=FORWARD_COLOUR)
    d.note(10.0, -1.5, "backward", ha="left", color=red)
    d.note(5.1, -2.9, "the update", ha="left", color=red)
    return d.draw(ax=ax)
