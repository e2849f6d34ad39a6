"""Tests for lib.information: entropy, compressed sizes, pixels as byte symbols."""

import math

import numpy as np
import pytest
import torch

from lib.information import compressed_bits, compression_ratio, entropy_bits, to_levels


def test_entropy_on_known_distributions():
    assert entropy_bits(np.zeros(100, np.uint8)) == 0
    assert entropy_bits(np.array([0, 1] * 50)) == pytest.approx(1.0)
    assert entropy_bits(np.arange(256).repeat(4)) == pytest.approx(8.0)
    # p = (1/2, 1/4, 1/4): 1.5 bits
    assert entropy_bits(np.array([0, 0, 1, 2])) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="at least one"):
        entropy_bits(np.array([]))


def test_compression_respects_the_entropy_bound():
    rng = np.random.default_rng(0)
    constant = np.zeros(20000, np.uint8)
    assert compression_ratio(constant) > 100
    full = rng.integers(0, 256, 20000, dtype=np.uint8)
    for method in ("zlib", "lzma"):
        assert compressed_bits(full, method) > 7.9  # random bytes do not compress
    # noise on 17 levels "compresses" (bytes waste bits) but never below its entropy
    noise17 = rng.integers(0, 17, 20000).astype(np.uint8)
    assert compression_ratio(noise17) > 1.4
    assert compressed_bits(noise17) > entropy_bits(noise17) > math.log2(17) - 0.01
    with pytest.raises(ValueError, match="Unknown method"):
        compressed_bits(full, "gzip2")


def test_to_levels_makes_bytes_of_pixels():
    x = torch.tensor([[0.0, 0.5, 1.0]])
    assert to_levels(x, 17).tolist() == [[0, 8, 16]]
    assert to_levels(x, 256).tolist() == [[0, 128, 255]]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_levels(x + 1)
    with pytest.raises(ValueError, match="levels"):
        to_levels(x, 300)
