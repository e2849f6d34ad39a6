"""FourierImage: shapes, range, gradients, and the smoothness that motivates it."""

import re

import numpy as np
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


# --------------------------------------------------------------------------------------------
# Values pinned: the colour matrix, the spectrum's scale, the image a spectrum gives (against
# NumPy's inverse FFT), the starts drawn from a seeded generator


def test_pixel_image_start_is_grey_plus_seeded_noise_clamped():
    image = PixelImage.noise(2, 5, 6, generator=torch.Generator().manual_seed(4))
    noise = torch.randn(2, 3, 5, 6, generator=torch.Generator().manual_seed(4))
    assert torch.equal(image(), (0.5 + 0.05 * noise).clamp(0, 1))  # std 0.05 by default
    loud = PixelImage.noise(1, 8, 8, std=10.0, generator=torch.Generator().manual_seed(0))
    assert loud().min().item() == 0.0 and loud().max().item() == 1.0  # clamped into [0, 1]
    start = torch.tensor([[[[-1.0, 0.25]], [[2.0, 1.0]], [[0.5, 0.0]]]], dtype=torch.float64)
    image = PixelImage(start)
    assert image().dtype == torch.float32 and image().is_contiguous()
    assert image().tolist() == [[[[0.0, 0.25]], [[1.0, 1.0]], [[0.5, 0.0]]]]
    assert image.pixels.requires_grad and start.tolist()[0][0][0][0] == -1.0  # a copy
    with torch.no_grad():
        image.pixels.add_(torch.tensor(0.9))
    image.project()
    assert image().max().item() == 1.0 and image().min().item() == pytest.approx(0.9)


def test_the_colour_matrix_and_the_gain_are_those_of_the_literature():
    from lib import parametrization

    sqrt_cov = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]]
    assert np.allclose(parametrization._COLOUR_SQRT_COV.numpy(), sqrt_cov)
    largest_column = max(sum(row[j] ** 2 for row in sqrt_cov) ** 0.5 for j in range(3))
    assert np.allclose(parametrization._COLOUR_MIX.numpy(), np.array(sqrt_cov) / largest_column)
    assert parametrization._FFT_GAIN == 0.25


def test_spectrum_scale_is_one_over_frequency_capped_at_the_longest_side():
    fy = np.fft.fftfreq(6)[:, None]
    fx = np.fft.rfftfreq(10)[None, :]
    frequency = np.maximum(np.sqrt(fy**2 + fx**2), 1 / 10)
    assert spectrum_scale(6, 10).shape == (6, 6)
    assert np.allclose(spectrum_scale(6, 10).numpy(), 1 / frequency)
    assert np.allclose(spectrum_scale(6, 10, decay=2.0).numpy(), frequency**-2.0)
    assert np.allclose(spectrum_scale(10, 6, decay=0.5).numpy(), spectrum_scale(10, 6) ** 0.5)
    assert spectrum_scale(10, 6)[0, 0] == pytest.approx(10)  # the longer side caps the DC term


@pytest.mark.parametrize("decorrelate", [True, False])
def test_fourier_image_is_the_sigmoid_of_the_inverse_fft_against_numpy(decorrelate):
    from lib import parametrization

    image = FourierImage(
        2, 6, 7, std=0.8, decay=1.5, decorrelate=decorrelate, generator=torch.Generator()
    )
    spectrum = image.spectrum.detach().double().numpy()
    coefficients = (spectrum[..., 0] + 1j * spectrum[..., 1]) * spectrum_scale(6, 7, 1.5).numpy()
    signal = np.fft.irfft2(coefficients, s=(6, 7), norm="ortho") * 0.25
    if decorrelate:
        signal = np.einsum("ij,bjhw->bihw", parametrization._COLOUR_MIX.double().numpy(), signal)
    expected = 1 / (1 + np.exp(-signal))
    assert np.allclose(image().detach().numpy(), expected, atol=1e-6)


def test_fourier_image_start_is_seeded_noise_of_the_given_std():
    image = FourierImage(2, 5, 8, generator=torch.Generator().manual_seed(3))
    assert image.spectrum.shape == (2, 3, 5, 5, 2)  # real and imaginary parts of rfft2
    noise = torch.randn(2, 3, 5, 5, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(image.spectrum.detach(), 0.01 * noise)  # std 0.01 by default
    assert image.decorrelate is True and torch.equal(image.scale, spectrum_scale(5, 8))
    same = FourierImage.noise(2, 5, 8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(same(), image())
    options = FourierImage.noise(1, 5, 8, std=0.2, decay=2.0, decorrelate=False)
    assert options.decorrelate is False and torch.equal(options.scale, spectrum_scale(5, 8, 2.0))
    assert options.spectrum.std().item() == pytest.approx(0.2, rel=0.5)
    zero = FourierImage(1, 4, 4, std=0.0, decay=0.0)  # both may be zero
    assert torch.equal(zero(), torch.full((1, 3, 4, 4), 0.5))  # sigmoid(0): mid grey


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch": 0}, "batch must be a positive integer; got 0."),
        ({"height": 2.0}, "height must be a positive integer; got 2.0."),
        ({"width": 0}, "width must be a positive integer; got 0."),
        ({"std": -1.0}, "std and decay must be non-negative; got std=-1.0, decay=1.0."),
        ({"decay": -0.5}, "std and decay must be non-negative; got std=0.01, decay=-0.5."),
    ],
)
def test_bad_arguments_are_named_exactly(kwargs, message):
    args = {"batch": 1, "height": 8, "width": 8} | kwargs
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        FourierImage(**args)
    assert FourierImage(1, 1, 1)().shape == (1, 3, 1, 1)  # one pixel is a valid image


def test_images_are_built_on_the_device_asked_for():
    # the meta device stands in for a GPU: nothing is computed, only placed
    fourier = FourierImage(1, 4, 6, device="meta")
    assert {t.device.type for t in (fourier.spectrum, fourier.scale, fourier.colour)} == {"meta"}
    assert FourierImage.noise(1, 4, 6, device="meta").spectrum.device.type == "meta"
    assert PixelImage.noise(1, 4, 6, device="meta").pixels.device.type == "meta"
    on_cpu = FourierImage(1, 4, 6)
    assert {t.device.type for t in (on_cpu.spectrum, on_cpu.scale, on_cpu.colour)} == {"cpu"}
    assert PixelImage.noise(1, 4, 6).pixels.device.type == "cpu"


def test_pixel_image_validates_its_start_by_name():
    message = "init must be a batch of shape (B, 3, H, W); got (3, 8, 8)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PixelImage(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=re.escape("got (1, 1, 8, 8)")):
        PixelImage(torch.rand(1, 1, 8, 8))
