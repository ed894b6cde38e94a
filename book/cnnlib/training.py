"""A small, device-agnostic train/evaluate loop that keeps a history of the curves.

The data sets of the chapters are small enough to sit on the device whole, so the loop
works on tensors (no ``DataLoader``): each epoch shuffles indices, takes mini-batches,
and afterwards measures loss and accuracy on the full training and test sets.
Accuracy is ``argmax`` over dimension 1 against integer labels, so the same loop serves
classification ``(N, K)`` and per-pixel segmentation ``(N, K, H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["History", "as_tensors", "evaluate", "fit"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Scheduler = Callable[[torch.optim.Optimizer, int], torch.optim.lr_scheduler.LRScheduler]


@dataclass
class History:
    """Per-epoch curves of one training run."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def record(
        self, epoch: int, train: tuple[float, float], test: tuple[float, float] | None, lr: float | None = None
    ) -> None:
        self.epoch.append(epoch)
        if lr is not None:
            self.lr.append(lr)
        self.train_loss.append(train[0])
        self.train_acc.append(train[1])
        if test is not None:
            self.test_loss.append(test[0])
            self.test_acc.append(test[1])

    def plot(self, axes=None, label: str = "", color=None):
        """Loss (left) and accuracy (right) against epoch; training solid, test dashed."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        prefix = f"{label} " if label else ""
        for ax, train, test, name in (
            (axes[0], self.train_loss, self.test_loss, "loss"),
            (axes[1], self.train_acc, self.test_acc, "accuracy"),
        ):
            (line,) = ax.plot(self.epoch, train, color=color, label=f"{prefix}train")
            if test:
                ax.plot(self.epoch, test, color=line.get_color(), ls="--", label=f"{prefix}test")
            ax.set_xlabel("epoch")
            ax.set_ylabel(name)
        axes[1].legend(fontsize=8)
        return axes


def as_tensors(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as float32 and labels as int64, both on ``device``."""
    x_t = torch.as_tensor(np.asarray(x) if not torch.is_tensor(x) else x, dtype=torch.float32)
    y_t = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y, dtype=torch.int64)
    return x_t.to(device), y_t.to(device)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn = nn.functional.cross_entropy,
    batch_size: int = 2048,
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)`` in evaluation mode."""
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0.0, 0
    for start in range(0, len(x), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits = model(xb)
        total_loss += loss_fn(logits, yb).item() * len(xb)
        correct += (logits.argmax(dim=1) == yb).float().mean().item() * len(xb)
        count += len(xb)
    model.train(was_training)
    return total_loss / count, correct / count


def fit(
    model: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    batch_size: int = 64,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    loss_fn: LossFn = nn.functional.cross_entropy,
    eval_every: int = 1,
    seed: int = 0,
    momentum: float = 0.9,
    scheduler: Scheduler | None = None,
    augment: Augment | None = None,
) -> History:
    """Train ``model`` in place with mini-batches; return the per-epoch :class:`History`.

    ``train`` and ``test`` are ``(x, y)`` tensors already on the model's device (see
    :func:`as_tensors`). ``optimizer`` is ``"adam"``, ``"adamw"`` (decoupled weight decay)
    or ``"sgd"`` (with ``momentum``, 0.9 by default).

    Optional extras, all off by default:

    * ``scheduler(opt, total_steps)`` returns a ``torch.optim.lr_scheduler`` object, which
      is stepped after every mini-batch (``total_steps = epochs * batches per epoch``);
      the learning rate in use at each evaluation is recorded in ``History.lr``.
    * ``augment(x_batch, generator)`` returns a randomly transformed copy of a training
      mini-batch; it draws its random numbers from ``generator`` (a seeded CPU
      ``torch.Generator``), so runs repeat exactly. Evaluation never augments.
    """
    x, y = train
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}: use 'adam', 'adamw' or 'sgd'")
    batches_per_epoch = -(-len(x) // batch_size)
    schedule = scheduler(opt, epochs * batches_per_epoch) if scheduler is not None else None
    generator = torch.Generator(device="cpu").manual_seed(seed)
    augment_generator = torch.Generator(device="cpu").manual_seed(seed + 1)
    history = History()
    started = time.perf_counter()
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            inputs = x[batch] if augment is None else augment(x[batch], augment_generator)
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs), y[batch])
            loss.backward()
            opt.step()
            if schedule is not None:
                schedule.step()
        if epoch % eval_every == 0 or epoch == epochs:
            history.record(
                epoch,
                evaluate(model, x, y, loss_fn),
                evaluate(model, *test, loss_fn) if test else None,
                lr=opt.param_groups[0]["lr"],
            )
    history.seconds = time.perf_counter() - started
    return history
