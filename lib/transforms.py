"""Random transformations applied to the image before each step ("transformation robustness").

Each transform is a callable ``images -> images`` drawing from torch's global generator, so a
seeded run is reproducible. They keep the batch and channel sizes; jitter keeps H×W too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor], torch.Tensor]


def _randint(low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,)).item())


def jitter(pixels: int) -> Transform:
    """Roll the image by up to ``pixels`` in each direction (wrapping around)."""
    if pixels < 0:
        raise ValueError(f"jitter needs a non-negative number of pixels, got {pixels}.")

    def apply(images: torch.Tensor) -> torch.Tensor:
        dy, dx = _randint(-pixels, pixels), _randint(-pixels, pixels)
        return torch.roll(images, shifts=(dy, dx), dims=(-2, -1))

    return apply


def pad(pixels: int, value: float = 0.5) -> Transform:
    """Pad with a constant grey border, so that jitter and rotation do not wrap visible content."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        return F.pad(images, (pixels,) * 4, value=value)

    return apply


def random_scale(scales: Sequence[float]) -> Transform:
    """Resize by a factor drawn from ``scales``."""
    scales = list(scales)
    if not scales or min(scales) <= 0:
        raise ValueError("random_scale needs a list of positive factors.")

    def apply(images: torch.Tensor) -> torch.Tensor:
        factor = scales[_randint(0, len(scales) - 1)]
        if factor == 1:
            return images
        size = [max(1, round(side * factor)) for side in images.shape[-2:]]
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False)

    return apply


def random_rotate(degrees: Sequence[float]) -> Transform:
    """Rotate about the centre by an angle (degrees) drawn from ``degrees``."""
    degrees = list(degrees)

    def apply(images: torch.Tensor) -> torch.Tensor:
        angle = math.radians(degrees[_randint(0, len(degrees) - 1)])
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor(
            [[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=images.dtype, device=images.device
        ).expand(images.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, padding_mode="border", align_corners=False)

    return apply


def compose(*transforms: Transform) -> Transform:
    """Apply the transforms in order."""

    def apply(images: torch.Tensor) -> torch.Tensor:
        for transform in transforms:
            images = transform(images)
        return images

    return apply


def standard_robustness() -> Transform:
    """The mix of Olah et al. (2017): pad, jitter, scale, rotate, jitter."""
    return compose(
        pad(12),
        jitter(8),
        random_scale([1 + (k - 5) / 50 for k in range(11)]),
        random_rotate(list(range(-10, 11))),
        jitter(4),
    )
