"""Schematic diagrams drawn by code: labelled boxes, operation nodes (+, ×, concatenation) and arrows.

A :class:`Diagram` collects elements in data coordinates (one unit is about one inch on
the page; y grows upwards) and draws them when :meth:`Diagram.draw` is called, sizing the
figure to fit. Arrows join elements by name and are clipped at their borders; ``via``
points route an arrow around others (a skip connection, a gradient flowing back)::

    d = Diagram()
    d.column(0, 0, [("x", "input", "io"), ("f", "3×3 conv", "conv"), ("add", "+", "op")])
    d.arrow("x", "add", via=[(1.1, 0), (1.1, -1.6)], label="identity")
    d.draw(title="a residual block")

:func:`Diagram.column` places a vertical chain and joins it with arrows; ``kind`` picks a
colour from :data:`COLOURS` (``conv``, ``pointwise``, ``depthwise``, ``pool``, ``norm``,
``dense``, ``gate``, ``io``, ``grad``). Nodes of kind ``op`` are small circles holding a
symbol (``+``, ``×``, ``C`` for concatenation). Boxes widen to fit their text.
:func:`draw_row` puts several diagrams side by side at one scale.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["COLOURS", "Diagram", "draw_row"]

COLOURS = {
    "io": "#ffffff",
    "conv": "#cfe2f3",
    "pointwise": "#d9ead3",
    "depthwise": "#fce5cd",
    "pool": "#fff2cc",
    "norm": "#eeeeee",
    "dense": "#ead1dc",
    "gate": "#d9d2e9",
    "grad": "#f4cccc",
    "op": "#ffffff",
}


@dataclass
class _Node:
    x: float
    y: float
    text: str
    kind: str
    width: float
    height: float
    colour: str

    @property
    def is_op(self) -> bool:
        return self.kind == "op"

    def border_towards(self, px: float, py: float) -> tuple[float, float]:
        """Point on this node's border on the segment from its centre to ``(px, py)``."""
        dx, dy = px - self.x, py - self.y
        if dx == 0 and dy == 0:
            return self.x, self.y
        if self.is_op:
            r = self.width / 2
            length = math.hypot(dx, dy)
            return self.x + dx / length * r, self.y + dy / length * r
        scales = []
        if dx:
            scales.append(self.width / 2 / abs(dx))
        if dy:
            scales.append(self.height / 2 / abs(dy))
        t = min(1.0, *scales)
        return self.x + dx * t, self.y + dy * t


@dataclass
class _Arrow:
    start: str
    end: str
    via: list[tuple[float, float]]
    label: str
    colour: str
    style: str
    head: bool


@dataclass
class Diagram:
    """Boxes, operation nodes and arrows, drawn by :meth:`draw`; see the module docstring."""

    box_width: float = 1.7
    box_height: float = 0.42
    fontsize: float = 8.5
    nodes: dict[str, _Node] = field(default_factory=dict)
    arrows: list[_Arrow] = field(default_factory=list)
    notes: list[tuple[float, float, str, dict]] = field(default_factory=list)

    # ------------------------------------------------------------------ elements
    def box(
        self,
        name: str,
        x: float,
        y: float,
        text: str,
        kind: str = "conv",
        width: float | None = None,
        height: float | None = None,
        colour: str | None = None,
    ) -> Diagram:
        """A rounded box centred at ``(x, y)``; ``kind="op"`` makes a circle with ``text`` in it."""
        if kind == "op":
            size = width or 0.34
            self.nodes[name] = _Node(x, y, text, kind, size, size, colour or COLOURS["op"])
        else:
            lines = text.count("\n") + 1
            # widen to fit the longest line: about 0.075 units per character at 8.5 pt
            fits = 0.075 * max(len(line) for line in text.split("\n")) + 0.2
            width = max(width or self.box_width, fits * self.fontsize / 8.5)
            self.nodes[name] = _Node(
                x, y, text, kind, width or self.box_width,
                height or self.box_height + 0.16 * (lines - 1), colour or COLOURS.get(kind, "#ffffff"),
            )  # fmt: skip
        return self

    def op(self, name: str, x: float, y: float, symbol: str = "+") -> Diagram:
        """A circle holding ``symbol``: ``+`` (addition), ``×`` (product), ``C`` (concatenation)."""
        return self.box(name, x, y, symbol, kind="op")

    def arrow(
        self,
        start: str,
        end: str,
        via: Sequence[tuple[float, float]] = (),
        label: str = "",
        colour: str = "#444444",
        style: str = "-",
        head: bool = True,
    ) -> Diagram:
        """An arrow from node ``start`` to node ``end`` through the points ``via``."""
        self.arrows.append(_Arrow(start, end, list(via), label, colour, style, head))
        return self

    def note(self, x: float, y: float, text: str, **kwargs) -> Diagram:
        """Free text at ``(x, y)`` (small grey italics unless ``kwargs`` say otherwise)."""
        self.notes.append((x, y, text, kwargs))
        return self

    def column(
        self,
        x: float,
        y: float,
        items: Sequence[tuple[str, str, str]],
        step: float = 0.8,
        join: bool = True,
    ) -> Diagram:
        """Place ``(name, text, kind)`` items downwards from ``(x, y)``, ``step`` apart, joined by arrows."""
        for i, (name, text, kind) in enumerate(items):
            self.box(name, x, y - i * step, text, kind)
        if join:
            for (a, _, _), (b, _, _) in itertools.pairwise(items):
                self.arrow(a, b)
        return self

    # ------------------------------------------------------------------ drawing
    def _points(self, arrow: _Arrow) -> list[tuple[float, float]]:
        a, b = self.nodes[arrow.start], self.nodes[arrow.end]
        inner = arrow.via
        first = inner[0] if inner else (b.x, b.y)
        last = inner[-1] if inner else (a.x, a.y)
        return [a.border_towards(*first), *inner, b.border_towards(*last)]

    def extent(self) -> tuple[float, float, float, float]:
        """``(xmin, xmax, ymin, ymax)`` of everything drawn."""
        xs, ys = [], []
        for n in self.nodes.values():
            xs += [n.x - n.width / 2, n.x + n.width / 2]
            ys += [n.y - n.height / 2, n.y + n.height / 2]
        for arrow in self.arrows:
            for px, py in arrow.via:
                xs.append(px)
                ys.append(py)
        for x, y, _, _ in self.notes:
            xs.append(x)
            ys.append(y)
        return min(xs), max(xs), min(ys), max(ys)

    def draw(self, ax=None, title: str = "", margin: float = 0.25, scale: float = 0.95):
        """Draw on ``ax`` (a new figure sized to the diagram when ``None``) and return the axes."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import Circle, FancyBboxPatch

        x0, x1, y0, y1 = self.extent()
        x0, x1, y0, y1 = x0 - margin, x1 + margin, y0 - margin, y1 + margin
        if ax is None:  # axes filling the figure, so that one unit is ``scale`` inches
            extra = 0.3 if title else 0.0
            fig = plt.figure(figsize=((x1 - x0) * scale, (y1 - y0) * scale + extra))
            ax = fig.add_axes((0, 0, 1, (y1 - y0) * scale / fig.get_figheight()))
        for n in self.nodes.values():
            if n.is_op:
                ax.add_patch(
                    Circle((n.x, n.y), n.width / 2, facecolor=n.colour, edgecolor="#333333", lw=1, zorder=3)
                )
                ax.text(n.x, n.y, n.text, ha="center", va="center", fontsize=self.fontsize + 2, zorder=4)
            else:
                ax.add_patch(
                    FancyBboxPatch(
                        (n.x - n.width / 2, n.y - n.height / 2), n.width, n.height,
                        boxstyle="round,pad=0,rounding_size=0.08", facecolor=n.colour,
                        edgecolor="#333333", lw=0.9, zorder=3,
                    )
                )  # fmt: skip
                ax.text(n.x, n.y, n.text, ha="center", va="center", fontsize=self.fontsize, zorder=4)
        for arrow in self.arrows:
            points = self._points(arrow)
            xs, ys = zip(*points, strict=True)
            ax.plot(xs[:-1], ys[:-1], color=arrow.colour, lw=1.1, ls=arrow.style, zorder=2)
            ax.annotate(
                "", xy=points[-1], xytext=points[-2],
                arrowprops={"arrowstyle": "-|>" if arrow.head else "-", "color": arrow.colour, "lw": 1.1,
                            "ls": arrow.style, "shrinkA": 0, "shrinkB": 0, "mutation_scale": 10},
                zorder=2,
            )  # fmt: skip
            if arrow.label:
                # label the longest segment, beside its middle
                segments = list(itertools.pairwise(points))
                (ax_, ay_), (bx_, by_) = max(segments, key=lambda s: math.dist(*s))
                vertical = abs(by_ - ay_) >= abs(bx_ - ax_)
                mx, my = (ax_ + bx_) / 2, (ay_ + by_) / 2
                ax.text(
                    mx + (0.06 if vertical else 0), my + (0 if vertical else 0.06), arrow.label,
                    ha="left" if vertical else "center", va="center" if vertical else "bottom",
                    fontsize=self.fontsize - 1, color=arrow.colour, style="italic", zorder=4,
                )  # fmt: skip
        for x, y, text, kwargs in self.notes:
            options = {"fontsize": self.fontsize - 1, "color": "#555555", "style": "italic", "ha": "center",
                       "va": "center"} | kwargs  # fmt: skip
            ax.text(x, y, text, zorder=4, **options)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.axis("off")
        if title:
            ax.set_title(title, fontsize=self.fontsize + 1.5)
        return ax


def draw_row(diagrams: Sequence[Diagram], titles: Sequence[str] = (), gap: float = 0.4, scale: float = 0.95):
    """Draw ``diagrams`` side by side in one figure, all at the same scale (``scale`` inches per unit)."""
    import matplotlib.pyplot as plt

    margin = 0.25
    sizes = []
    for d in diagrams:
        x0, x1, y0, y1 = d.extent()
        sizes.append((x1 - x0 + 2 * margin, y1 - y0 + 2 * margin))
    extra = 0.3 if titles else 0.0
    width = sum(w for w, _ in sizes) + gap * (len(sizes) - 1)
    height = max(h for _, h in sizes)
    fig = plt.figure(figsize=(width * scale, height * scale + extra))
    left, axes = 0.0, []
    for i, (d, (w, h)) in enumerate(zip(diagrams, sizes, strict=True)):
        bottom = height - h  # align the tops, so that the titles line up
        ax = fig.add_axes(
            (left / width, bottom * scale / fig.get_figheight(), w / width, h * scale / fig.get_figheight())
        )
        d.draw(ax, title=titles[i] if i < len(titles) else "", margin=margin)
        axes.append(ax)
        left += w + gap
    return axes
