"""Tests for lib.digits: the split, the classifier, the out-of-distribution controls."""

import pytest
import torch

from lib.digits import (
    accuracy,
    digit_cnn,
    letters,
    load_digits,
    nearest_distance,
    quantize,
    render_glyph,
    shuffled_pixels,
    train_classifier,
    uniform_noise,
)


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def test_split_is_fixed_stratified_and_on_17_levels(digits):
    again = load_digits()
    assert torch.equal(digits.x_test, again.x_test)
    assert digits.x_train.shape[1:] == (1, 8, 8)
    assert len(digits.x_train) + len(digits.x_test) == 1797
    assert set(digits.y_test.tolist()) == set(range(10))
    values = torch.cat([digits.x_train, digits.x_test]) * 16
    assert torch.equal(values, values.round()) and values.min() == 0 and values.max() == 16


def test_bad_test_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.5)


def test_cnn_learns_the_digits_quickly(digits):
    model = digit_cnn(width=8)
    before = accuracy(model, digits.x_test, digits.y_test)
    losses = train_classifier(model, digits.x_train, digits.y_train, epochs=4, seed=0)
    assert losses[-1] < losses[0]
    after = accuracy(model, digits.x_test, digits.y_test)
    assert after > 0.9 > before
    assert not any(p.requires_grad for p in model.parameters()) and not model.training


def test_training_is_seeded(digits):
    x, y = digits.x_train[:200], digits.y_train[:200]
    a, b = digit_cnn(width=4), digit_cnn(width=4)
    b.load_state_dict(a.state_dict())
    assert train_classifier(a, x, y, epochs=1, seed=3) == train_classifier(
        b, x, y, epochs=1, seed=3
    )


def test_a_seeded_cnn_is_the_same_untrained_control_whatever_ran_before():
    from lib.networks import layer_names, title

    torch.manual_seed(1)
    a = digit_cnn(seed=5)
    torch.rand(10)  # whatever ran in between
    b = digit_cnn(seed=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    state = torch.random.get_rng_state()
    digit_cnn(seed=5)
    assert torch.equal(state, torch.random.get_rng_state())  # the global generator is untouched
    assert not all(
        torch.equal(p, q) for p, q in zip(a.parameters(), digit_cnn().parameters(), strict=True)
    )
    assert title(a) == "digit CNN" and layer_names(a)[0] == "conv1"


def test_training_rejects_bad_input(digits):
    with pytest.raises(ValueError, match="10 inputs but 5 targets"):
        train_classifier(digit_cnn(), digits.x_train[:10], digits.y_train[:5])
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(digit_cnn(), digits.x_train[:10], digits.y_train[:10], epochs=0)
    with pytest.raises(ValueError, match="empty"):
        train_classifier(digit_cnn(), digits.x_train[:0], digits.y_train[:0])


def test_shuffled_pixels_keep_each_histogram_but_not_the_layout(digits):
    x = digits.x_test[:50]
    s = shuffled_pixels(x, seed=1)
    assert torch.equal(x.flatten(1).sort(1).values, s.flatten(1).sort(1).values)
    assert not torch.equal(x, s)
    assert torch.equal(s, shuffled_pixels(x, seed=1))


def test_noise_and_quantize():
    n = uniform_noise(100, levels=17, seed=0)
    assert n.shape == (100, 1, 8, 8)
    assert torch.equal(n * 16, (n * 16).round()) and len((n * 16).unique()) == 17
    c = uniform_noise(5, levels=None)
    assert c.min() >= 0 and c.max() <= 1
    assert torch.equal(
        quantize(torch.tensor([0.0, 0.04, 0.5, 1.0])), torch.tensor([0, 0.0625, 0.5, 1])
    )
    with pytest.raises(ValueError, match="levels"):
        uniform_noise(3, levels=1)
    with pytest.raises(ValueError, match="positive"):
        uniform_noise(0)


def test_letters_look_like_digits_statistically(digits):
    x = letters("ABCXYZ")
    assert x.shape == (6, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x * 16, (x * 16).round())
    # ink comparable to the digits' (mean pixel about 0.3), and the letters differ from each other
    assert 0.15 < x.mean().item() < 0.5
    assert not torch.equal(x[0], x[3])
    assert render_glyph("I").sum() < render_glyph("M").sum()
    with pytest.raises(ValueError, match="one character"):
        render_glyph("AB")
    with pytest.raises(ValueError, match="draws nothing"):
        render_glyph(" ")


def test_nearest_distance_is_zero_on_the_reference_and_rms_otherwise(digits):
    reference = digits.x_train[:50]
    assert torch.allclose(nearest_distance(reference[:5], reference), torch.zeros(5), atol=1e-4)
    shifted = (reference[:3] + 0.1).clamp(max=1)
    brute = torch.stack([(s - reference).pow(2).flatten(1).mean(1).min().sqrt() for s in shifted])
    assert torch.allclose(nearest_distance(shifted, reference), brute, atol=1e-5)
    with pytest.raises(ValueError, match="pixels per image"):
        nearest_distance(reference[:, :, :4], reference)
