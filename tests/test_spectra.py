"""The spectra of images: the share of power at high frequencies and the radial spectrum."""

import pytest
import torch

from lib.spectra import high_frequency_ratio, radial_power


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_high_frequency_ratio_separates_noise_from_smooth_images():
    noise = torch.rand(2, 3, 32, 32, generator=gen())
    wave = 0.5 + 0.4 * torch.cos(torch.arange(32) * 2 * torch.pi / 32)  # one period, smooth
    ramp = wave.expand(2, 3, 32, 32)
    assert (high_frequency_ratio(noise) > 0.6).all()
    assert (high_frequency_ratio(ramp) < 0.05).all()
    assert (high_frequency_ratio(torch.full((1, 3, 8, 8), 0.3)) == 0).all()
    with pytest.raises(ValueError):
        high_frequency_ratio(noise[0])


def test_radial_power_is_flat_for_white_noise_and_falls_for_a_smooth_image():
    noise = torch.rand(8, 3, 64, 64, generator=gen())
    centres, spectra = radial_power(noise, bins=8)
    assert centres.shape == (8,) and spectra.shape == (8, 8)
    mean = spectra.mean(dim=0)
    assert mean.max() / mean.min() < 1.5
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1, padding=4)
    _, smooth_spectra = radial_power(smooth, bins=8)
    assert (smooth_spectra[:, 0] > 20 * smooth_spectra[:, -1]).all()
    with pytest.raises(ValueError, match="bins"):
        radial_power(noise, bins=1)
