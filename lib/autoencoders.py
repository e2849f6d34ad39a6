"""Autoencoders on the 8×8 digits: compress the data manifold, and measure what that means.

- ``ConvAutoencoder``: a small convolutional encoder to a ``latent``-dimensional code and a
  decoder back to 8×8 pixels in [0, 1] (Hinton and Salakhutdinov, 2006, with convolutions).
- ``train_autoencoder``, ``reconstruction_error`` (mean squared error per image),
  ``error_vs_latent`` (one model per code size).
- ``interpolate``: decode points on the segment between two codes ("walking the manifold"), and
  the pixel-space cross-fade to compare with.
- Information helpers: ``entropy_bits`` (Shannon entropy of the pixel histogram, bits per pixel),
  ``compressed_bits`` / ``compression_ratio`` with zlib and lzma, on images quantised to bytes.
- ``auroc``: how well a score (e.g. reconstruction error) separates two sets.
"""

from __future__ import annotations

import lzma
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch import nn

from .device import device_of
from .images import check_batch
from .training import train

SIDE = 8


def _check_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    check_batch(x, name, channels=1)
    if tuple(x.shape[2:]) != (SIDE, SIDE):
        raise ValueError(f"{name} must have shape (N, 1, 8, 8); got {tuple(x.shape)}.")
    return x


class ConvAutoencoder(nn.Module):
    """8×8×1 → conv (16) → strided conv (32, 4×4) → linear → code of size ``latent``, and back
    with a linear layer, a transposed convolution to 8×8 and a sigmoid (pixels in [0, 1])."""

    def __init__(self, latent: int = 10, width: int = 16):
        super().__init__()
        if not isinstance(latent, int) or latent < 1:
            raise ValueError(f"latent must be a positive integer (the code size); got {latent!r}.")
        self.latent = latent
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),  # 8×8 -> 4×4
            nn.Flatten(), nn.Linear(2 * w * 16, latent),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent, 2 * w * 16), nn.ReLU(), nn.Unflatten(1, (2 * w, 4, 4)),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),  # 4×4 -> 8×8
            nn.Conv2d(w, 1, 3, padding=1), nn.Sigmoid(),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise ValueError(f"codes must have shape (N, {self.latent}); got {tuple(z.shape)}.")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def train_autoencoder(
    model: ConvAutoencoder,
    x: torch.Tensor,
    epochs: int = 60,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> list[float]:
    """Adam on the mean squared error between images and reconstructions, with a cosine
    learning rate (``lib.training.train``); returns the mean loss of each epoch and leaves the
    model in eval mode, frozen."""
    _check_images(x)
    return train(
        model, x, x, F.mse_loss, epochs, lr, batch_size, cosine=True, reset=True, seed=seed
    )


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions of ``x`` (on the CPU)."""
    _check_images(x)
    return model(x.to(device_of(model))).cpu()


def reconstruction_error(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, ``(N,)``, in squared pixel units of [0, 1]."""
    return (reconstruct(model, x) - x.cpu()).pow(2).flatten(1).mean(1)


@dataclass
class LatentSweep:
    sizes: list[int]
    train_error: list[float]
    test_error: list[float]
    models: dict[int, ConvAutoencoder]


def error_vs_latent(
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    sizes: Sequence[int],
    epochs: int = 60,
    seed: int = 0,
    width: int = 16,
    **kw,
) -> LatentSweep:
    """Train one autoencoder per code size (same seed, same ``width``, ``kw`` passed on to
    ``train_autoencoder``); mean reconstruction error on train and test."""
    if len(sizes) == 0:
        raise ValueError("sizes is empty: pass code sizes, e.g. [2, 4, 8, 16, 32].")
    out = LatentSweep([], [], [], {})
    for size in sizes:
        model = ConvAutoencoder(latent=int(size), width=width)
        train_autoencoder(model, x_train, epochs=epochs, seed=seed, **kw)
        out.sizes.append(int(size))
        out.train_error.append(reconstruction_error(model, x_train).mean().item())
        out.test_error.append(reconstruction_error(model, x_test).mean().item())
        out.models[int(size)] = model
    return out


@torch.no_grad()
def interpolate(model: ConvAutoencoder, a: torch.Tensor, b: torch.Tensor, steps: int = 8):
    """Decoded images at evenly spaced points between the codes of ``a`` and ``b`` (each
    ``(1, 1, 8, 8)``), and the pixel-space cross-fade ``(1-t)·a + t·b`` at the same t."""
    _check_images(a, "a")
    _check_images(b, "b")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends); got {steps!r}.")
    device = device_of(model)
    t = torch.linspace(0, 1, steps).view(-1, 1)
    za, zb = model.encode(a[:1].to(device)).cpu(), model.encode(b[:1].to(device)).cpu()
    codes = (1 - t) * za + t * zb
    decoded = model.decode(codes.to(device)).cpu()
    fade = (1 - t.view(-1, 1, 1, 1)) * a[:1].cpu() + t.view(-1, 1, 1, 1) * b[:1].cpu()
    return decoded, fade


@torch.no_grad()
def encode(model: ConvAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """Codes ``(N, latent)`` of images (on the CPU)."""
    _check_images(x)
    return model.encode(x.to(device_of(model))).cpu()


# --------------------------------------------------------------------------- information


def to_levels(x: torch.Tensor | np.ndarray, levels: int = 17) -> np.ndarray:
    """Images in [0, 1] as integer symbols 0..levels-1 (uint8): the digits' 17 grey levels, or
    256 for ordinary 8-bit pixels."""
    if not 2 <= levels <= 256:
        raise ValueError(f"levels must be between 2 and 256 to fit a byte; got {levels!r}.")
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if array.size == 0:
        raise ValueError("No pixels: pass at least one image.")
    if array.min() < -1e-6 or array.max() > 1 + 1e-6:
        raise ValueError(f"Pixels must be in [0, 1]; got [{array.min():.3g}, {array.max():.3g}].")
    return np.rint(np.clip(array, 0, 1) * (levels - 1)).astype(np.uint8)


def entropy_bits(symbols: np.ndarray) -> float:
    """Shannon entropy of the histogram of ``symbols``, in bits per symbol:
    H = -Σ p_k log2 p_k. For pixels drawn independently from that histogram this is the least
    number of bits per pixel any lossless code can reach on average (Shannon, 1948)."""
    symbols = np.asarray(symbols).reshape(-1)
    if symbols.size == 0:
        raise ValueError("No symbols: pass at least one.")
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)


COMPRESSORS = {
    "zlib": lambda data: zlib.compress(data, 9),
    "lzma": lambda data: lzma.compress(data, preset=9 | lzma.PRESET_EXTREME),
}


def compressed_bits(symbols: np.ndarray, method: str = "zlib") -> float:
    """Bits per symbol after compressing ``symbols`` (one byte each) with ``method``."""
    if method not in COMPRESSORS:
        raise ValueError(f"Unknown method {method!r}; use one of {', '.join(COMPRESSORS)}.")
    data = np.ascontiguousarray(symbols, dtype=np.uint8).tobytes()
    if not data:
        raise ValueError("No symbols: pass at least one.")
    return 8 * len(COMPRESSORS[method](data)) / len(data)


def compression_ratio(symbols: np.ndarray, method: str = "zlib") -> float:
    """Raw size (one byte per pixel) over compressed size: 8 / ``compressed_bits``."""
    return 8 / compressed_bits(symbols, method)


def auroc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """Area under the ROC curve of a score meant to be higher on ``positives``: the probability
    that a random positive scores above a random negative (ties count one half)."""
    neg = torch.as_tensor(negatives, dtype=torch.float64).reshape(-1).numpy()
    pos = torch.as_tensor(positives, dtype=torch.float64).reshape(-1).numpy()
    if neg.size == 0 or pos.size == 0:
        raise ValueError("auroc needs at least one negative and one positive score.")
    labels = np.concatenate([np.zeros(neg.size), np.ones(pos.size)])
    return float(roc_auc_score(labels, np.concatenate([neg, pos])))
