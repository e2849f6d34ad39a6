"""DeepDream ("Inceptionism", Mordvintsev, Olah and Tyka, 2015): amplify what a layer already sees.

Gradient *ascent* on the image for the squared L2 norm of a layer's activations,

    J(x) = ½ Σ_{c,i,j} A_c,i,j(x)²,

so every pattern the layer half-recognises gets stronger. The ingredients of the original
notebook (google/deepdream), all here:

- octaves: the image is processed from a small scale to its full size, each octave ``scale``
  (≈1.4) times larger than the one before; between octaves only the *detail* the dream added
  is upsampled, and added to a fresh resize of the original photo, so the photo stays sharp;
- a random roll (jitter) of the image before each step, which averages out the network's
  grid artefacts;
- a step normalised by the gradient's mean absolute value, ``x ← x + η g / mean|g|``, so the
  step size does not depend on the layer's scale;
- for large images, gradients computed tile by tile with a random shift of the tile grid, so
  memory stays bounded and seams never sit in the same place twice.

The octaves are ``lib.multiscale.coarse_to_fine``; each octave is one call of
``lib.optim.optimize`` with plain SGD: the objective is ``-J`` (``lib.objectives.LayerEnergy``:
a loss to minimise), ``grad_fn`` divides the gradient by its mean absolute value and
``transform`` is the jitter; with tiles, the objective computes its gradient tile by tile
(:class:`Tiled`). A guided dream only swaps the objective: one channel, one class logit, or the
features of a guide image (:class:`Guide`). ``DreamResult.octaves`` keeps the image at the end of
every octave, for the octave-by-octave strip of the chapter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .device import device_of
from .features import FeatureExtractor
from .images import check_batch, radial_frequency
from .multiscale import coarse_to_fine, octave_sizes
from .objectives import Channel, LayerEnergy, Objective, read, read_reference
from .optim import OptimizerFactory, optimize
from .parametrization import PixelImage
from .transforms import jitter as roll_jitter


@dataclass
class DreamResult:
    """The dreamt image, the octave sizes used (smallest first), per octave the objective ``J``
    after each step (the quantity that was *maximised*: minus the loss) and, per octave, the
    image at its end (``octaves[k]`` has size ``sizes[k]``; the last one is ``image``)."""

    image: torch.Tensor
    sizes: list[tuple[int, int]]
    objective: list[list[float]] = field(default_factory=list)
    octaves: list[torch.Tensor] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Objectives (losses to minimise: minus what the dream amplifies)


class Guide(Objective):
    """The original notebook's guided dream, driven by a guide image instead of the layer's own
    energy. With ``a_p`` the dream's feature vector (all channels) at position ``p`` of the layer
    and ``g_q`` the guide image's at position ``q``, the quantity maximised is

        J(x) = Σ_p max_q ⟨a_p(x), g_q⟩,

    so each position is pushed toward the guide feature it already resembles most (in the dot
    product, as in the original). The match ``q*(p)`` is held fixed while differentiating: the
    gradient with respect to ``a_p`` is ``g_{q*(p)}``, where plain DeepDream's is ``a_p`` itself.
    The loss is ``-J``; the guide image may have any size.
    """

    name = "guide"

    def __init__(self, model: nn.Module, layer: str, guide: torch.Tensor):
        self.model, self.layer, self.layers = model, layer, (layer,)
        act = read_reference(model, layer, guide, "guide")
        self.guide = act[0].flatten(1)  # (C, guide positions)

    def matches(self, activation: torch.Tensor) -> torch.Tensor:
        """For an activation ``(B, C, H, W)``: the index of the best-matching guide position for
        each of the ``H * W`` positions, ``(B, H * W)``."""
        flat = activation.detach().flatten(2)  # (B, C, positions)
        return (flat.transpose(1, 2) @ self.guide).argmax(dim=2)

    def compute(self, images, features):
        activation = features[(id(self.model), self.layer)]
        flat = activation.flatten(2)  # (B, C, positions)
        target = self.guide[:, self.matches(activation)].permute(1, 0, 2)  # (B, C, positions)
        return -(flat * target).flatten(1).sum(1)


@torch.no_grad()
def guide_match(model: nn.Module, images: torch.Tensor, layer: str, guide: torch.Tensor):
    """How well each image's features match the guide's: ``J`` of :class:`Guide` divided by the
    number of positions of the layer (one number per image)."""
    features = read(model, layer, images)
    positions = features[(id(model), layer)][0, 0].numel()
    return -Guide(model, layer, guide).compute(images, features) / positions


def dream_objective(
    model: nn.Module,
    layer: str,
    channel: int | None = None,
    class_index: int | None = None,
    guide: torch.Tensor | None = None,
) -> Objective:
    """The loss a dream minimises (minus the quantity it amplifies, summed over the batch, so
    tiles add up):

    - default: ``-½ Σ A²``, the squared L2 norm of the layer (plain DeepDream);
    - ``channel=c``: minus the sum of channel ``c`` of the layer (a dream guided toward one
      feature);
    - ``class_index=k``: minus the logit of class ``k`` (``layer`` must be ``"logits"``);
    - ``guide=image``: the original notebook's guided dream (:class:`Guide`).
    """
    chosen = sum(option is not None for option in (channel, class_index, guide))
    if chosen > 1:
        raise ValueError("Choose at most one of channel, class_index and guide.")
    if class_index is not None and layer != "logits":
        raise ValueError(f"class_index needs layer='logits' (got layer={layer!r}).")
    if channel is not None or class_index is not None:
        index = channel if channel is not None else class_index
        return Channel(model, layer, index, reduction="sum")
    if guide is not None:
        return Guide(model, layer, guide)
    return LayerEnergy(model, layer)


# --------------------------------------------------------------------------------------------
# Gradients


def normalize_gradient(grad: torch.Tensor) -> torch.Tensor:
    """Divide each image's gradient by its mean absolute value (the original's step rule).

    No fixed epsilon: an untrained network's gradients can be as small as 1e-15, and a
    constant like 1e-8 would silently freeze the dream. An all-zero gradient stays zero.
    """
    scale = grad.abs().mean(dim=tuple(range(1, grad.ndim)), keepdim=True)
    return grad / scale.clamp_min(torch.finfo(grad.dtype).tiny)


def _check_tile(tile) -> None:
    if not isinstance(tile, int) or tile < 8:
        raise ValueError(f"tile must be an integer of at least 8 pixels; got {tile!r}.")


def _splits(length: int, tile: int) -> list[tuple[int, int]]:
    count = math.ceil(length / tile)
    edges = [round(k * length / count) for k in range(count + 1)]  # near-equal tiles
    return list(zip(edges[:-1], edges[1:], strict=True))


def tiled_gradient(
    objective: Objective, images: torch.Tensor, tile: int, shift: tuple[int, int] = (0, 0)
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(value, gradient)`` of ``objective`` w.r.t. ``images``, one tile at a time.

    The image is rolled by ``shift`` before being cut into tiles of at most ``tile`` pixels a
    side, and the gradient is rolled back: only one tile's graph lives in memory at a time. For an
    objective that adds up over positions and a network that looks at one pixel at a time, this
    is exactly the full gradient; for real networks it differs only near the tiles' borders,
    which the random shift moves at every step.
    """
    _check_tile(tile)
    rolled = torch.roll(images.detach(), shifts=shift, dims=(-2, -1))
    grad = torch.zeros_like(rolled)
    total = torch.zeros((), device=images.device)
    for y0, y1 in _splits(rolled.shape[-2], tile):
        for x0, x1 in _splits(rolled.shape[-1], tile):
            piece = rolled[..., y0:y1, x0:x1].clone().requires_grad_(True)
            with torch.enable_grad():
                value = objective(piece)
                (piece_grad,) = torch.autograd.grad(value, piece)
            grad[..., y0:y1, x0:x1] = piece_grad
            total = total + value.detach()
    return total, torch.roll(grad, shifts=(-shift[0], -shift[1]), dims=(-2, -1))


class Tiled:
    """``objective`` whose gradient the loop gets tile by tile (``value_and_grad``), with the
    tile grid shifted at random at every evaluation; images no larger than ``tile`` are
    differentiated whole."""

    def __init__(self, objective: Objective, tile: int):
        _check_tile(tile)
        self.objective, self.tile = objective, tile

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.objective(images)

    def value_and_grad(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if max(images.shape[-2:]) <= self.tile:
            value = self.objective(images)
            (grad,) = torch.autograd.grad(value, images)
            return value, grad
        shift = (int(torch.randint(0, self.tile, (1,))), int(torch.randint(0, self.tile, (1,))))
        return tiled_gradient(self.objective, images, self.tile, shift)


# --------------------------------------------------------------------------------------------
# The dream


def dream(
    model: nn.Module,
    image: torch.Tensor,
    layer: str,
    octaves: int = 4,
    scale: float = 1.4,
    steps: int = 10,
    optimizer: str | OptimizerFactory = "sgd",
    jitter: int = 32,
    min_side: int | None = None,
    tile: int | None = None,
    channel: int | None = None,
    class_index: int | None = None,
    guide: torch.Tensor | None = None,
    progress: bool = True,
) -> DreamResult:
    """DeepDream ``image`` (``(B, 3, H, W)`` in [0, 1]) at ``layer`` (a name of the network's
    description: the chapter reads it from the roles ``"dream"``, ``"dream_low"``,
    ``"dream_high"`` of ``lib.networks``).

    ``steps`` steps of ``optimizer`` per octave (by default SGD, whose step of 1.5/255 in [0, 1]
    pixel units is taken along the gradient divided by its mean absolute value), after a random
    roll of up to ``jitter`` pixels. ``tile``: compute gradients in tiles of this many pixels
    (large images). ``channel``, ``class_index``, ``guide``: a guided dream
    (see ``dream_objective``). The result keeps the image at the end of every octave
    (``DreamResult.octaves``, smallest first).
    """
    check_batch(image, "image", channels=3)
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the original uses 10); got {steps!r}.")
    if not isinstance(jitter, int) or jitter < 0:
        raise ValueError(f"jitter must be a non-negative integer of pixels; got {jitter!r}.")
    loss = dream_objective(model, layer, channel, class_index, guide)
    if tile is not None:
        loss = Tiled(loss, tile)
    sizes = octave_sizes(image.shape[-2], image.shape[-1], octaves, scale, min_side)
    result = DreamResult(image=image, sizes=sizes)

    def refine(x: torch.Tensor, index: int) -> torch.Tensor:
        run = optimize(
            PixelImage(x),
            loss,
            steps,
            optimizer=optimizer,
            transform=roll_jitter(jitter) if jitter else None,
            grad_fn=normalize_gradient,
            progress=progress,
            desc=f"octave {index + 1}/{len(sizes)} {tuple(x.shape[-2:])}",
        )
        result.objective.append([-value for value in run.losses])
        result.octaves.append(run.image.detach())
        return run.image

    result.image = coarse_to_fine(image.to(device_of(model)).float(), sizes, refine).detach()
    return result


# --------------------------------------------------------------------------------------------
# Measurements for the chapter


@torch.no_grad()
def layer_energy(model: nn.Module, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Mean of the squared activations of ``layer``, one number per image."""
    act = FeatureExtractor(model, layer)(images.to(device_of(model)))[layer]
    return act.pow(2).flatten(1).mean(dim=1)


@torch.no_grad()
def class_probability(
    model: nn.Module, images: torch.Tensor, classes: int | Sequence[int]
) -> torch.Tensor:
    """The probability the network gives to ``classes`` (one class index, or several whose
    probabilities add up: a group such as ImageNet's dog breeds), one number per image."""
    indices = [classes] if isinstance(classes, int) else list(classes)
    if not indices:
        raise ValueError("Give at least one class index.")
    logits = FeatureExtractor(model, "logits")(images.to(device_of(model)))["logits"]
    probabilities = logits.softmax(dim=1)
    bad = [index for index in indices if not 0 <= index < probabilities.shape[1]]
    if bad:
        raise ValueError(
            f"Class {bad[0]} is out of range: the network has {probabilities.shape[1]} classes."
        )
    return probabilities[:, indices].sum(dim=1)


def mean_frequency(images: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean spatial frequency (cycles per pixel, 0-0.71) of each grey image.

    Applied to a dream's added detail it says how fine the painted patterns are: a large value
    means small, dense strokes; a small one means large shapes.
    """
    grey = images.mean(dim=1)
    grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(grey).abs().pow(2)
    radius = radial_frequency(*grey.shape[-2:], device=grey.device)
    return (power * radius).flatten(1).sum(1) / power.flatten(1).sum(1).clamp_min(1e-12)
