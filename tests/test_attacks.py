"""Tests for lib.attacks: the linearity argument behind FGSM, and adversarial training."""

import pytest
import torch
from conftest import grey_classifier
from torch import nn

from lib.attacks import (
    adversarial_loss,
    adversarial_training,
    attack,
    epsilon_sweep,
    fgsm,
    linear_score_changes,
    magnify,
    pgd,
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


# --- the attacks worked out by hand on a linear classifier ----------------------------------

# two classes on 1×2×2 images: logits W·x; the gradient of the cross-entropy of class y is
# p_other · (W_other − W_y), so its sign is sign(W_other − W_y) whatever the image
W = torch.tensor([[1.0, -2.0, 0.5, 0.0], [-1.0, 1.0, 1.5, 0.0]])


def linear():
    layer = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(W)
    return nn.Sequential(nn.Flatten(), layer).eval().requires_grad_(False)


def away(label: int) -> torch.Tensor:
    """The sign of the loss gradient for ``label``: the direction FGSM takes."""
    return (W[1 - label] - W[label]).sign().view(1, 1, 2, 2)


X = torch.tensor([[[[0.5, 0.5], [0.5, 0.98]]], [[[0.1, 0.9], [0.02, 0.5]]]])


def test_fgsm_steps_eps_along_the_sign_of_the_gradient_and_clamps():
    labels = torch.tensor([0, 1])
    out = fgsm(linear(), X, labels, 0.1)
    expected = torch.cat([X[:1] + 0.1 * away(0), X[1:] + 0.1 * away(1)]).clamp(0, 1)
    torch.testing.assert_close(out, expected)
    assert not out.requires_grad
    # one label for the whole batch
    torch.testing.assert_close(fgsm(linear(), X, 0, 0.1), (X + 0.1 * away(0)).clamp(0, 1))
    torch.testing.assert_close(fgsm(linear(), X, labels, 0), X)


def test_pgd_without_a_random_start_moves_alpha_per_step_within_the_ball():
    model, labels = linear(), torch.tensor([0, 1])
    direction = torch.cat([away(0), away(1)])
    two = pgd(model, X, labels, 0.3, steps=2, alpha=0.1, random_start=False)
    torch.testing.assert_close(two, (X + 0.2 * direction).clamp(0, 1))
    # ten steps by default; the ball of radius ε stops the walk
    ten = pgd(model, X, labels, 0.5, alpha=0.01, random_start=False)
    torch.testing.assert_close(ten, (X + 0.1 * direction).clamp(0, 1))
    far = pgd(model, X, labels, 0.05, steps=3, alpha=0.1, random_start=False)
    torch.testing.assert_close(far, (X + 0.05 * direction).clamp(0, 1))
    assert not far.requires_grad


class Bowl(nn.Module):
    """Class 0's logit is (x − 0.5)² summed: its loss is largest at 0.5, so the attack walks
    towards 0.5 and then back and forth across it, a step of α each time."""

    def forward(self, x):
        score = (x - 0.5).pow(2).flatten(1).sum(1)
        return torch.stack([score, torch.zeros_like(score)], dim=1)


def test_pgds_default_step_is_two_and_a_half_eps_over_the_steps():
    x = torch.full((1, 1, 2, 2), 0.49)
    # α = 2.5 · 0.2 / 3: up to 0.49 + α, down to 0.49, up again
    out = pgd(Bowl(), x, 0, 0.2, steps=3, random_start=False)
    torch.testing.assert_close(out, torch.full_like(x, 0.49 + 0.5 / 3))


def test_pgds_random_start_is_uniform_in_the_ball_and_seeded():
    x = torch.full((1, 1, 2, 2), 0.5)
    # a classifier without gradient: only the start moves the image
    flat = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).requires_grad_(False)
    with torch.no_grad():
        flat[1].weight.zero_()
    out = pgd(flat, x, 0, 0.2, steps=1)
    noise = (torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1) * 0.2
    torch.testing.assert_close(out, x + noise)
    other = pgd(flat, x, 0, 0.2, steps=1, seed=3)
    noise = (torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * 0.2
    torch.testing.assert_close(other, x + noise)
    torch.testing.assert_close(pgd(flat, x, 0, 0.2, steps=1, random_start=False), x)
    torch.testing.assert_close(pgd(flat, x, 0, 0.0, steps=1), x)  # no ball, no start


def test_pgd_refuses_bad_steps_and_alpha():
    for bad in (0, 1.5, None):
        with pytest.raises(ValueError, match=f"^steps must be a positive integer; got {bad!r}.$"):
            pgd(linear(), X, 0, 0.1, steps=bad)
    with pytest.raises(ValueError, match="^alpha must be a finite number"):
        pgd(linear(), X, 0, 0.1, alpha=float("nan"))


def test_attack_runs_either_attack_in_batches_on_the_cpu():
    labels = torch.tensor([0, 1])
    whole = fgsm(linear(), X, labels, 0.1)
    torch.testing.assert_close(attack("fgsm", linear(), X, labels, 0.1, batch_size=1), whole)
    torch.testing.assert_close(attack("fgsm", linear(), X, [[0], [1]], 0.1), whole)
    stepped = attack(
        "pgd", linear(), X, labels, 0.3, batch_size=1, steps=2, alpha=0.1, random_start=False
    )
    torch.testing.assert_close(stepped, pgd(linear(), X, labels, 0.3, 2, 0.1, False))
    with pytest.raises(ValueError, match="^Unknown attack 'cw'; use one of fgsm, pgd.$"):
        attack("cw", linear(), X, labels, 0.1)
    with pytest.raises(ValueError, match="^2 images but 3 labels.$"):
        attack("fgsm", linear(), X, [0, 1, 1], 0.1)
    with pytest.raises(ValueError, match="images must be pixels"):
        attack("fgsm", linear(), X + 1, labels, 0.1)


def test_the_sweep_records_accuracy_and_confidences_at_each_eps():
    model = linear()
    labels = torch.tensor([0, 1])
    sweep = epsilon_sweep(model, X, labels, [0, 0.5])
    assert sweep.epsilons == [0.0, 0.5]
    clean = model(X).softmax(1)
    adv = model(fgsm(model, X, labels, 0.5)).softmax(1)
    for i, probs in enumerate((clean, adv)):
        right = (probs.argmax(1) == labels).float().mean().item()
        assert sweep.accuracy[i] == pytest.approx(right)
        assert sweep.true_confidence[i] == pytest.approx(probs[[0, 1], labels].mean().item())
        assert sweep.confidence[i] == pytest.approx(probs.max(1).values.mean().item())
    assert sweep.accuracy[1] < sweep.accuracy[0]  # the attack lowers it
    # without labels: the clean predictions; ε = 0 keeps every one
    own = epsilon_sweep(model, X, None, [0, 0.5], "pgd", steps=2, random_start=False)
    assert own.accuracy[0] == 1.0
    preds = clean.argmax(1)
    attacked = model(pgd(model, X, preds, 0.5, 2, random_start=False)).softmax(1)
    assert own.accuracy[1] == pytest.approx((attacked.argmax(1) == preds).float().mean().item())
    with pytest.raises(ValueError, match=r"^epsilons is empty: pass at least one ε, e.g. \[0, "):
        epsilon_sweep(model, X, labels, [])
    with pytest.raises(ValueError, match="must lie in"):
        epsilon_sweep(model, X, labels, [0.1, 2])


def test_magnify_maps_the_largest_change_of_each_image_to_0_or_1():
    delta = torch.tensor([[[[0.1, -0.05]]], [[[0.0, 0.02]]], [[[0.0, 0.0]]]])
    expected = torch.tensor([[[[1.0, 0.25]]], [[[0.5, 1.0]]], [[[0.5, 0.5]]]])
    torch.testing.assert_close(magnify(delta), expected)
    tiny = torch.tensor([[1e-13, -1e-13]])  # below 1e-12: not blown up
    torch.testing.assert_close(magnify(tiny), torch.tensor([[0.5 + 0.05, 0.5 - 0.05]]))


def test_linear_score_changes_by_hand_and_refusals():
    result = linear_score_changes([(2, 3)], 0.5, seed=4)
    g = torch.Generator().manual_seed(4)
    w = torch.randn(6, generator=g, dtype=torch.float64)
    torch.rand(6, generator=g, dtype=torch.float64)  # x: the draws in the order of the code
    signs = torch.randint(0, 2, (6,), generator=g, dtype=torch.float64) * 2 - 1
    assert result.dimensions == [6]
    assert result.sign_change == pytest.approx([0.5 * w.abs().sum().item()])
    assert result.l1_bound == pytest.approx([0.5 * w.abs().sum().item()])
    assert result.random_change == pytest.approx([abs(0.5 * (w * signs).sum().item())])
    assert result.mean_abs_weight == pytest.approx([w.abs().mean().item()])
    assert linear_score_changes([(6,)], 0.5).sign_change != result.sign_change  # seed 0
    with pytest.raises(ValueError, match=r"^shapes is empty: pass at least one input shape"):
        linear_score_changes([], 0.1)
    with pytest.raises(ValueError, match="must lie in"):
        linear_score_changes([(2,)], 3)


def test_adversarial_loss_by_hand_on_the_linear_classifier():
    model, labels = linear(), torch.tensor([0, 1])
    ce = nn.functional.cross_entropy
    clean = ce(model(X), labels)
    x_adv = (X + 0.2 * torch.cat([away(0), away(1)])).clamp(0, 1)
    expected = 0.5 * clean + 0.5 * ce(model(x_adv), labels)  # α = 0.5 by default
    torch.testing.assert_close(adversarial_loss(model, X, labels, 0.2), expected)
    torch.testing.assert_close(adversarial_loss(model, X, labels, 0.2, alpha=1.0), clean)
    adversarial_loss(model, X, labels, 0.2, alpha=0.0)
    for bad in (-0.1, 1.1):
        with pytest.raises(ValueError, match=f"^alpha must be between 0 and 1 .*got {bad!r}.$"):
            adversarial_loss(model, X, labels, 0.2, alpha=bad)


def test_pgd_clamps_every_step_to_pixels():
    x = torch.tensor([[[[0.5, 0.95], [0.5, 0.5]]]])  # pixel 1 moves up for label 0
    out = pgd(linear(), x, 0, 0.2, steps=1, alpha=0.2, random_start=False)
    torch.testing.assert_close(out, (x + 0.2 * away(0)).clamp(0, 1))
    assert out[0, 0, 0, 1] == 1.0


def test_linear_score_changes_default_to_seed_0():
    assert linear_score_changes([(6,)], 0.5) == linear_score_changes([(6,)], 0.5, seed=0)
    assert linear_score_changes([(6,)], 0.5) != linear_score_changes([(6,)], 0.5, seed=1)


def test_adversarial_training_passes_its_options_and_its_alpha():
    from lib.digits import train_classifier

    x, y = bars(2)
    history = adversarial_training(grey_classifier(), x, y, 0.1, epochs=2, batch_size=3)
    assert len(history) == 2
    # α = 1: the clean loss alone, the same training as the cross-entropy's
    clean = adversarial_training(grey_classifier(), x, y, 0.1, alpha=1.0, epochs=2, batch_size=3)
    plain = train_classifier(grey_classifier(), x, y, epochs=2, batch_size=3)
    assert clean == pytest.approx(plain)
    assert history != pytest.approx(plain)
