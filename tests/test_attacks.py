"""Tests for lib.attacks: the linearity argument behind FGSM, and adversarial training."""

import pytest
import torch
from conftest import grey_classifier
from torch import nn

from lib.attacks import (
    adversarial_loss,
    adversarial_training,
    epsilon_sweep,
    fgsm,
    linear_score_changes,
)
from lib.training import train


def bars(n=40, seed=0):
    """Three noisy bar patterns (vertical, horizontal, diagonal) on 6×6 grey images."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.zeros(3, 1, 6, 6)
    base[0, 0, :, 1] = 1
    base[1, 0, 2, :] = 1
    base[2, 0].fill_diagonal_(1)
    noise = torch.rand(3 * n, 1, 6, 6, generator=generator)
    x = (base.repeat(n, 1, 1, 1) * 0.8 + 0.2 * noise).clamp(0, 1)
    return x, torch.arange(3).repeat(n)


def test_sign_of_the_weights_moves_a_linear_score_by_eps_times_the_l1_norm():
    shapes = [(1, 8, 8), (3, 32, 32), (3, 224, 224)]
    result = linear_score_changes(shapes, eps=8 / 255)
    assert result.dimensions == [64, 3072, 150528]
    for change, bound, m, n in zip(
        result.sign_change, result.l1_bound, result.mean_abs_weight, result.dimensions, strict=True
    ):
        assert change == pytest.approx(bound, rel=1e-9)
        assert change == pytest.approx(8 / 255 * m * n, rel=1e-9)
    assert result.sign_change == sorted(result.sign_change)
    # grows like n, while random signs of the same size move the score only like √n
    assert result.sign_change[-1] / result.sign_change[0] > 1000
    assert result.random_change[-1] < result.sign_change[-1] / 50


def test_adversarial_loss_is_the_stated_mix_on_fgsm_examples_of_the_current_model():
    x, y = bars(10)
    model = grey_classifier()
    clean = nn.functional.cross_entropy(model(x), y)
    attacked = nn.functional.cross_entropy(model(fgsm(model, x, y, 0.1)), y)
    assert adversarial_loss(model, x, y, 0.1, alpha=1).item() == pytest.approx(clean.item())
    assert adversarial_loss(model, x, y, 0.1, alpha=0).item() == pytest.approx(attacked.item())
    mixed = adversarial_loss(model, x, y, 0.1, alpha=0.3).item()
    assert mixed == pytest.approx(0.3 * clean.item() + 0.7 * attacked.item())
    assert attacked > clean  # the FGSM images are harder, so the mix is not the clean loss
    with pytest.raises(ValueError, match="alpha"):
        adversarial_loss(model, x, y, 0.1, alpha=1.5)


def test_adversarial_training_raises_the_accuracy_under_fgsm():
    x, y = bars(40)
    x_test, y_test = bars(40, seed=1)
    eps = 0.3
    plain, robust = grey_classifier(), grey_classifier()
    train(plain, x, y, nn.functional.cross_entropy, epochs=25, lr=1e-2, batch_size=30)
    history = adversarial_training(robust, x, y, eps, epochs=25, lr=1e-2, batch_size=30)
    assert history[-1] < history[0]
    assert not any(p.requires_grad for p in robust.parameters()) and not robust.training
    before = epsilon_sweep(plain, x_test, y_test, [0, eps]).accuracy
    after = epsilon_sweep(robust, x_test, y_test, [0, eps]).accuracy
    assert before[0] == after[0] == 1.0
    assert after[1] > before[1] + 0.2, (before, after)


def test_training_takes_a_loss_on_the_outputs_or_an_objective_not_both():
    x, y = bars(5)
    model = grey_classifier()
    with pytest.raises(ValueError, match="either loss_fn"):
        train(model, x, y, None, epochs=1, lr=1e-2)
    with pytest.raises(ValueError, match="either loss_fn"):
        train(
            model,
            x,
            y,
            nn.functional.cross_entropy,
            epochs=1,
            lr=1e-2,
            objective=lambda m, a, b: m(a).sum(),
        )
