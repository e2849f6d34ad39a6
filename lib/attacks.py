"""Adversarial examples: small perturbations, in pixel units of [0, 1] images, that change a
classifier's answer (chapters 5 and 6).

Every function takes a *pixel classifier* (``lib.manifolds.pixel_classifier``), so every ε is
in pixel units (8/255 ≈ 0.031 is "8 grey levels") and every adversarial image is clamped back to
[0, 1]. ``fgsm`` (Goodfellow et al., 2015), ``pgd`` (Madry et al., 2018), ``attack`` (either, in
batches), ``epsilon_sweep`` (accuracy and confidence against ε) and ``magnify`` (a perturbation
made visible). ``linear_score_changes`` measures Goodfellow et al.'s linearity argument on a
linear score; ``adversarial_loss`` and ``adversarial_training`` are their defence, training on
FGSM examples of the model being trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .device import device_of
from .digits import train_classifier
from .manifolds import check_epsilon, check_images, check_labels, predict


def _loss_gradient(classifier: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(classifier(x), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _prepare(classifier, x, labels):
    check_images(x)
    device = device_of(classifier)
    x = x.detach().to(device)
    with torch.no_grad():
        classes = classifier(x[:1]).shape[1]
    return x, check_labels(labels, len(x), classes).to(device)


def fgsm(classifier: nn.Module, x: torch.Tensor, labels, eps: float) -> torch.Tensor:
    """Fast gradient sign method: ``clamp(x + ε·sign(∇ₓ CE(f(x), y)), 0, 1)``, ε in pixel units."""
    eps = check_epsilon(eps)
    x, labels = _prepare(classifier, x, labels)
    grad = _loss_gradient(classifier, x, labels)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


def pgd(
    classifier: nn.Module,
    x: torch.Tensor,
    labels,
    eps: float,
    steps: int = 10,
    alpha: float | None = None,
    random_start: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient descent (Madry et al., 2018): ``steps`` sign steps of size ``alpha``
    (default 2.5·ε/steps, the rule of thumb of Madry's group's robustness library; the paper set
    step and steps per data set), each followed by projection onto the L∞ ball of radius ε
    around x and onto [0, 1]; from a uniform random start in the ball unless
    ``random_start=False``."""
    eps = check_epsilon(eps)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    alpha = check_epsilon(2.5 * eps / steps if alpha is None else alpha, "alpha")
    x, labels = _prepare(classifier, x, labels)
    adv = x.clone()
    if random_start and eps > 0:
        generator = torch.Generator().manual_seed(seed)
        noise = (torch.rand(x.shape, generator=generator) * 2 - 1) * eps
        adv = (x + noise.to(x.device)).clamp(0, 1)
    for _ in range(steps):
        grad = _loss_gradient(classifier, adv, labels)
        adv = adv + alpha * grad.sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1).detach()
    return adv


ATTACKS = {"fgsm": fgsm, "pgd": pgd}


def attack(name: str, classifier: nn.Module, x, labels, eps: float, batch_size: int = 512, **kw):
    """Run ``fgsm`` or ``pgd`` over a dataset in batches; returns the adversarial images (CPU)."""
    if name not in ATTACKS:
        raise ValueError(f"Unknown attack {name!r}; use one of {', '.join(ATTACKS)}.")
    check_images(x)
    labels = torch.as_tensor(labels).reshape(-1)
    if len(labels) != len(x):
        raise ValueError(f"{len(x)} images but {len(labels)} labels.")
    out = [
        ATTACKS[name](classifier, x[i : i + batch_size], labels[i : i + batch_size], eps, **kw)
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out).cpu()


@dataclass
class Sweep:
    """Accuracy and confidences against ε for one attack."""

    epsilons: list[float]
    accuracy: list[float]  # fraction still classified as the label
    true_confidence: list[float]  # mean p(label | x_adv)
    confidence: list[float]  # mean max_c p(c | x_adv): how sure the (often wrong) answer is


def epsilon_sweep(
    classifier: nn.Module,
    x: torch.Tensor,
    labels,
    epsilons: Sequence[float],
    attack_name: str = "fgsm",
    **kw,
) -> Sweep:
    """Attack at each ε and measure. ``labels=None`` uses the network's own clean predictions
    (then accuracy reads "fraction of predictions unchanged"), as for unlabelled photos."""
    check_images(x)
    if len(epsilons) == 0:
        raise ValueError("epsilons is empty: pass at least one ε, e.g. [0, 2/255, 8/255].")
    for eps in epsilons:
        check_epsilon(eps)
    if labels is None:
        labels = predict(classifier, x)[0]
    labels = torch.as_tensor(labels).reshape(-1).cpu()
    result = Sweep([], [], [], [])
    for eps in epsilons:
        adv = x if eps == 0 else attack(attack_name, classifier, x, labels, eps, **kw)
        cls, conf, probs = predict(classifier, adv)
        result.epsilons.append(float(eps))
        result.accuracy.append((cls == labels).float().mean().item())
        result.true_confidence.append(probs[torch.arange(len(labels)), labels].mean().item())
        result.confidence.append(conf.mean().item())
    return result


def magnify(delta: torch.Tensor) -> torch.Tensor:
    """A perturbation made visible: 0.5 + δ / (2·max|δ|), per image, in [0, 1]."""
    scale = delta.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *([1] * (delta.ndim - 1)))
    return 0.5 + delta / (2 * scale)


# --------------------------------------------------------------------------- why FGSM works
@dataclass
class LinearChanges:
    """How much ε-perturbations move a linear score ``wᵀx`` with ``n`` weights, per input size."""

    dimensions: list[int]  # n
    sign_change: list[float]  # wᵀ(x + ε·sign(w)) − wᵀx, measured
    l1_bound: list[float]  # ε·‖w‖₁
    random_change: list[float]  # |wᵀ(x + ε·s) − wᵀx| for random signs s, the same ‖·‖∞ = ε
    mean_abs_weight: list[float]  # m = mean |w|


def linear_score_changes(
    shapes: Sequence[Sequence[int]], eps: float, seed: int = 0
) -> LinearChanges:
    """Goodfellow et al.'s argument, measured: for a random linear score ``wᵀx`` on inputs of each
    shape (``w`` standard normal, ``x`` uniform in [0, 1]), the change that ``η = ε·sign(w)``
    causes, next to ``ε·‖w‖₁`` and to the change caused by random signs of the same size.
    No clipping to [0, 1]: the argument is about the linear score alone."""
    eps = check_epsilon(eps)
    if len(shapes) == 0:
        raise ValueError("shapes is empty: pass at least one input shape, e.g. [(1, 8, 8)].")
    generator = torch.Generator().manual_seed(seed)
    out = LinearChanges([], [], [], [], [])
    for shape in shapes:
        n = math.prod(shape)
        w = torch.randn(n, generator=generator, dtype=torch.float64)
        x = torch.rand(n, generator=generator, dtype=torch.float64)
        signs = torch.randint(0, 2, (n,), generator=generator, dtype=torch.float64) * 2 - 1
        out.dimensions.append(n)
        out.sign_change.append((w @ (x + eps * w.sign()) - w @ x).item())
        out.l1_bound.append(eps * w.abs().sum().item())
        out.random_change.append(abs((w @ (x + eps * signs) - w @ x).item()))
        out.mean_abs_weight.append(w.abs().mean().item())
    return out


# --------------------------------------------------------------------------- adversarial training
def adversarial_loss(
    classifier: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float = 0.5
) -> torch.Tensor:
    """Goodfellow et al.'s objective ``α·J(x, y) + (1 − α)·J(x + ε·sign(∇ₓJ(x, y)), y)``, J the
    mean cross-entropy. The FGSM images come from ``classifier`` as it is now, and are treated
    as constants (no gradient flows through their construction)."""
    eps = check_epsilon(eps)
    if not 0 <= alpha <= 1:
        raise ValueError(
            f"alpha must be between 0 and 1 (the weight of the clean loss); got {alpha!r}."
        )
    clean = F.cross_entropy(classifier(x), labels)
    if alpha == 1:
        return clean
    x_adv = (x.detach() + eps * _loss_gradient(classifier, x, labels).sign()).clamp(0, 1)
    return alpha * clean + (1 - alpha) * F.cross_entropy(classifier(x_adv.detach()), labels)


def adversarial_training(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    alpha: float = 0.5,
    **options,
) -> list[float]:
    """Train ``model`` on ``adversarial_loss``: in every step, FGSM examples of the current
    model, weighted ``1 − α`` against the clean ones. The recipe and the ``options`` (epochs,
    lr, batch_size, weight_decay, seed) are those of ``lib.digits.train_classifier``; returns the
    mean loss of each epoch, and the model is left in eval mode with its parameters frozen."""
    check_images(x)
    eps = check_epsilon(eps)
    return train_classifier(
        model,
        x,
        torch.as_tensor(labels).reshape(-1),
        objective=lambda m, xb, yb: adversarial_loss(m, xb, yb, eps, alpha),
        **options,
    )
