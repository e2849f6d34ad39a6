"""lib.gram's losses pinned to values worked out by hand on tiny inputs: the Gram matrix under
each normalisation, the softmax smoothing, the entropy of the activations, the content and style
losses and the paper's style loss, and the two objectives built on them."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from torch import nn

from lib.gram import (
    NORMALIZATIONS,
    ContentLoss,
    StyleLoss,
    activation_entropy,
    content_loss,
    gram_matrix,
    paper_style_loss,
    smoothed,
    style_layer_loss,
)
from lib.objectives import read

# one image, two channels, 1×2 positions: F = [[1, 2], [3, 4]]
F = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
# F Fᵀ = [[1+4, 3+8], [3+8, 9+16]]
RAW = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]])


def test_the_normalisations_are_the_books_the_tutorials_and_the_papers():
    assert NORMALIZATIONS == ("hw", "chw", "none")


def test_gram_matrix_by_hand_under_each_normalisation():
    torch.testing.assert_close(gram_matrix(F, "none"), RAW)
    torch.testing.assert_close(gram_matrix(F), RAW / 2)  # default: / (H·W) = 2 positions
    torch.testing.assert_close(gram_matrix(F, "hw"), RAW / 2)
    torch.testing.assert_close(gram_matrix(F, "chw"), RAW / 4)  # / (C·H·W) = 4


def test_gram_matrix_sums_over_rows_and_columns_alike():
    # a 2×2 map of one channel, a second channel of ones: G_01 = Σ F_0k / 4 = (1+2+3+4) / 4
    image = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]]])
    expected = torch.tensor([[[30 / 4, 10 / 4], [10 / 4, 1.0]]])
    torch.testing.assert_close(gram_matrix(image), expected)
    # H = 1, W = 4 and H = 4, W = 1 hold the same values: the same Gram
    torch.testing.assert_close(gram_matrix(image.reshape(1, 2, 1, 4)), expected)
    torch.testing.assert_close(gram_matrix(image.reshape(1, 2, 4, 1)), expected)


def test_gram_matrix_keeps_the_images_of_a_batch_apart_and_computes_in_float32():
    batch = torch.cat([F, 2 * F]).double()
    gram = gram_matrix(batch, "none")
    assert gram.dtype == torch.float32
    torch.testing.assert_close(gram, torch.cat([RAW, 4 * RAW]))


def test_gram_matrix_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="gram_matrix's activations must be a batch"):
        gram_matrix(F[0])
    with pytest.raises(ValueError, match=r"Unknown normalization 'hwc'; use one of \('hw', "):
        gram_matrix(F, "hwc")


def test_smoothing_is_the_softmax_of_all_activations_times_their_number():
    x = torch.tensor([[[[0.0, math.log(3.0)]]]])  # one channel, two positions
    # softmax([0, log 3]) = [1/4, 3/4]; times C·H·W = 2
    torch.testing.assert_close(smoothed(x), torch.tensor([[[[0.5, 1.5]]]]))
    # at T = 2 the logits are halved: softmax([0, log √3]) = [1, √3] / (1 + √3)
    root = math.sqrt(3.0)
    half = torch.tensor([[[[2 / (1 + root), 2 * root / (1 + root)]]]])
    torch.testing.assert_close(smoothed(x, temperature=2.0), half)


def test_smoothing_spans_channels_but_not_images():
    x = torch.tensor([[[[0.0]], [[math.log(3.0)]]], [[[0.0]], [[0.0]]]]).double()
    out = smoothed(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[[[0.5]], [[1.5]]], [[[1.0]], [[1.0]]]]))


def test_smoothing_refuses_a_temperature_that_is_not_positive_and_a_bad_batch():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="The temperature must be positive; got"):
            smoothed(F, bad)
    with pytest.raises(ValueError, match="smoothed's activations must be a batch"):
        smoothed(F[0])


def test_entropy_by_hand():
    # p = [1/4, 1/4, 1/2, 0]: H = (1/4 + 1/4) log 4 + 1/2 log 2 = 1.5 log 2; / log 4 = 0.75
    x = torch.tensor([[[[1.0, 1.0], [2.0, 0.0]]]])
    torch.testing.assert_close(activation_entropy(x), torch.tensor([0.75]))
    # small activations (sum below 1) give the same distribution, the same entropy
    torch.testing.assert_close(activation_entropy(x / 1000), torch.tensor([0.75]))
    # equal activations: 1; one peak: 0; all zero: 0 (not NaN); one value per image
    flat = torch.stack([torch.full((1, 2, 2), 0.3), torch.tensor([[[0.0, 0.0], [0.0, 5.0]]])])
    torch.testing.assert_close(activation_entropy(flat), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(activation_entropy(torch.zeros(1, 1, 2, 2)), torch.tensor([0.0]))


def test_entropy_computes_in_float32_and_refuses_negative_activations():
    x = torch.tensor([[[[1.0, 3.0]]]], dtype=torch.float64)
    out = activation_entropy(x)
    p = torch.tensor([0.25, 0.75])
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (-(p * p.log()).sum() / math.log(2)).reshape(1))
    with pytest.raises(ValueError, match="they must be non-negative"):
        activation_entropy(torch.tensor([[[[1.0, -1e-6]]]]))
    with pytest.raises(ValueError, match="activation_entropy's activations must be a batch"):
        activation_entropy(x[0])


def test_content_loss_is_the_mean_squared_difference_per_image():
    target = torch.zeros(1, 2, 1, 2)
    both = torch.cat([F, torch.ones_like(F)])
    # (1 + 4 + 9 + 16) / 4 = 7.5, and 1
    torch.testing.assert_close(content_loss(both, target), torch.tensor([7.5, 1.0]))
    # integer activations are compared as floats
    out = content_loss(torch.tensor([[[[3, 1]]]]), torch.tensor([[[[1, 1]]]]))
    torch.testing.assert_close(out, torch.tensor([2.0]))


def test_content_loss_refuses_activations_of_another_shape():
    with pytest.raises(ValueError, match=r"of shape \(1, 2, 1, 2\) cannot be compared with a "):
        content_loss(F, torch.zeros(1, 3, 1, 2))  # another number of channels
    with pytest.raises(ValueError, match=r"target of shape \(1, 2, 2, 1\): compute the target"):
        content_loss(F, torch.zeros(1, 2, 2, 1))


def test_style_layer_loss_is_the_mean_squared_gram_difference():
    # G = RAW / 2 = [[2.5, 5.5], [5.5, 12.5]]; against zero: (6.25 + 2·30.25 + 156.25) / 4
    expected = (2.5**2 + 2 * 5.5**2 + 12.5**2) / 4
    zero = torch.zeros(1, 2, 2)
    torch.testing.assert_close(style_layer_loss(F, zero), torch.tensor([expected]))
    torch.testing.assert_close(style_layer_loss(F, RAW / 2), torch.tensor([0.0]))
    both = torch.cat([F, torch.zeros_like(F)])
    torch.testing.assert_close(style_layer_loss(both, RAW / 2), torch.tensor([0.0, expected]))


def test_style_layer_loss_refuses_a_target_from_another_layer():
    with pytest.raises(ValueError, match=r"size \(2, 2\) cannot be compared with a target of "):
        style_layer_loss(F, torch.zeros(1, 3, 3))
    with pytest.raises(ValueError, match=r"size \(2, 3\): the target comes from another layer"):
        style_layer_loss(F, torch.zeros(1, 2, 3))


def test_paper_style_loss_by_hand():
    # raw Gram difference against zero activations: RAW; Σ RAW² / (4 · 2² · 2²)
    expected = (25 + 2 * 121 + 625) / (4 * 4 * 4)
    zero = torch.zeros_like(F)
    torch.testing.assert_close(paper_style_loss(F, zero), torch.tensor(expected))
    # a 2×2 map of one channel against zero: G = 30, N = 1, M = 4: 900 / (4 · 1 · 16)
    one = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    torch.testing.assert_close(paper_style_loss(one, 0 * one), torch.tensor(900 / 64))
    # the book's loss (Grams / M) is 4 times the paper's
    book = style_layer_loss(one, gram_matrix(0 * one))
    torch.testing.assert_close(book, 4 * paper_style_loss(one, 0 * one).reshape(1))


def _doubler() -> nn.Sequential:
    """``a`` is the image; ``b`` is twice it (1×1 convolutions, no bias)."""
    a, b = nn.Conv2d(2, 2, 1, bias=False), nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        a.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
        b.weight.copy_(2 * torch.eye(2).reshape(2, 2, 1, 1))
    return nn.Sequential(OrderedDict(a=a, b=b)).eval()


def test_content_loss_objective_compares_the_layer_with_the_contents():
    model = _doubler()
    term = ContentLoss(model, F, "b")
    assert term.name == "content" and term.layer == "b" and term.layers == ("b",)
    assert term.smooth is None
    torch.testing.assert_close(term.target, 2 * F)  # layer b of the content
    image = torch.zeros_like(F)
    features = read(model, "b", image)
    # (2 F)² averaged: 4 · 7.5
    torch.testing.assert_close(term.compute(image, features), torch.tensor([30.0]))


def test_smoothed_content_loss_compares_smoothed_activations():
    model = _doubler()
    term = ContentLoss(model, F, "a", smooth=2.0)
    assert term.smooth == 2.0
    torch.testing.assert_close(term.target, smoothed(F, 2.0))
    image = torch.zeros_like(F)  # smoothed: all ones
    expected = (smoothed(F, 2.0) - 1).pow(2).mean().reshape(1)
    torch.testing.assert_close(term.compute(image, read(model, "a", image)), expected)


def test_style_loss_targets_and_default_layer_weights():
    model = _doubler()
    term = StyleLoss(model, F, ["a", "b"])
    assert term.name == "style" and term.layers == ("a", "b") and term.smooth is None
    assert term.layer_weights == [0.5, 0.5]
    torch.testing.assert_close(term.targets["a"], RAW / 2)
    torch.testing.assert_close(term.targets["b"], 4 * RAW / 2)
    image = torch.zeros_like(F)
    features = read(model, ["a", "b"], image)
    per_layer = (2.5**2 + 2 * 5.5**2 + 12.5**2) / 4  # layer a; layer b: 16 times
    expected = 0.5 * per_layer + 0.5 * 16 * per_layer
    torch.testing.assert_close(term.compute(image, features), torch.tensor([expected]))


def test_style_loss_of_one_layer_named_as_a_string_with_its_weight():
    model = _doubler()
    term = StyleLoss(model, [F], "a", layer_weights=[3.0])
    assert term.layers == ("a",) and term.layer_weights == [3.0]
    image = torch.zeros_like(F)
    per_layer = (2.5**2 + 2 * 5.5**2 + 12.5**2) / 4
    torch.testing.assert_close(
        term.compute(image, read(model, "a", image)), torch.tensor([3 * per_layer])
    )


def test_style_loss_blends_the_targets_of_several_styles():
    model = _doubler()
    term = StyleLoss(model, [F, 0 * F], ["a"], blend=[1.0, 3.0])
    torch.testing.assert_close(term.targets["a"], RAW / 2 / 4)  # weights normalised: 1/4, 3/4
    even = StyleLoss(model, [F, 0 * F], ["a"])  # no blend: equal weights
    torch.testing.assert_close(even.targets["a"], RAW / 2 / 2)


def test_smoothed_style_loss_compares_grams_of_smoothed_activations():
    model = _doubler()
    term = StyleLoss(model, F, ["a"], smooth=0.5)
    assert term.smooth == 0.5
    torch.testing.assert_close(term.targets["a"], gram_matrix(smoothed(F, 0.5)))
    image = torch.zeros_like(F)
    expected = style_layer_loss(smoothed(image, 0.5), gram_matrix(smoothed(F, 0.5)))
    torch.testing.assert_close(term.compute(image, read(model, "a", image)), expected)


def test_style_loss_refuses_missing_styles_layers_and_mismatched_weights():
    model = _doubler()
    with pytest.raises(ValueError, match="needs at least one style image and one style layer"):
        StyleLoss(model, [], ["a"])
    with pytest.raises(ValueError, match="needs at least one style image and one style layer"):
        StyleLoss(model, F, [])
    with pytest.raises(ValueError, match="2 style layers but 1 layer weights"):
        StyleLoss(model, F, ["a", "b"], layer_weights=[1.0])


def test_the_messages_in_full():
    with pytest.raises(
        ValueError,
        match=r"^activation_entropy reads activations as a distribution: they must be "
        r"non-negative \(a rectified layer, or smoothed ones\).$",
    ):
        activation_entropy(-F)
    with pytest.raises(ValueError, match="on an image of the same size as the one optimised.$"):
        content_loss(F, torch.zeros(1, 3, 1, 2))
    with pytest.raises(
        ValueError, match="^A style loss needs at least one style image and one style layer.$"
    ):
        StyleLoss(_doubler(), [], ["a"])


def test_paper_style_loss_subtracts_the_styles_raw_gram():
    style = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # raw Gram: the identity
    diff = RAW - torch.eye(2)
    expected = diff.pow(2).sum() / (4 * 2**2 * 2**2)
    torch.testing.assert_close(paper_style_loss(F, style), expected)


def test_a_style_layer_named_by_a_string_of_several_letters():
    conv = nn.Conv2d(2, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.eye(2).reshape(2, 2, 1, 1))
    model = nn.Sequential(OrderedDict(first=conv)).eval()
    term = StyleLoss(model, F, "first")
    assert term.layers == ("first",) and list(term.targets) == ["first"]
