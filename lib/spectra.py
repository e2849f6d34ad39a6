"""How an image's power spreads over spatial frequencies (chapter 1).

A photo puts most of its power at low frequencies, white noise spreads it evenly, and an image
optimised naively on its pixels is full of fine, high-frequency patterns. Two measurements tell
them apart: :func:`high_frequency_ratio` (one number per image: the share of power above a
cutoff) and :func:`radial_power` (the whole radially averaged spectrum, for a plot).
"""

from __future__ import annotations

import torch

from .images import check_batch, radial_frequency


def _weighted_power(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spectral power of each image (colour channels summed, means removed) on the ``rfft2``
    half-plane, each column weighted by how many coefficients it stands for; the radial
    frequency of each coefficient; and the column weights."""
    check_batch(images)
    x = images.detach().float()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2).sum(dim=1)  # (B, H, W//2+1)
    # rfft2 stores half of the columns: weight them by 2 except the ones without a twin
    weight = torch.full(power.shape[-1:], 2.0, device=x.device)
    weight[0] = 1.0
    if x.shape[-1] % 2 == 0:
        weight[-1] = 1.0
    frequency = radial_frequency(*x.shape[-2:], half=True, device=x.device)
    return power * weight, frequency, weight


def high_frequency_ratio(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Share of each image's spectral power above ``cutoff`` cycles/pixel (0.5 is Nyquist).

    The mean of each channel is removed first, so a flat image has no power to share (0 is
    returned). White noise puts about 80% of its power above 0.25; photos a few percent.
    """
    check_batch(images)
    if not 0 < cutoff < 0.5 * 2**0.5:
        raise ValueError(f"cutoff must be in (0, 0.707) cycles/pixel; got {cutoff}.")
    power, frequency, _ = _weighted_power(images)
    high = (frequency > cutoff).float()
    total = power.sum(dim=(-2, -1))
    return ((power * high).sum(dim=(-2, -1)) / total.clamp_min(1e-12)).where(
        total > 1e-12, torch.zeros_like(total)
    )


def radial_power(images: torch.Tensor, bins: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The radially averaged power spectrum of each image: the mean power of the coefficients
    in ``bins`` equal rings of frequency from 0 to 0.5 cycles/pixel (Nyquist; the corners
    beyond it are left out), divided by the image's total power so that images of any contrast
    compare. Returns ``(centres, spectra)``, shapes ``(bins,)`` and ``(B, bins)``: flat for white
    noise, falling about as $1/f^2$ for photos, for a log plot."""
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer of at least 2; got {bins!r}.")
    power, frequency, weight = _weighted_power(images)
    weight = weight.expand_as(frequency)  # how many coefficients each one stands for
    ring = (frequency / 0.5 * bins).long()  # ring index of each coefficient
    inside = (ring < bins) & (frequency > 0)
    sums = torch.zeros(power.shape[0], bins, device=power.device)
    sums.index_add_(1, ring[inside], power[:, inside])
    counts = torch.zeros(bins, device=power.device)
    counts.index_add_(0, ring[inside], weight[inside])
    total = power.sum(dim=(-2, -1)).clamp_min(1e-12)[:, None]
    spectra = sums / counts.clamp_min(1) / total
    centres = (torch.arange(bins, device=power.device) + 0.5) * 0.5 / bins
    return centres.cpu(), spectra.cpu()
