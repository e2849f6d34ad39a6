"""Colour utilities of style transfer: luminance and chrominance (YIQ), and colour statistics.

- ``rgb_to_yiq`` / ``yiq_to_rgb``: Y is the luminance, I and Q the chrominance;
- ``match_colors``: the linear colour transfer of Gatys et al. (2016b), a start for
  ``lib.style.transfer`` with the style's palette;
- ``preserve_colors``: luminance transfer (Gatys et al., 2016b), keeping the content's colours.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .images import check_batch, resize_to

_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def weighted_mean(values: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``Σ_k w_k v_k`` with the weights normalised to sum to 1 (blends of styles).

    Minimising ``Σ_k w_k ‖G - A_k‖²`` and ``‖G - Σ_k w_k A_k‖²`` gives the same image (they differ
    by a constant), so one blended target per layer is enough."""
    if len(values) != len(weights):
        raise ValueError(f"{len(values)} styles but {len(weights)} blend weights.")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"Blend weights must be non-negative with a positive sum; got {weights}.")
    total = float(sum(weights))
    return sum(w / total * v for w, v in zip(weights, values, strict=True))


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to YIQ: Y is the luminance, I and Q the chrominance."""
    return torch.einsum("ij,bjhw->bihw", _YIQ.to(images), images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """The inverse of ``rgb_to_yiq`` (not clamped)."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_YIQ).to(images), images)


def _colour_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean ``(3, 1)`` and covariance ``(3, 3)`` of the pixels of a batch."""
    flat = images.float().transpose(0, 1).reshape(images.shape[1], -1)
    mean = flat.mean(1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / centred.shape[1]


def _sqrtm(cov: torch.Tensor, inverse: bool = False, eps: float = 1e-5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov + eps * torch.eye(len(cov), device=cov.device))
    values = values.clamp_min(eps)
    return vectors @ torch.diag(values.rsqrt() if inverse else values.sqrt()) @ vectors.T


def match_colors(
    image: torch.Tensor,
    references: torch.Tensor | Sequence[torch.Tensor],
    blend: Sequence[float] | None = None,
) -> torch.Tensor:
    """``image`` recoloured so that its pixels have the per-channel mean ``μ_s`` and the 3×3
    covariance ``Σ_s`` of ``references`` (a blend of several with weights):

        x' = Σ_s^{1/2} Σ_x^{-1/2} (x - μ_x) + μ_s,

    the linear colour transfer of Gatys et al. (2016b), who recolour the style image to the
    content's palette; here the content takes the style's palette, a start for style transfer
    whose lowest-layer Gram matrices are already close to the style's. Clamped to [0, 1]."""
    refs = [references] if isinstance(references, torch.Tensor) else list(references)
    if not refs:
        raise ValueError("match_colors needs at least one reference image.")
    for picture in [image, *refs]:
        check_batch(picture, "match_colors' images", channels=3)
    weights = list(blend) if blend is not None else [1.0] * len(refs)
    stats = [_colour_stats(r) for r in refs]
    # the statistics of the mixture of the references' pixels
    mean = weighted_mean([m for m, _ in stats], weights)
    second = weighted_mean([c + m @ m.T for m, c in stats], weights)
    cov = second - mean @ mean.T
    own_mean, own_cov = _colour_stats(image)
    transform = _sqrtm(cov) @ _sqrtm(own_cov, inverse=True)
    flat = image.float().transpose(0, 1).reshape(3, -1)
    out = transform @ (flat - own_mean) + mean
    return out.reshape(3, image.shape[0], *image.shape[2:]).transpose(0, 1).clamp(0, 1)


def preserve_colors(content: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """Luminance transfer (Gatys et al., 2016b): the stylised image's luminance Y with the
    content's chrominance I, Q. The style's strokes and textures stay; its palette goes."""
    check_batch(content, "content", channels=3)
    check_batch(stylized, "stylized", channels=3)
    content = resize_to(content, tuple(stylized.shape[-2:]))
    mixed = torch.cat([rgb_to_yiq(stylized)[:, :1], rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(mixed).clamp(0, 1)
