"""The orientation coherence of images: 1 for stripes, near 0 for isotropic noise and blobs."""

import math

import pytest
import torch

from lib.orientation import orientation_coherence


def stripes(angle: float, size: int = 32, period: float = 6.0) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    phase = (x * math.cos(angle) + y * math.sin(angle)) / period
    return (0.5 + 0.4 * torch.sin(2 * torch.pi * phase)).expand(1, 3, size, size)


def blob(size: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    r2 = (x - size / 2) ** 2 + (y - size / 2) ** 2
    return torch.exp(-r2 / 60).expand(1, 3, size, size)


@pytest.mark.parametrize("angle", [0.0, 0.4, math.pi / 2, 2.0])
def test_stripes_in_any_direction_are_fully_coherent(angle):
    assert orientation_coherence(stripes(angle)).item() > 0.95


def test_noise_and_a_round_blob_have_no_preferred_direction():
    noise = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert (orientation_coherence(noise) < 0.25).all()
    # a round blob: each window sees one direction, but the centre and the rim do not
    assert orientation_coherence(blob()).item() < orientation_coherence(stripes(0.3)).item()


def test_a_flat_image_counts_as_zero_and_the_batch_is_kept():
    images = torch.cat([torch.full((1, 3, 32, 32), 0.4), stripes(1.0)])
    coherence = orientation_coherence(images)
    assert coherence.shape == (2,) and coherence[0] == 0 and coherence[1] > 0.95


def test_the_mix_of_two_directions_is_less_coherent_than_either():
    crossed = (stripes(0.0) + stripes(math.pi / 2)) / 2
    assert orientation_coherence(crossed) < 0.6 * orientation_coherence(stripes(0.0))


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="window"):
        orientation_coherence(torch.rand(1, 3, 32, 32), window=0)
    with pytest.raises(ValueError, match="too small"):
        orientation_coherence(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError):
        orientation_coherence(torch.rand(3, 32, 32))
