"""The image-optimisation loop shared by chapters 1-4.

``optimize(image, objective, steps)`` changes the parameters of ``image`` (a parametrisation from
``lib.parametrization``) so that ``objective(transform(image()))`` goes down: an objective
returns a loss to minimise (``lib.objectives``). Every step evaluates the objective once (one
forward and backward pass), whatever the optimiser: with L-BFGS a step is one iteration without
line search, the unit that costs time.

The optimiser is a name from :data:`DEFAULTS`, the one table of the book's optimiser settings,
or a factory ``parameters -> torch.optim.Optimizer`` (``make_optimizer("adam", lr=0.1)``).
The loop keeps the best image it evaluated as well as the last one, can stop as soon as the loss
is at or below a target, and calls an optional hook after every step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .transforms import Transform

Objective = Callable[[torch.Tensor], torch.Tensor]
OptimizerFactory = Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]
Hook = Callable[[int, float], None]

# The book's optimisers and their settings. Adam: activation maximisation (chapter 1) and
# feature inversion (chapter 2); SGD: DeepDream (chapter 3), whose step is 1.5 grey levels of
# 0-255 pixels once the gradient is divided by its mean absolute value; L-BFGS: style transfer
# (chapter 4), with the tolerances off because with random weights the default ones stop it
# after a few steps.
DEFAULTS: dict[str, tuple[type[torch.optim.Optimizer], dict]] = {
    "adam": (torch.optim.Adam, {"lr": 0.05}),
    "sgd": (torch.optim.SGD, {"lr": 1.5 / 255}),
    "lbfgs": (
        torch.optim.LBFGS,
        {"lr": 1.0, "history_size": 100, "tolerance_grad": -1, "tolerance_change": -1},
    ),
}


class OptimizationError(RuntimeError):
    """The loop cannot go on (the loss became NaN or infinite)."""


def make_optimizer(name: str, **options) -> OptimizerFactory:
    """A factory for the optimiser ``name`` with the settings of :data:`DEFAULTS`, changed by
    ``options`` (e.g. ``make_optimizer("adam", lr=0.1)``)."""
    if name not in DEFAULTS:
        raise ValueError(f"Unknown optimizer {name!r}; use one of {', '.join(DEFAULTS)}.")
    kind, settings = DEFAULTS[name]
    lr = options.get("lr", settings["lr"])
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not 0 < lr < float("inf"):
        raise ValueError(f"lr must be a positive number; got {lr!r}.")
    return functools.partial(kind, **{**settings, **options})


@dataclass
class OptimResult:
    """The last image, the best one evaluated and its loss, the loss of every step, snapshots
    ``(step, image)`` for figures, and whether the loop stopped on reaching its target."""

    image: torch.Tensor
    best_image: torch.Tensor
    best_loss: float = float("inf")
    losses: list[float] = field(default_factory=list)
    snapshots: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    reached_target: bool = False


def _check_finite(loss: torch.Tensor, step: int) -> None:
    if loss.numel() != 1:
        raise ValueError(
            f"The objective must return one number; got a tensor of shape {tuple(loss.shape)}."
        )
    if not torch.isfinite(loss):
        raise OptimizationError(
            f"The loss became {loss.item()} at step {step}. Lower the learning rate "
            "or check the objective for divisions by zero."
        )


def _backward(objective, images: torch.Tensor, step: int) -> torch.Tensor:
    """The loss, after putting its gradient into the graph of ``images``. An objective with a
    ``value_and_grad`` method computes its gradient itself (DeepDream's tiles)."""
    if hasattr(objective, "value_and_grad"):
        loss, grad = objective.value_and_grad(images)
        _check_finite(loss, step)
        images.backward(grad)
        return loss
    loss = objective(images)
    _check_finite(loss, step)
    loss.backward()
    return loss


def optimize(
    image: nn.Module,
    objective: Objective,
    steps: int,
    optimizer: str | OptimizerFactory = "adam",
    transform: Transform | None = None,
    grad_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    stop_below: float | None = None,
    on_step: Hook | None = None,
    snapshot_every: int | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> OptimResult:
    """Minimise ``objective`` over the parameters of ``image`` for at most ``steps`` steps.

    ``optimizer``: a name of :data:`DEFAULTS` or a factory (:func:`make_optimizer`).
    ``transform``: random transformations applied before the objective; refused with L-BFGS,
    which needs the same function at every evaluation. ``grad_fn`` rewrites each parameter's
    gradient before the step (e.g. DeepDream's division by its mean absolute value).
    ``stop_below``: stop after the first step whose loss is at or below it.
    ``on_step(step, loss)``: called after every step (step counts from 1).
    Progress bars obey tqdm's own ``TQDM_DISABLE`` variable.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if snapshot_every is not None and snapshot_every < 1:
        raise ValueError(f"snapshot_every must be positive or None; got {snapshot_every!r}.")
    params = [p for p in image.parameters() if p.requires_grad]
    if not params:
        raise ValueError("The image has no parameters to optimise.")
    factory = make_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
    opt = factory(params)
    is_lbfgs = isinstance(opt, torch.optim.LBFGS)
    if is_lbfgs:
        if transform is not None:
            raise ValueError(
                "L-BFGS needs the same function at every evaluation: drop the random "
                "transform, or use Adam or SGD."
            )
        if opt.param_groups[0]["line_search_fn"] is not None:
            raise ValueError("The loop counts evaluations: use L-BFGS without a line search.")
        # One iteration per step: the same path as one long call without line search, with a
        # place to stop and record between evaluations.
        opt.param_groups[0].update(max_iter=1, max_eval=1)
    transform = transform or (lambda x: x)
    project = getattr(image, "project", lambda: None)
    result = OptimResult(image=image().detach().clone(), best_image=image().detach().clone())

    def evaluate() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        current = image()
        loss = _backward(objective, transform(current), len(result.losses))
        if grad_fn is not None:
            for p in params:
                p.grad = grad_fn(p.grad)
        value = loss.item()
        if value < result.best_loss:
            result.best_loss, result.best_image = value, current.detach().clone()
        result.losses.append(value)
        return loss

    def closure() -> torch.Tensor:
        project()  # each recorded loss is that of a valid image
        return evaluate()

    bar = tqdm(total=steps, desc=desc or "optimize", disable=not progress, leave=False)
    try:
        for step in range(1, steps + 1):
            if is_lbfgs:
                opt.step(closure)
            else:
                evaluate()
                opt.step()
                project()
            loss = result.losses[-1]
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if on_step is not None:
                on_step(step, loss)
            if snapshot_every and (step % snapshot_every == 0 or step == steps):
                result.snapshots.append((step, image().detach().cpu().clone()))
            if stop_below is not None and loss <= stop_below:
                result.reached_target = True
                break
    finally:
        bar.close()
    project()
    result.image = image().detach().clone()
    return result
