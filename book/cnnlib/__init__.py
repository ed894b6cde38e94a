"""Shared code for the chapters: figure style, seeds, device choice, data and plots."""

from __future__ import annotations

import random

import numpy as np

__all__ = ["device", "seed_everything", "setup"]


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and (if installed) PyTorch."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.manual_seed(seed)


def device() -> torch.device:  # noqa: F821 - torch is imported lazily
    """CUDA when present, else CPU: the one device choice every chapter uses."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def setup(seed: int = 0) -> None:
    """Run at the top of every chapter: figure style, seeds, print options."""
    import matplotlib.pyplot as plt  # inside a kernel the inline backend shows the figures

    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "figure.figsize": (6.4, 3.6),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "image.cmap": "viridis",
            "font.size": 10,
        }
    )
    np.set_printoptions(precision=3, suppress=True, linewidth=100)
    seed_everything(seed)
