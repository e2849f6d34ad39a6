"""Information in pixels: Shannon entropy and what general-purpose compressors achieve
(chapter 6, on the digits and their controls).

- ``to_levels``: images in [0, 1] as integer symbols, one byte each (17 levels for the digits).
- ``entropy_bits``: Shannon entropy of the histogram of the symbols, bits per symbol.
- ``compressed_bits`` / ``compression_ratio``: the size zlib or lzma reach, bits per symbol.
"""

from __future__ import annotations

import lzma
import zlib

import numpy as np
import torch


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
