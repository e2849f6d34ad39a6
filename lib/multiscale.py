"""Coarse to fine: run an image optimisation at increasing sizes, carrying only what it added.

DeepDream's octaves (chapter 3) and the coarse-to-fine schedule of style transfer (chapter 4)
share this loop: at each size the start is ``resize(base) + upsample(detail)``, where ``detail``
is what the earlier sizes added to ``base``; after ``refine``, ``detail = result - resize(base)``.
So the fine detail of ``base`` that a small size cannot see is kept rather than blurred away, and
at the last size ``resize(base)`` is ``base`` itself, untouched by any resampling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .images import resize_to


def octave_sizes(
    height: int, width: int, octaves: int = 4, scale: float = 1.4, min_side: int | None = None
) -> list[tuple[int, int]]:
    """The ``(H, W)`` of each octave, smallest first; the last one is the image's own size.

    Octave ``k`` (counted from the full image, ``k = 0``) has sides divided by ``scale**k``.
    Octaves whose shorter side would fall below ``min_side`` are dropped, so the network never
    sees an image too small for its receptive fields (224 px for GoogLeNet in the literature).
    """
    if not isinstance(octaves, int) or octaves < 1:
        raise ValueError(f"octaves must be a positive integer; got {octaves!r}.")
    if not scale > 1:
        raise ValueError(f"scale must be larger than 1 (the original uses 1.4); got {scale!r}.")
    if min_side is not None and min(height, width) < min_side:
        raise ValueError(
            f"The image is {height}×{width}, smaller than min_side={min_side}: load it larger "
            "or lower min_side."
        )
    sizes = []
    for k in range(octaves):
        size = (round(height / scale**k), round(width / scale**k))
        if min_side is not None and min(size) < min_side:
            break
        sizes.append(size)
    return sizes[::-1]


def scaled_sizes(
    height: int, width: int, scales: Sequence[float], min_side: int = 16
) -> list[tuple[int, int]]:
    """``(H, W)`` scaled by each factor of ``scales`` (in (0, 1], ending with 1), at least
    ``min_side`` a side."""
    scales = list(scales)
    if not scales or scales[-1] != 1.0 or any(not 0 < s <= 1 for s in scales):
        raise ValueError(f"scales must lie in (0, 1] and end with 1.0; got {scales}.")
    return [(max(min_side, round(height * s)), max(min_side, round(width * s))) for s in scales]


def coarse_to_fine(
    base: torch.Tensor,
    sizes: Sequence[tuple[int, int]],
    refine: Callable[[torch.Tensor, int], torch.Tensor],
) -> torch.Tensor:
    """Run ``refine(start, index)`` at each size, smallest first, carrying only the added detail
    (see the module's docstring); returns the last result."""
    if not sizes:
        raise ValueError("coarse_to_fine needs at least one size.")
    detail = torch.zeros_like(resize_to(base, sizes[0]))
    result = base
    for index, size in enumerate(sizes):
        level_base = resize_to(base, size)
        if tuple(detail.shape[-2:]) != tuple(size):
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        result = refine((level_base + detail).clamp(0, 1), index)
        detail = result - level_base
    return result
