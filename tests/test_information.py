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


def test_to_levels_defaults_to_the_digits_17_levels_and_returns_bytes():
    x = torch.tensor([0.0, 1 / 16, 0.5, 1.0])
    out = to_levels(x)
    assert out.dtype == np.uint8 and out.tolist() == [0, 1, 8, 16]
    # 2 and 256 levels fit a byte; 1 and 257 do not
    assert to_levels(x, 2).tolist() == [0, 0, 0, 1]  # rint rounds 0.5 to even
    assert to_levels(x, 256).tolist() == [0, 16, 128, 255]
    for bad in (1, 257):
        with pytest.raises(ValueError, match=f"levels must be between 2 and 256 .*got {bad}"):
            to_levels(x, bad)


def test_to_levels_reads_arrays_tensors_with_gradients_and_one_pixel():
    assert to_levels(np.array([[0.25, 0.75]]), 5).tolist() == [[1, 3]]
    assert to_levels([0.25, 0.75], 5).tolist() == [1, 3]
    pixels = torch.tensor([0.25, 0.75], requires_grad=True)
    assert to_levels(pixels, 5).tolist() == [1, 3]
    assert to_levels(np.array([1.0])).tolist() == [16]
    with pytest.raises(ValueError, match="^No pixels: pass at least one image.$"):
        to_levels(np.array([]))


def test_to_levels_tolerates_rounding_errors_of_a_millionth():
    edge = np.array([-1e-6, 1 + 1e-6])
    assert to_levels(edge, 256).tolist() == [0, 255]
    with pytest.raises(ValueError, match=r"^Pixels must be in \[0, 1\]; got \[-2e-06, 1\]\.$"):
        to_levels(np.array([-2e-6, 1.0]))
    with pytest.raises(ValueError, match=r"got \[0, 1\]"):
        to_levels(np.array([0.0, 1 + 2e-6]))


def test_entropy_is_a_positive_zero_for_one_symbol_and_reads_any_shape():
    zero = entropy_bits(np.zeros((3, 4), np.uint8))
    assert zero == 0 and math.copysign(1.0, zero) == 1.0  # not -0.0
    assert entropy_bits(np.array([[0, 1], [2, 3]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="^No symbols: pass at least one.$"):
        entropy_bits(np.zeros((0, 3)))


def test_compressed_bits_are_the_compressors_size_per_byte():
    import lzma
    import zlib

    symbols = np.arange(1000) % 7  # int64: written as one byte each
    data = (np.arange(1000) % 7).astype(np.uint8).tobytes()
    assert compressed_bits(symbols) == 8 * len(zlib.compress(data, 9)) / 1000
    extreme = lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    assert compressed_bits(symbols, "lzma") == 8 * len(extreme) / 1000
    assert compression_ratio(symbols) == pytest.approx(1000 / len(zlib.compress(data, 9)))
    assert compression_ratio(symbols, "lzma") == pytest.approx(1000 / len(extreme))
    with pytest.raises(ValueError, match="^Unknown method 'gzip'; use one of zlib, lzma.$"):
        compressed_bits(symbols, "gzip")
    with pytest.raises(ValueError, match="^No symbols: pass at least one.$"):
        compressed_bits(np.array([], np.uint8))
