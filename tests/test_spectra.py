"""The spectra of images: the share of power at high frequencies and the radial spectrum."""

import numpy as np
import pytest
import torch

from lib.spectra import _weighted_power, high_frequency_ratio, radial_power


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


def _full_plane(images: torch.Tensor):
    """numpy's reference: the power of every coefficient of the full ``fft2`` of each
    mean-removed channel, summed over the channels, and each coefficient's radial frequency."""
    x = images.double().numpy()
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    power = (np.abs(np.fft.fft2(x)) ** 2).sum(axis=1)
    fy = np.fft.fftfreq(x.shape[-2])[:, None]
    fx = np.fft.fftfreq(x.shape[-1])[None, :]
    return power, np.sqrt(fy**2 + fx**2)


def _reference_ratio(images, cutoff):
    power, frequency = _full_plane(images)
    return (power * (frequency > cutoff)).sum(axis=(-2, -1)) / power.sum(axis=(-2, -1))


def _reference_radial(images, bins):
    power, frequency = _full_plane(images)
    ring = np.floor(frequency / 0.5 * bins).astype(int)
    inside = (ring < bins) & (frequency > 0)
    total = power.sum(axis=(-2, -1))
    spectra = np.zeros((len(images), bins))
    for k in range(bins):
        chosen = inside & (ring == k)
        if chosen.any():
            spectra[:, k] = power[:, chosen].mean(axis=1) / total
    return spectra


@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 3, 6, 7), (2, 1, 5, 10), (1, 2, 7, 4)])
def test_high_frequency_ratio_is_numpys_full_plane_share(shape):
    images = torch.rand(*shape, generator=gen(1))
    # a brightness ramp across the channels: removing one mean for all would leave power
    images = images + torch.arange(shape[1]).reshape(1, -1, 1, 1) * 0.3
    for cutoff in (0.1, 0.25, 0.4, 0.6):
        expected = torch.from_numpy(_reference_ratio(images, cutoff)).float()
        torch.testing.assert_close(high_frequency_ratio(images, cutoff), expected)
    torch.testing.assert_close(
        high_frequency_ratio(images), torch.from_numpy(_reference_ratio(images, 0.25)).float()
    )


def test_high_frequency_ratio_by_hand():
    # a checkerboard holds all its power at (0.5, 0.5), frequency 0.707: all above any cutoff
    board = (torch.arange(4)[:, None] + torch.arange(4)[None, :]) % 2
    board = board.float().expand(1, 3, 4, 4)
    torch.testing.assert_close(high_frequency_ratio(board, 0.7), torch.tensor([1.0]))
    # stripes across the columns: frequency 0.5, above 0.49 and not above 0.5
    stripes = (torch.arange(4) % 2).float().expand(1, 3, 4, 4)
    torch.testing.assert_close(high_frequency_ratio(stripes, 0.49), torch.tensor([1.0]))
    torch.testing.assert_close(high_frequency_ratio(stripes, 0.5), torch.tensor([0.0]))
    # a flat image and a nearly flat one (power below 1e-12): 0, not NaN; a faint image of
    # power 2e-5 still counts; the images of a batch apart
    flat = torch.full((1, 3, 4, 4), 0.5)
    out = high_frequency_ratio(torch.cat([flat, stripes, 1e-8 * stripes, 1e-4 * stripes]), 0.49)
    torch.testing.assert_close(out, torch.tensor([0.0, 1.0, 0.0, 1.0]))


def test_high_frequency_ratio_refuses_cutoffs_outside_the_spectrum():
    images = torch.rand(1, 3, 4, 4, generator=gen())
    for bad in (0.0, -0.1, 0.5 * 2**0.5, 0.75):
        with pytest.raises(ValueError, match=r"cutoff must be in \(0, 0.707\) cycles/pixel; got"):
            high_frequency_ratio(images, bad)
    high_frequency_ratio(images, 0.7)  # just below the corner of the spectrum
    with pytest.raises(ValueError, match=r"images must be a batch of shape"):
        high_frequency_ratio(images[0], 0.7)


def test_the_weights_count_the_twin_columns_of_rfft2():
    # even width: the first and the last (Nyquist) columns have no twin; odd: only the first
    _, _, even = _weighted_power(torch.rand(1, 3, 5, 6, generator=gen()))
    torch.testing.assert_close(even, torch.tensor([1.0, 2.0, 2.0, 1.0]))
    _, _, odd = _weighted_power(torch.rand(1, 3, 6, 7, generator=gen()))
    torch.testing.assert_close(odd, torch.tensor([1.0, 2.0, 2.0, 2.0]))
    # the weighted half-plane holds the full plane's power (Parseval)
    images = torch.rand(2, 3, 6, 6, generator=gen(2))
    power, frequency, _ = _weighted_power(images)
    full, _ = _full_plane(images)
    total = torch.from_numpy(full.sum((1, 2)))
    torch.testing.assert_close(power.sum(dim=(-2, -1)).double(), total, rtol=1e-6, atol=0)
    assert frequency.shape == (6, 4)


def test_the_spectra_are_computed_where_the_images_are():
    # the meta device stands in for a GPU: every tensor must follow the images
    power, frequency, weight = _weighted_power(torch.zeros(1, 3, 4, 4, device="meta"))
    assert power.device.type == frequency.device.type == weight.device.type == "meta"
    assert high_frequency_ratio(torch.zeros(1, 3, 4, 4, device="meta")).device.type == "meta"


@pytest.mark.parametrize(
    "shape, bins", [((2, 3, 16, 16), 4), ((1, 3, 12, 9), 6), ((1, 1, 8, 10), 3)]
)
def test_radial_power_is_numpys_ring_average(shape, bins):
    images = torch.rand(*shape, generator=gen(3))
    images = images + torch.arange(shape[1]).reshape(1, -1, 1, 1) * 0.3
    centres, spectra = radial_power(images, bins=bins)
    expected = torch.from_numpy(_reference_radial(images, bins)).float()
    torch.testing.assert_close(spectra, expected)
    torch.testing.assert_close(centres, (torch.arange(bins) + 0.5) * 0.5 / bins)
    assert centres.device.type == spectra.device.type == "cpu"


def test_radial_power_default_bins_and_refusals():
    images = torch.rand(1, 3, 64, 64, generator=gen(4))
    centres, spectra = radial_power(images)
    assert centres.shape == (16,) and spectra.shape == (1, 16)
    torch.testing.assert_close(centres[[0, -1]], torch.tensor([1 / 64, 31 / 64]))
    torch.testing.assert_close(spectra, torch.from_numpy(_reference_radial(images, 16)).float())
    for bad in (1, 0, 2.0, "4"):
        with pytest.raises(ValueError, match=r"bins must be an integer of at least 2; got"):
            radial_power(images, bins=bad)
    radial_power(images, bins=2)
    # a flat image has no power: zero spectra, not NaN
    _, flat = radial_power(torch.full((1, 3, 8, 8), 0.5), bins=4)
    torch.testing.assert_close(flat, torch.zeros(1, 4))


def test_the_radial_spectrum_does_not_depend_on_the_contrast():
    images = torch.rand(1, 3, 8, 8, generator=gen(5))
    faint = 0.5 + 1e-3 * (images - 0.5)  # total power far below 1
    _, strong = radial_power(images, bins=4)
    _, weak = radial_power(faint, bins=4)
    torch.testing.assert_close(weak, strong, rtol=1e-3, atol=1e-6)
