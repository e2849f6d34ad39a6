"""Why classifiers are easy to fool: fooling images, random images, adversarial examples, and a
2-D picture of discriminative confidence against class-conditional density.

Every function takes a *pixel classifier*: a module that maps images in [0, 1] to logits. The
digit CNN of ``lib.digits`` is one already; an ImageNet network from ``lib.models`` becomes one
with ``pixel_classifier(model)``, which puts the ImageNet normalisation in front of it. So every
ε here is in pixel units of [0, 1] images (8/255 ≈ 0.031 is "8 grey levels"), never in the
normalised units some tutorials use, and every adversarial image is clamped back to [0, 1].

- ``fooling_images``: from noise, ascend log p(target | x) until the network is ≥ 99% sure
  (Nguyen et al., 2015).
- ``random_predictions``: what the network says about images drawn uniformly at random.
- ``fgsm`` (Goodfellow et al., 2015) and ``pgd`` (Madry et al., 2018), and ``epsilon_sweep``.
- ``GaussianToy``: two classes in the plane with known densities, and a small MLP trained on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .digits import predict_proba, single_thread
from .images import normalize

# --------------------------------------------------------------------------- checks


def pixel_classifier(model: nn.Module) -> nn.Module:
    """A module taking [0, 1] images: torchvision ImageNet networks get the normalisation in
    front; any other module (e.g. the digit CNN, trained on [0, 1] pixels) is returned as is."""
    from torchvision.models import VGG, GoogLeNet

    if isinstance(model, VGG | GoogLeNet):
        return _Normalized(model)
    return model


class _Normalized(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.categories = getattr(model, "categories", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(normalize(x))


def _device(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def check_images(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """A non-empty ``(B, C, H, W)`` batch in [0, 1], or a clear error."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (B, C, H, W); got {type(x).__name__}.")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a batch (B, C, H, W); got shape {tuple(x.shape)}.")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty: pass at least one image.")
    low, high = x.min().item(), x.max().item()
    if low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(
            f"{name} must be pixels in [0, 1]; got values in [{low:.3g}, {high:.3g}]. Pass "
            "unnormalised images: pixel_classifier(model) normalises inside the network."
        )
    return x


def check_epsilon(eps: float, name: str = "eps") -> float:
    """ε in pixel units: a finite number in [0, 1]."""
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps):
        raise ValueError(f"{name} must be a finite number in [0, 1] (pixel units); got {eps!r}.")
    if not 0 <= eps <= 1:
        hint = f" Did you mean {eps}/255 = {eps / 255:.4f}?" if 1 < eps <= 255 else ""
        raise ValueError(
            f"{name} is in pixel units of [0, 1] images and must lie in [0, 1]; got {eps!r}.{hint}"
        )
    return float(eps)


def _check_labels(labels: torch.Tensor, batch: int, classes: int, name: str = "labels"):
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if labels.numel() == 1 and batch > 1:
        labels = labels.expand(batch)
    if labels.numel() != batch:
        raise ValueError(f"{name} has {labels.numel()} entries for {batch} images.")
    bad = labels[(labels < 0) | (labels >= classes)]
    if bad.numel():
        raise ValueError(f"{name} must be class indices in 0..{classes - 1}; got {bad[0].item()}.")
    return labels


def predict(classifier: nn.Module, x: torch.Tensor, batch_size: int = 256):
    """``(classes, confidences, probabilities)`` of a pixel classifier, in batches, on the CPU."""
    check_images(x)
    probs = predict_proba(classifier, x, batch_size).float()
    conf, cls = probs.max(1)
    return cls, conf, probs


# --------------------------------------------------------------------------- fooling images


@dataclass
class FoolingResult:
    """The fooling images, where they started, and how the target's probability grew."""

    images: torch.Tensor
    start: torch.Tensor
    targets: torch.Tensor
    confidence: torch.Tensor  # final p(target | image), one per image
    steps: torch.Tensor  # steps taken by each image (max_steps if it never got there)
    reached: torch.Tensor  # bool: p(target) >= threshold
    history: list[torch.Tensor] = field(default_factory=list)  # p(target) after each step


def fooling_images(
    classifier: nn.Module,
    start: torch.Tensor,
    targets: int | Sequence[int] | torch.Tensor,
    threshold: float = 0.99,
    max_steps: int = 200,
    step_size: float = 1 / 255,
) -> FoolingResult:
    """Gradient ascent on log p(target | x) from ``start`` (noise, say) until p ≥ ``threshold``.

    Each step moves every pixel by ``step_size`` (pixel units) in the direction of the sign of
    the gradient, then clamps to [0, 1]; an image stops changing as soon as it reaches the
    threshold, so it stays as close to its start as the network allows.
    """
    check_images(start, "start")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold is a probability in (0, 1); got {threshold!r}.")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer; got {max_steps!r}.")
    check_epsilon(step_size, "step_size")
    if step_size == 0:
        raise ValueError("step_size must be positive.")
    device = _device(classifier)
    x = start.detach().clone().to(device)
    with torch.no_grad():
        classes = classifier(x[:1]).shape[1]
    targets = _check_labels(targets, len(x), classes, "targets").to(device)
    steps = torch.full((len(x),), max_steps, dtype=torch.long)
    history = []
    rows = torch.arange(len(x), device=device)
    for step in range(max_steps + 1):
        x.requires_grad_(True)
        log_p = classifier(x).log_softmax(1)[rows, targets]
        p = log_p.detach().exp().cpu()
        history.append(p)
        done = p >= threshold
        newly = done & (steps == max_steps)
        steps[newly] = step
        if bool(done.all()) or step == max_steps:
            break
        (grad,) = torch.autograd.grad(log_p.sum(), x)
        with torch.no_grad():
            move = (~done).to(device).view(-1, *([1] * (x.ndim - 1)))
            x = (x + step_size * grad.sign() * move).clamp(0, 1)
    steps[~(history[-1] >= threshold)] = max_steps
    return FoolingResult(
        images=x.detach().cpu(),
        start=start.detach().cpu(),
        targets=targets.cpu(),
        confidence=history[-1],
        steps=steps,
        reached=history[-1] >= threshold,
        history=history,
    )


# --------------------------------------------------------------------------- random images


def random_images(n: int, shape: Sequence[int], seed: int = 0, levels: int | None = None):
    """``n`` images of independent uniform pixels in [0, 1] (on ``levels`` grey levels if given)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of images; got {n!r}.")
    if len(shape) != 3:
        raise ValueError(f"shape is (C, H, W); got {tuple(shape)}.")
    generator = torch.Generator().manual_seed(seed)
    if levels is None:
        return torch.rand(n, *shape, generator=generator)
    return torch.randint(0, levels, (n, *shape), generator=generator).float() / (levels - 1)


def random_predictions(
    classifier: nn.Module,
    n: int,
    shape: Sequence[int],
    seed: int = 0,
    levels: int | None = None,
    batch_size: int = 64,
):
    """Classes and confidences the classifier gives to ``n`` uniformly random images."""
    cls, conf, _ = predict(classifier, random_images(n, shape, seed, levels), batch_size)
    return cls, conf


# --------------------------------------------------------------------------- attacks


def _loss_gradient(classifier: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(classifier(x), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def _prepare(classifier, x, labels):
    check_images(x)
    device = _device(classifier)
    x = x.detach().to(device)
    with torch.no_grad():
        classes = classifier(x[:1]).shape[1]
    return x, _check_labels(labels, len(x), classes).to(device)


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
    (default 2.5·ε/steps), each followed by projection onto the L∞ ball of radius ε around x
    and onto [0, 1]; from a uniform random start in the ball unless ``random_start=False``."""
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


def square_photos(images: Sequence[torch.Tensor], size: int) -> torch.Tensor:
    """Resize (shorter side = ``size``) and centre-crop ``(1, 3, H, W)`` images into one batch."""
    if not images:
        raise ValueError("square_photos needs at least one image.")
    out = []
    for image in images:
        h, w = image.shape[-2:]
        scale = size / min(h, w)
        resized = F.interpolate(
            image,
            size=(max(size, round(h * scale)), max(size, round(w * scale))),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )
        top, left = (resized.shape[-2] - size) // 2, (resized.shape[-1] - size) // 2
        out.append(resized[..., top : top + size, left : left + size].clamp(0, 1))
    return torch.cat(out)


# --------------------------------------------------------------------------- the 2-D toy


@dataclass
class GaussianToy:
    """Two classes in the plane, each a Gaussian with known mean and covariance, equally likely.

    ``log_density(points)`` gives log p(x | c) for each class, ``density`` the mixture p(x):
    the generative view. A discriminative classifier only learns p(c | x) from samples.
    """

    means: torch.Tensor = field(default_factory=lambda: torch.tensor([[-1.5, -0.5], [1.5, 0.5]]))
    covs: torch.Tensor = field(
        default_factory=lambda: torch.tensor([[[0.6, 0.3], [0.3, 0.5]], [[0.4, -0.2], [-0.2, 0.7]]])
    )

    def _dists(self):
        return [
            torch.distributions.MultivariateNormal(m, covariance_matrix=c)
            for m, c in zip(self.means, self.covs, strict=True)
        ]

    def sample(self, n_per_class: int, seed: int = 0):
        if n_per_class < 1:
            raise ValueError(f"n_per_class must be positive; got {n_per_class!r}.")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            xs = [d.sample((n_per_class,)) for d in self._dists()]
        y = torch.arange(len(xs)).repeat_interleave(n_per_class)
        return torch.cat(xs), y

    def log_density(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, classes)``: log p(x | c)."""
        return torch.stack([d.log_prob(points) for d in self._dists()], dim=1)

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """``(N,)``: p(x) = Σ_c p(c) p(x | c) with equal priors."""
        return self.log_density(points).exp().mean(1)

    def posterior(self, points: torch.Tensor) -> torch.Tensor:
        """``(N, classes)``: the Bayes posterior p(c | x) of the true generating model."""
        return self.log_density(points).softmax(1)


def toy_mlp(hidden: int = 32, classes: int = 2) -> nn.Sequential:
    """A small ReLU network from the plane to class logits."""
    return nn.Sequential(
        nn.Linear(2, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )


def train_toy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int = 500,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[float]:
    """Full-batch Adam on cross-entropy; returns the losses. Leaves the model in eval mode."""
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(seed)
        for layer in model.modules():
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        losses = []
        model.train()
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    model.eval()
    return losses


def plane_grid(limit: float = 6.0, n: int = 200):
    """A square grid over [-limit, limit]²: ``(xs, ys, points)`` with points ``(n·n, 2)``."""
    if limit <= 0 or n < 2:
        raise ValueError(f"limit must be positive and n at least 2; got {limit!r}, {n!r}.")
    axis = torch.linspace(-limit, limit, n)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return xs, ys, torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
