"""Random weights drawn when a block of layers first runs, not when the network is built.

An untrained copy of VGG19 is a control in chapters 0 and 4, and the controls read only its
convolutions: its classifier's 124 million weights (about 500 MB) would be drawn and held for
nothing, on machines such as Binder's that have about 2 GB in all. :class:`DrawnOnFirstUse`
keeps such a block on PyTorch's meta device (its modules and shapes, no memory) and draws its
weights, with the network's own initialisation and a seeded generator, the first time it runs
on real input. Forward hooks on its layers, layer shapes (a pass on the meta device) and
``.to(...)`` work before that as after.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Initializer = Callable[[nn.Module, torch.Generator], None]


class DrawnOnFirstUse(nn.Sequential):
    """The layers of ``block`` (built on the meta device), whose weights ``initialize(module,
    generator)`` draws for each of its modules when the block first runs on real input; the
    generator is seeded with ``seed``, so a copy built with the same seed computes the same."""

    def __init__(self, block: nn.Sequential, initialize: Initializer, seed: int):
        super().__init__(*block)
        self._initialize = initialize
        self._seed = seed
        self.drawn = not any(t.is_meta for t in [*block.parameters(), *block.buffers()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.drawn and not x.is_meta:
            self._draw(x.device)
        return super().forward(x)

    def _draw(self, device: torch.device) -> None:
        super()._apply(lambda t: torch.empty_like(t, device="cpu"))
        generator = torch.Generator().manual_seed(self._seed)
        with torch.no_grad():
            for module in self.modules():
                if module is not self:
                    self._initialize(module, generator)
        self.drawn = True
        super()._apply(lambda t: t.to(device))

    def _apply(self, fn, recurse=True):
        # before the draw the tensors have no data to move: the draw puts them on the device
        # of the block's input
        return super()._apply(fn, recurse) if self.drawn else self
