"""Letting the gradient through the ReLUs while an image is optimised.

Torchvision's GoogLeNet applies its ReLUs inside the forward method of each convolution block,
so a channel that is negative everywhere on the starting image passes no gradient at all and the
image stays grey. :func:`relu_passthrough` lets some gradient through the ReLUs, leaving the
forward values unchanged (chapter 1).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Iterator

import torch
from torch import nn


class _PassthroughReLU(torch.autograd.Function):
    """ReLU forward; backward passes the gradient of active units unchanged and, for inactive
    units, a fraction ``leak`` of the gradient when it points towards switching them on."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, leak: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.leak = leak
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        # the loop *minimises*: a negative gradient means "increase this input"
        wakes = (x <= 0) & (grad < 0)
        passed = torch.where(x > 0, grad, torch.where(wakes, grad * ctx.leak, 0.0))
        return passed, None


def passthrough_relu(x: torch.Tensor, leak: float = 0.1) -> torch.Tensor:
    """``relu(x)`` whose gradient can wake up inactive units (see :func:`relu_passthrough`)."""
    return _PassthroughReLU.apply(x, leak)


def _is_conv_block(module: nn.Module) -> bool:
    # torchvision's BasicConv2d (GoogLeNet, Inception): conv -> batch norm -> functional ReLU
    return (
        type(module).__name__ == "BasicConv2d" and hasattr(module, "conv") and hasattr(module, "bn")
    )


@contextlib.contextmanager
def relu_passthrough(model: nn.Module, leak: float = 0.1) -> Iterator[int]:
    """Within the ``with`` block, the ReLUs of ``model`` let some gradient through.

    Forward values do not change. Backward: units with a positive input pass the gradient as
    usual; units at zero pass ``leak`` times the gradient when it asks to *increase* their
    input, and nothing otherwise. Without this, a unit that is off everywhere on the start
    image never receives a gradient: with torchvision's GoogLeNet the image stays grey
    (the "dead ReLU" problem). Handles ``nn.ReLU`` modules and torchvision's ``BasicConv2d``
    blocks, whose ReLU is a function call. Yields how many ReLUs were replaced; restores the
    model on exit, also after an error.
    """
    if not 0 <= leak <= 1:
        raise ValueError(f"leak must be between 0 and 1; got {leak}.")
    patched: list[nn.Module] = []

    def block_forward(self, x):
        return passthrough_relu(self.bn(self.conv(x)), leak)

    def relu_forward(self, x):
        return passthrough_relu(x, leak)

    try:
        for module in model.modules():
            if _is_conv_block(module):
                module.forward = types.MethodType(block_forward, module)
            elif isinstance(module, nn.ReLU):
                module.forward = types.MethodType(relu_forward, module)
            else:
                continue
            patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # the class's own forward is visible again
