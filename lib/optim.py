"""The image-optimisation loop shared by chapters 1-5.

``optimize(image, objective, steps)`` changes the parameters of ``image`` (a parametrisation from
``lib.parametrization``) so that ``objective(transform(image()))`` goes down. Maximising something
(an activation) means minimising its negative. With Adam or SGD, ``steps`` counts optimiser steps;
with L-BFGS it counts *evaluations* of the objective (one forward and backward pass each), the
unit that costs time, whatever L-BFGS does inside.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .transforms import Transform

Objective = Callable[[torch.Tensor], torch.Tensor]


class OptimizationError(RuntimeError):
    """The loop cannot go on (the loss became NaN or infinite)."""


@dataclass
class OptimResult:
    """The final image, the loss after each step, and snapshots ``(step, image)`` for figures."""

    image: torch.Tensor
    losses: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)


def _check_finite(loss: torch.Tensor, step: int, lr: float) -> None:
    if loss.numel() != 1:
        raise ValueError(
            f"The objective must return one number; got a tensor of shape {tuple(loss.shape)}."
        )
    if not torch.isfinite(loss):
        raise OptimizationError(
            f"The loss became {loss.item()} at step {step}. Lower the learning rate "
            f"(now {lr}) or check the objective for divisions by zero."
        )


def optimize(
    image: nn.Module,
    objective: Objective,
    steps: int,
    optimizer: str = "adam",
    lr: float | None = None,
    transform: Transform | None = None,
    snapshot_every: int | None = None,
    grad_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    history_size: int = 50,
    progress: bool = True,
    desc: str | None = None,
) -> OptimResult:
    """Minimise ``objective`` over the parameters of ``image``.

    ``optimizer``: ``"adam"``, ``"sgd"`` or ``"lbfgs"``; ``lr`` defaults to 0.05 for Adam and
    SGD and to 1 for L-BFGS. ``grad_fn`` rewrites each parameter's
    gradient before the step (e.g. DeepDream's division by its mean absolute value).
    ``transform``: random transformations applied before the objective (not with L-BFGS,
    which needs the same function at every evaluation). ``history_size``: the curvature pairs
    L-BFGS keeps. Progress bars obey tqdm's own
    ``TQDM_DISABLE`` variable.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if lr is None:
        lr = 1.0 if optimizer == "lbfgs" else 0.05
    if lr <= 0 or not math.isfinite(lr):
        raise ValueError(f"lr must be a positive number; got {lr!r}.")
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError(f"snapshot_every must be positive or None; got {snapshot_every!r}.")
    params = [p for p in image.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The image has no parameters to optimise.")
    transform = transform or (lambda x: x)
    result = OptimResult(image=image().detach())
    project = getattr(image, "project", lambda: None)
    bar = tqdm(total=steps, desc=desc or optimizer, disable=not progress, leave=False)

    def evaluate() -> torch.Tensor:
        loss = objective(transform(image()))
        _check_finite(loss, len(result.losses), lr)
        loss.backward()
        if grad_fn is not None:
            for p in params:
                p.grad = grad_fn(p.grad)
        return loss

    def record(loss: torch.Tensor) -> None:
        result.losses.append(loss.item())
        step = len(result.losses)
        bar.update(1)
        bar.set_postfix(loss=f"{result.losses[-1]:.4g}", refresh=False)
        if snapshot_every and (step % snapshot_every == 0 or step == steps):
            result.snapshots.append((step, image().detach().cpu().clone()))

    try:
        if optimizer == "lbfgs":
            _run_lbfgs(params, evaluate, record, steps, lr, project, history_size, result)
        elif optimizer in ("adam", "sgd"):
            opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(params, lr=lr)
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                loss = evaluate()
                opt.step()
                project()
                record(loss.detach())
        else:
            raise ValueError(f"Unknown optimizer {optimizer!r}; use 'adam', 'sgd' or 'lbfgs'.")
    finally:
        bar.close()
    result.image = image().detach().clone()
    return result


def _run_lbfgs(params, evaluate, record, steps, lr, project, history_size, result) -> None:
    # The image is projected back into its valid range before every evaluation, so each recorded
    # loss is that of a valid image. Tolerances at -1: with random weights the default ones stop
    # L-BFGS after a few steps.
    opt = torch.optim.LBFGS(
        params,
        lr=lr,
        max_iter=steps,
        max_eval=steps,
        history_size=history_size,
        tolerance_grad=-1,
        tolerance_change=-1,
    )

    def closure() -> torch.Tensor:
        project()
        opt.zero_grad(set_to_none=True)
        loss = evaluate()
        record(loss.detach())
        return loss

    while len(result.losses) < steps:
        left = steps - len(result.losses)
        opt.param_groups[0]["max_iter"] = left
        opt.param_groups[0]["max_eval"] = left
        opt.step(closure)
    project()
