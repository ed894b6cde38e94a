"""Scenes with boxes for the detection chapter, and how to draw boxes.

The lesson code (IoU, non-maximum suppression, average precision, the detector itself) is
written in the chapter; this module holds only what is bookkeeping: a batch of generated
scenes with their boxes, and boxes drawn on an axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import SHAPE_CLASSES, shapes_scene

__all__ = ["BOX_COLOURS", "Scenes", "draw_boxes", "scenes"]

BOX_COLOURS = {1: "tab:orange", 2: "tab:cyan", 3: "tab:pink"}


@dataclass
class Scenes:
    """``n`` generated scenes: ``images`` (n, 1, H, W) float32, ``masks`` (n, H, W) int64,
    and per scene ``boxes[i]`` (M_i, 4) as ``(x1, y1, x2, y2)`` pixels and ``labels[i]`` (M_i,)."""

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    labels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    @property
    def n_objects(self) -> int:
        return sum(len(b) for b in self.boxes)


def scenes(
    n: int,
    seed: int,
    size: int = 32,
    n_objects: int = 3,
    sides: tuple[int, int] = (7, 12),
    noise: float = 0.05,
) -> Scenes:
    """``n`` scenes of :func:`cnnlib.data.shapes_scene` drawn from one seeded generator."""
    rng = np.random.default_rng(seed)
    made = [shapes_scene(rng, size, n_objects, sides, noise) for _ in range(n)]
    return Scenes(
        images=np.stack([s["image"] for s in made])[:, None],
        masks=np.stack([s["mask"] for s in made]),
        boxes=[s["boxes"] for s in made],
        labels=[s["labels"] for s in made],
    )


def draw_boxes(
    ax, boxes, labels, scores=None, style: str = "-", lw: float = 1.5, names: bool = False
) -> None:
    """Draw ``(x1, y1, x2, y2)`` pixel boxes on ``ax``, coloured by class (1-3).

    Pixel ``(r, c)`` covers ``[c - 0.5, c + 0.5]`` in an ``imshow`` axis, so a box whose
    exclusive corner is ``x2`` ends at ``x2 - 0.5``. ``scores`` (or ``names``) adds a label.
    """
    from matplotlib.patches import Rectangle

    for i, ((x1, y1, x2, y2), label) in enumerate(zip(np.asarray(boxes), np.asarray(labels), strict=True)):
        colour = BOX_COLOURS[int(label)]
        ax.add_patch(
            Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, ec=colour, ls=style, lw=lw)
        )
        text = []
        if names:
            text.append(SHAPE_CLASSES[int(label)])
        if scores is not None:
            text.append(f"{scores[i]:.2f}")
        if text:
            ax.text(x1 - 0.5, y1 - 1.0, " ".join(text), color=colour, fontsize=7)
