"""FourierImage: shapes, range, gradients, and the smoothness that motivates it."""

import pytest
import torch

from lib.parametrization import FourierImage, PixelImage, spectrum_scale
from lib.spectra import high_frequency_ratio


@pytest.mark.parametrize("height,width", [(32, 32), (31, 48), (17, 9)])
def test_fourier_image_has_requested_size_and_range(height, width):
    image = FourierImage(3, height, width, std=1.0, generator=torch.Generator().manual_seed(0))
    x = image()
    assert x.shape == (3, 3, height, width)
    assert x.min() >= 0 and x.max() <= 1
    with torch.no_grad():  # even a huge spectrum stays in range (the sigmoid)
        image.spectrum.mul_(1000)
    x = image()
    assert torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


def test_fourier_image_interface_matches_pixel_image():
    gen = torch.Generator().manual_seed(0)
    for cls in (PixelImage, FourierImage):
        image = cls.noise(2, 16, 20, generator=gen)
        assert image().shape == (2, 3, 16, 20)
        image.project()  # exists and runs
        assert [p for p in image.parameters() if p.requires_grad]


def test_fourier_image_gradient_reaches_parameters():
    image = FourierImage(1, 16, 16)
    image().mean().backward()
    assert image.spectrum.grad is not None and image.spectrum.grad.abs().sum() > 0


def test_seeds_give_distinct_images_and_same_seed_the_same():
    a = FourierImage(1, 16, 16, std=0.1, generator=torch.Generator().manual_seed(1))()
    b = FourierImage(1, 16, 16, std=0.1, generator=torch.Generator().manual_seed(2))()
    c = FourierImage(1, 16, 16, std=0.1, generator=torch.Generator().manual_seed(1))()
    assert not torch.allclose(a, b)
    assert torch.equal(a, c)


def test_fourier_start_is_smoother_than_pixel_noise():
    gen = torch.Generator().manual_seed(0)
    fourier = FourierImage(4, 64, 64, std=0.5, generator=gen)()
    pixels = PixelImage.noise(4, 64, 64, std=0.1, generator=gen)()
    assert high_frequency_ratio(fourier).mean() < 0.5 * high_frequency_ratio(pixels).mean()


def test_spectrum_scale_decreases_with_frequency():
    scale = spectrum_scale(32, 32)
    assert scale[0, 0] == scale.max()  # DC capped at max(H, W)
    assert scale[0, 0] == pytest.approx(32)
    assert scale[0, 1] > scale[0, 8] > scale[16, 16]


@pytest.mark.parametrize("kwargs", [{"batch": 0}, {"height": -1}, {"std": -1.0}])
def test_bad_arguments_are_refused(kwargs):
    args = {"batch": 1, "height": 8, "width": 8} | kwargs
    with pytest.raises(ValueError):
        FourierImage(**args)


def test_decorrelation_changes_colours_only():
    gen = torch.Generator().manual_seed(0)
    plain = FourierImage(1, 16, 16, std=1.0, decorrelate=False, generator=gen)
    mixed = FourierImage(1, 16, 16, std=1.0, decorrelate=True)
    mixed.spectrum.data.copy_(plain.spectrum.data)
    a, b = plain(), mixed()
    assert a.shape == b.shape and not torch.allclose(a, b)
    # mixing the channels of each pixel: a flat (DC-only) spectrum stays flat
    flat = FourierImage(1, 8, 8, std=0.0)
    flat.spectrum.data[0, :, 0, 0, 0] = torch.tensor([1.0, -1.0, 0.5])
    x = flat()
    assert torch.allclose(x, x[..., :1, :1].expand_as(x), atol=1e-6)
