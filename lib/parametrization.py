"""How the optimised image is represented. Every parametrisation is an ``nn.Module`` whose
``forward()`` returns a batch ``(B, 3, H, W)`` in [0, 1]; ``project()`` is called after each
optimiser step to keep the parameters valid."""

from __future__ import annotations

import torch
from torch import nn


class PixelImage(nn.Module):
    """The pixels themselves, kept in [0, 1] by clamping after every step."""

    def __init__(self, init: torch.Tensor):
        super().__init__()
        if init.ndim != 4 or init.shape[1] != 3:
            raise ValueError(f"init must be a (B, 3, H, W) batch; got shape {tuple(init.shape)}.")
        self.pixels = nn.Parameter(init.detach().clone().float().clamp(0, 1).contiguous())

    @classmethod
    def noise(cls, batch: int, height: int, width: int, std: float = 0.05,
              generator: torch.Generator | None = None, device=None) -> PixelImage:
        """Grey plus a little Gaussian noise: a neutral start that still breaks symmetry."""
        noise = torch.randn(batch, 3, height, width, generator=generator) * std
        return cls((0.5 + noise).to(device or "cpu"))

    def forward(self) -> torch.Tensor:
        return self.pixels

    @torch.no_grad()
    def project(self) -> None:
        self.pixels.clamp_(0, 1)
