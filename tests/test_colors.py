"""lib.colors against references: the YIQ conversions against scikit-image's, the colour
statistics against numpy's, the colour transfer and the blends against values worked out by
hand on images whose channels are uncorrelated."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2yiq, yiq2rgb

from lib.colors import (
    _colour_stats,
    _sqrtm,
    match_colors,
    preserve_colors,
    rgb_to_yiq,
    weighted_mean,
    yiq_to_rgb,
)
from lib.images import resize_to

# scikit-image writes the NTSC matrix with other roundings of the same coefficients
YIQ_ATOL = 2e-3


def _random(*shape, seed=0, dtype=torch.float32):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _to_hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).double().numpy()


def test_rgb_to_yiq_is_scikit_images_conversion():
    images = _random(2, 3, 3, 5)
    expected = torch.from_numpy(rgb2yiq(_to_hwc(images))).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(rgb_to_yiq(images), expected, atol=YIQ_ATOL, rtol=0)
    # white is luminance 1 without chrominance
    white = rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten()
    torch.testing.assert_close(white, torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)


def test_yiq_to_rgb_is_scikit_images_inverse_conversion_and_keeps_the_dtype():
    yiq = torch.tensor(rgb2yiq(_to_hwc(_random(1, 3, 4, 2, seed=1)))).permute(0, 3, 1, 2)
    out = yiq_to_rgb(yiq)  # float64 in, float64 out
    assert out.dtype == torch.float64
    expected = torch.from_numpy(yiq2rgb(_to_hwc(yiq))).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, expected, atol=YIQ_ATOL, rtol=0)
    images = _random(2, 3, 2, 3, seed=2, dtype=torch.float64)
    assert rgb_to_yiq(images).dtype == torch.float64
    torch.testing.assert_close(yiq_to_rgb(rgb_to_yiq(images)), images)


def test_weighted_mean_normalises_the_weights():
    values = [torch.tensor([1.0, 0.0]), torch.tensor([0.0, 4.0])]
    torch.testing.assert_close(weighted_mean(values, [1.0, 3.0]), torch.tensor([0.25, 3.0]))
    torch.testing.assert_close(weighted_mean(values, [2, 0]), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(weighted_mean(values[:1], [0.5]), torch.tensor([1.0, 0.0]))


def test_weighted_mean_refuses_bad_weights():
    values = [torch.ones(2), torch.zeros(2)]
    with pytest.raises(ValueError, match="2 styles but 1 blend weights"):
        weighted_mean(values, [1.0])
    with pytest.raises(ValueError, match=r"non-negative with a positive sum; got \[1.0, -0.5\]"):
        weighted_mean(values, [1.0, -0.5])
    with pytest.raises(ValueError, match="non-negative with a positive sum"):
        weighted_mean(values, [0.0, 0.0])


def test_colour_statistics_are_numpys_mean_and_population_covariance():
    images = _random(2, 3, 3, 4, seed=3)
    mean, cov = _colour_stats(images)
    pixels = images.permute(1, 0, 2, 3).reshape(3, -1).double().numpy()  # both images pooled
    assert mean.shape == (3, 1) and cov.shape == (3, 3)
    torch.testing.assert_close(mean.double(), torch.from_numpy(pixels.mean(1, keepdims=True)))
    torch.testing.assert_close(cov.double(), torch.from_numpy(np.cov(pixels, bias=True)))


def test_the_matrix_square_root_and_its_inverse():
    cov = torch.tensor([[4.0, 1.0], [1.0, 3.0]])
    root = _sqrtm(cov)
    torch.testing.assert_close(root @ root, cov, atol=1e-4, rtol=0)
    torch.testing.assert_close(root, root.T)  # the symmetric root
    inverse = _sqrtm(cov, inverse=True)
    torch.testing.assert_close(inverse @ root, torch.eye(2), atol=1e-4, rtol=0)
    # eps keeps a singular covariance invertible: 1 / sqrt(eps) at most
    flat = _sqrtm(torch.zeros(2, 2), inverse=True)
    torch.testing.assert_close(flat, torch.eye(2) / 1e-5**0.5, rtol=1e-3, atol=0)
    # eigenvalues below eps are raised to eps: sqrt(9 + eps) and sqrt(eps)
    root = _sqrtm(torch.diag(torch.tensor([9.0, -1.0])))
    torch.testing.assert_close(root, torch.diag(torch.tensor([3.0, 1e-5**0.5])), rtol=1e-4, atol=0)


# four pixels whose three channels are centred patterns orthogonal to one another
PATTERN = torch.tensor(
    [[-0.5, 0.5, -0.5, 0.5], [-0.5, -0.5, 0.5, 0.5], [-0.5, 0.5, 0.5, -0.5]]
).reshape(1, 3, 2, 2)


def test_match_colors_scales_each_uncorrelated_channel_by_hand():
    image = 0.5 + 0.8 * PATTERN  # mean 0.5, variance 0.16 per channel, no correlation
    colour = torch.tensor([0.2, 0.5, 0.7]).reshape(1, 3, 1, 1)
    style = colour + torch.tensor([0.1, 0.2, 0.05]).reshape(1, 3, 1, 1) * PATTERN
    # x' = σ_s / σ_x (x - μ_x) + μ_s, per channel: the style's own pixels again
    out = match_colors(image, style)
    torch.testing.assert_close(out, style, atol=1e-3, rtol=0)
    # a style of another size and pixel order: only its statistics count
    bigger = torch.cat([style, style.flip(-1)], dim=-1)
    torch.testing.assert_close(match_colors(image, bigger), style, atol=1e-3, rtol=0)


def test_match_colors_gives_the_reference_statistics_and_keeps_the_shape():
    image = 0.3 + 0.4 * _random(2, 3, 4, 6, seed=4)
    style = 0.5 + 0.1 * (_random(1, 3, 5, 3, seed=5) - 0.5) @ torch.ones(3, 3) / 3
    style = style + 0.05 * _random(1, 3, 5, 3, seed=6)
    out = match_colors(image, style)
    assert out.shape == image.shape and 0 <= out.min() and out.max() <= 1
    mean, cov = _colour_stats(out)
    want_mean, want_cov = _colour_stats(style)
    torch.testing.assert_close(mean, want_mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(cov, want_cov, atol=2e-4, rtol=0)
    # the transform is affine per pixel: the images of the batch are recoloured alike
    assert not torch.allclose(out[0], out[1])


def test_match_colors_clamps_to_pixels():
    image = 0.5 + 0.8 * PATTERN
    style = torch.tensor([0.95, 0.05, 0.5]).reshape(1, 3, 1, 1) + 0.4 * PATTERN
    out = match_colors(image, style)
    torch.testing.assert_close(out, style.clamp(0, 1), atol=2e-3, rtol=0)
    assert out.max() == 1 and out.min() == 0


def test_a_blend_of_references_is_their_pooled_pixels():
    image = 0.2 + 0.6 * _random(1, 3, 4, 4, seed=7)
    first = 0.4 + 0.2 * _random(1, 3, 4, 4, seed=8)
    second = torch.tensor([0.3, 0.6, 0.5]).reshape(1, 3, 1, 1) + 0.1 * _random(1, 3, 4, 4, seed=9)
    pooled = match_colors(image, torch.cat([first, second]))
    torch.testing.assert_close(match_colors(image, [first, second]), pooled, atol=1e-4, rtol=0)
    weighted = match_colors(image, torch.cat([first, second, second, second]))
    out = match_colors(image, [first, second], blend=[1.0, 3.0])
    torch.testing.assert_close(out, weighted, atol=1e-4, rtol=0)


def test_match_colors_refuses_no_reference_and_images_that_are_not_rgb():
    image = _random(1, 3, 2, 2)
    with pytest.raises(ValueError, match="match_colors needs at least one reference image"):
        match_colors(image, [])
    with pytest.raises(ValueError, match=r"match_colors' images must be a batch of shape \(B, 3"):
        match_colors(image, _random(1, 1, 2, 2))
    with pytest.raises(ValueError, match="match_colors' images must be a batch"):
        match_colors(image[0], image)


def test_preserve_colors_takes_the_stylised_luminance_and_the_contents_chrominance():
    content = 0.2 + 0.6 * _random(1, 3, 3, 4, seed=10)
    stylized = 0.2 + 0.6 * _random(1, 3, 3, 4, seed=11)
    yiq = np.concatenate(
        [rgb2yiq(_to_hwc(stylized))[..., :1], rgb2yiq(_to_hwc(content))[..., 1:]], axis=-1
    )
    expected = torch.from_numpy(np.clip(yiq2rgb(yiq), 0, 1)).permute(0, 3, 1, 2).float()
    out = preserve_colors(content, stylized)
    torch.testing.assert_close(out, expected, atol=YIQ_ATOL, rtol=0)
    # the luminance is the stylised image's, the chrominance the content's
    torch.testing.assert_close(rgb_to_yiq(out)[:, 0], rgb_to_yiq(stylized)[:, 0])
    torch.testing.assert_close(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:])


def test_preserve_colors_resizes_the_content_and_clamps():
    content = _random(1, 3, 6, 8, seed=12)
    stylized = _random(1, 3, 3, 4, seed=13)
    out = preserve_colors(content, stylized)
    assert out.shape == (1, 3, 3, 4)
    torch.testing.assert_close(out, preserve_colors(resize_to(content, (3, 4)), stylized))
    # white luminance with a saturated red's chrominance leaves [0, 1]: clamped
    red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
    out = preserve_colors(red, torch.ones(1, 3, 1, 1)).flatten()
    yiq = np.array([1.0, *rgb2yiq(np.array([1.0, 0.0, 0.0]))[1:]])
    expected = torch.from_numpy(np.clip(yiq2rgb(yiq), 0, 1)).float()
    assert expected[0] == 1 and expected[1:].max() < 1  # red alone overflows
    torch.testing.assert_close(out, expected, atol=YIQ_ATOL, rtol=0)


def test_preserve_colors_refuses_images_that_are_not_rgb():
    rgb = _random(1, 3, 2, 2)
    with pytest.raises(ValueError, match=r"content must be a batch of shape \(B, 3, H, W\)"):
        preserve_colors(rgb[:, :1], rgb)
    with pytest.raises(ValueError, match=r"stylized must be a batch of shape \(B, 3, H, W\)"):
        preserve_colors(rgb, rgb[:, :2])


def test_the_square_root_adds_eps_before_the_eigenvalues():
    cov = torch.diag(torch.tensor([9.0, 4.0], dtype=torch.float64))
    expected = torch.diag(torch.tensor([9 + 1e-5, 4 + 1e-5], dtype=torch.float64).sqrt())
    torch.testing.assert_close(_sqrtm(cov), expected, rtol=1e-9, atol=0)


def test_black_with_a_saturated_chrominance_is_clamped_at_zero():
    red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
    out = preserve_colors(red, torch.zeros(1, 3, 1, 1)).flatten()
    yiq = np.array([0.0, *rgb2yiq(np.array([1.0, 0.0, 0.0]))[1:]])
    expected = torch.from_numpy(np.clip(yiq2rgb(yiq), 0, 1)).float()
    assert expected[0] > 0 and (expected[1:] == 0).all()  # red's chrominance alone dips below 0
    torch.testing.assert_close(out, expected, atol=YIQ_ATOL, rtol=0)


def test_match_colors_message_in_full():
    with pytest.raises(ValueError, match="^match_colors needs at least one reference image.$"):
        match_colors(_random(1, 3, 2, 2), [])
