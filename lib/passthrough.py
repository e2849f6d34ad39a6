"""Letting the gradient past the rectifiers in the first steps of an optimisation.

A unit that is off everywhere on the starting image (a ReLU below 0, or a ReLU6 below 0 or
saturated above 6) passes no gradient, and an image that should excite it never starts to
change. :func:`relu_passthrough` swaps every rectifier of a network (its description lists
them, ``lib.networks``) for a *redirected* one, as in Lucid (Olah et al., 2017): the forward
value is unchanged; the backward pass is the true gradient, except for an image whose true
gradient through that rectifier is zero everywhere. For that image the gradient is let
through where it would move a unit back into its active range (up from below 0, down from
above 6), and stopped where it would push it further out. The redirection holds for the
first ``steps`` optimisation steps only: once the units are awake, the true gradient takes
over (chapter 1).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .networks import describe


@dataclass
class Redirection:
    """The state of one :func:`relu_passthrough`: ``count`` rectifiers replaced, redirecting
    while ``active``; :meth:`on_step` switches it off after ``steps`` steps."""

    count: int
    steps: int | None
    active: bool = True

    def on_step(self, step: int, loss: float | None = None) -> None:
        """The optimisation loop's per-step hook (``lib.optim.optimize(on_step=...)``)."""
        if self.steps is not None and step >= self.steps:
            self.active = False


class _RedirectedRectifier(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, upper, state):
        ctx.save_for_backward(x)
        ctx.upper, ctx.state = upper, state
        return x.clamp(0, upper) if upper is not None else x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = x > 0
        if ctx.upper is not None:
            inside = inside & (x < ctx.upper)
        true = torch.where(inside, grad, 0.0)
        if not ctx.state.active:
            return true, None, None
        # the loop minimises: a negative gradient asks to increase the input
        back_in = (x <= 0) & (grad < 0)
        if ctx.upper is not None:
            back_in = back_in | ((x >= ctx.upper) & (grad > 0))
        redirected = torch.where(inside | back_in, grad, 0.0)
        dead = true.reshape(len(true), -1).abs().amax(dim=1) == 0  # per image
        dead = dead.view(-1, *([1] * (grad.ndim - 1)))
        return torch.where(dead, redirected, true), None, None


def redirected_rectifier(
    x: torch.Tensor, upper: float | None = None, state: Redirection | None = None
) -> torch.Tensor:
    """``x`` clamped to ``[0, upper]`` with the redirected gradient (see the module's text)."""
    return _RedirectedRectifier.apply(x, upper, state or Redirection(count=1, steps=None))


@contextlib.contextmanager
def relu_passthrough(model: nn.Module, steps: int | None = 16) -> Iterator[Redirection]:
    """Within the ``with`` block, the rectifiers of ``model`` redirect the gradient.

    Forward values do not change. Yields the :class:`Redirection`; pass its ``on_step`` to the
    optimisation loop so that the redirection ends after ``steps`` steps (``None``: never).
    The model is restored on exit, also after an error.
    """
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise ValueError(f"steps must be a positive integer or None; got {steps!r}.")
    rectifiers = describe(model).rectifiers(model)
    state = Redirection(count=len(rectifiers), steps=steps)
    patched: list[nn.Module] = []

    def patch(rectifier) -> None:
        before, upper = rectifier.before, rectifier.upper

        def forward(self, x):
            if not state.active:  # redirection over: the module's own forward, at its own cost
                return type(self).forward(self, x)
            return redirected_rectifier(before(self, x) if before else x, upper, state)

        rectifier.module.forward = types.MethodType(forward, rectifier.module)
        patched.append(rectifier.module)

    try:
        for rectifier in rectifiers:
            patch(rectifier)
        yield state
    finally:
        for module in patched:
            del module.forward  # the class's own forward is visible again
