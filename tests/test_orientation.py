"""The orientation coherence of images: 1 for stripes, near 0 for isotropic noise and blobs."""

import math

import numpy as np
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


def _reference(images: torch.Tensor, window: int) -> torch.Tensor:
    """The structure tensor's coherence from its eigenvalues (numpy's eigvalsh), window by
    window, with numpy's central differences (np.gradient) inside the border."""
    out = []
    for image in images.double().numpy():
        grey = image.mean(axis=0)
        gy, gx = (g[1:-1, 1:-1] for g in np.gradient(grey))
        rows, cols = gx.shape[0] - window + 1, gx.shape[1] - window + 1
        values = []
        for i in range(rows):
            for j in range(cols):
                x, y = gx[i : i + window, j : j + window], gy[i : i + window, j : j + window]
                tensor = np.array(
                    [[(x * x).mean(), (x * y).mean()], [(x * y).mean(), (y * y).mean()]]
                )
                low, high = np.linalg.eigvalsh(tensor)
                values.append((high - low) / (high + low) if high + low > 1e-12 else 0.0)
        out.append(np.mean(values))
    return torch.tensor(out, dtype=torch.float32)


@pytest.mark.parametrize("window", [1, 3, 9])
def test_coherence_is_the_eigenvalue_contrast_of_the_structure_tensor(window):
    g = torch.Generator().manual_seed(5)
    images = torch.rand(2, 3, 14, 13, generator=g, dtype=torch.float64)
    expected = _reference(images, window)
    torch.testing.assert_close(orientation_coherence(images, window), expected)


def test_the_default_window_is_nine_pixels():
    images = torch.rand(1, 3, 12, 13, generator=torch.Generator().manual_seed(6))
    torch.testing.assert_close(orientation_coherence(images), _reference(images, 9))


def test_the_smallest_image_is_the_window_and_its_border():
    images = torch.rand(1, 3, 11, 12, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(orientation_coherence(images, 9), _reference(images, 9))
    with pytest.raises(
        ValueError,
        match=r"The images \(\(10, 12\) px\) are too small for a 9-pixel window and the gradient",
    ):
        orientation_coherence(images[..., :10, :], 9)
    with pytest.raises(ValueError, match=r"\(\(11, 10\) px\) are too small for a 9-pixel"):
        orientation_coherence(images[..., :10], 9)
    with pytest.raises(ValueError, match="window must be a positive integer; got 0"):
        orientation_coherence(images, 0)
    orientation_coherence(images[..., :3, :3], 1)  # one pixel and its neighbours
