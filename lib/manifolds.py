"""Why classifiers are easy to fool: fooling images, random images, adversarial examples, and a
2-D picture of discriminative confidence against class-conditional density.

Every function takes a *pixel classifier*: a module that maps images in [0, 1] to logits. The
digit CNN of ``lib.digits`` is one already; an ImageNet network from ``lib.models`` becomes one
with ``pixel_classifier(model)``, which puts the network's own input normalisation (read from
its description) in front of it. So every ε here is in pixel units of [0, 1] images (8/255 ≈
0.031 is "8 grey levels"), never in the normalised units some tutorials use, and every
adversarial image is clamped back to [0, 1].

- ``fooling_images``: from noise, ascend log p(target | x) until the network is ≥ 99% sure
  (Nguyen et al., 2015).
- ``random_predictions``: what the network says about images drawn uniformly at random.
- adversarial examples: ``lib.attacks`` (FGSM, PGD, ``epsilon_sweep``).
- ``GaussianToy``: two classes in the plane with known densities, and a small MLP trained on them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .device import device_of
from .digits import predict_proba
from .images import check_batch
from .networks import attach, normalize_input, sequential
from .training import train

# --------------------------------------------------------------------------- checks


def pixel_classifier(model: nn.Module) -> nn.Module:
    """A module taking [0, 1] images: a network whose description (``lib.networks``) declares
    an input normalisation, ImageNet's or any other, gets it in front; any other module (e.g. the
    digit CNN, trained on [0, 1] pixels) is returned as is."""
    network = getattr(model, "network", None)
    return _Normalized(model) if network is not None and network.mean is not None else model


class _Normalized(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.categories = getattr(model, "categories", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(normalize_input(self.model, x))


def check_images(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """A non-empty ``(B, C, H, W)`` batch in [0, 1], or a clear error."""
    return check_batch(x, name, pixels=True)


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


def check_labels(labels: torch.Tensor, batch: int, classes: int, name: str = "labels"):
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
    device = device_of(classifier)
    x = start.detach().clone().to(device)
    with torch.no_grad():
        classes = classifier(x[:1]).shape[1]
    targets = check_labels(targets, len(x), classes, "targets").to(device)
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


def toy_mlp(hidden: int = 32, classes: int = 2, seed: int | None = None) -> nn.Sequential:
    """A small ReLU network from the plane to class logits, described as "toy MLP".

    ``seed`` draws its initial weights from that seed: ``toy_mlp(seed=s)`` is the network that
    ``train_toy(..., seed=s)`` starts from, so it serves as the untrained control."""
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return toy_mlp(hidden, classes)
    model = nn.Sequential(
        nn.Linear(2, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, classes),
    )
    return attach(model, sequential("toy MLP"))


def train_toy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int = 500,
    lr: float = 1e-2,
    seed: int = 0,
) -> list[float]:
    """Full-batch Adam on cross-entropy (``lib.training.train``), from a seeded
    initialisation; returns the loss of each step. Leaves the model in eval mode, frozen."""
    return train(model, x, y, F.cross_entropy, steps, lr, reset=True, seed=seed)


def plane_grid(limit: float = 6.0, n: int = 200):
    """A square grid over [-limit, limit]²: ``(xs, ys, points)`` with points ``(n·n, 2)``."""
    if limit <= 0 or n < 2:
        raise ValueError(f"limit must be positive and n at least 2; got {limit!r}, {n!r}.")
    axis = torch.linspace(-limit, limit, n)
    ys, xs = torch.meshgrid(axis, axis, indexing="ij")
    return xs, ys, torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
