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

Each octave is one call of ``lib.optim.optimize`` with plain SGD: the objective returns
``-J`` (``optimize`` minimises), ``grad_fn`` divides the gradient by its mean absolute value and
``transform`` is the jitter. A guided dream only swaps the objective: one channel, one class
logit, or the features of a guide image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .features import FeatureExtractor
from .images import resize_to
from .optim import optimize
from .parametrization import PixelImage
from .transforms import jitter as roll_jitter

# The original notebook steps 1.5 grey levels (pixels in 0-255) per iteration; ours are in [0, 1].
DEFAULT_STEP = 1.5 / 255
Objective = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class DreamResult:
    """The dreamt image, the octave sizes used (smallest first) and, per octave, the objective
    after each step (the quantity that was *maximised*)."""

    image: torch.Tensor
    sizes: list[tuple[int, int]]
    objective: list[list[float]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Octaves


def octave_sizes(
    height: int, width: int, octaves: int = 4, scale: float = 1.4, min_side: int | None = None
) -> list[tuple[int, int]]:
    """The ``(H, W)`` of each octave, smallest first; the last one is the image's own size.

    Octave ``k`` (counted from the full image, ``k = 0``) has sides divided by ``scale**k``.
    Octaves whose shorter side would fall below ``min_side`` are dropped, so the network never
    sees an image too small for its receptive fields (224 px for GoogLeNet in the literature).
    """
    if not isinstance(octaves, int) or octaves < 1:
        raise ValueError(f"octaves must be a positive integer; got {octaves!r}.")
    if not scale > 1:
        raise ValueError(f"scale must be larger than 1 (the original uses 1.4); got {scale!r}.")
    if min_side is not None and min(height, width) < min_side:
        raise ValueError(
            f"The image is {height}×{width}, smaller than min_side={min_side}: load it larger "
            "or lower min_side."
        )
    sizes = []
    for k in range(octaves):
        size = (round(height / scale**k), round(width / scale**k))
        if min_side is not None and min(size) < min_side:
            break
        sizes.append(size)
    return sizes[::-1]


def octave_loop(
    base: torch.Tensor,
    sizes: Sequence[tuple[int, int]],
    refine: Callable[[torch.Tensor, int], torch.Tensor],
) -> torch.Tensor:
    """Run ``refine(image, octave_index)`` at each size, carrying only the added detail.

    At each octave the input is ``resize(base) + upsample(detail)``, where ``detail`` is what the
    previous octaves added; after ``refine``, ``detail = result - resize(base)``. At the last
    octave ``resize(base)`` is the original image itself, untouched by any resampling.
    """
    if not sizes:
        raise ValueError("octave_loop needs at least one size.")
    detail = torch.zeros_like(resize_to(base, sizes[0]))
    result = base
    for index, size in enumerate(sizes):
        octave_base = resize_to(base, size)
        if tuple(detail.shape[-2:]) != tuple(size):
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
        result = refine((octave_base + detail).clamp(0, 1), index)
        detail = result - octave_base
    return result


# --------------------------------------------------------------------------------------------
# Objectives (the quantity to maximise)


def dream_objective(
    model: nn.Module,
    layer: str = "inception4c",
    channel: int | None = None,
    class_index: int | None = None,
    guide: torch.Tensor | None = None,
) -> Objective:
    """``images -> number to maximise`` (summed over the batch, so tiles add up).

    - default: ½ Σ A², the squared L2 norm of the layer (plain DeepDream);
    - ``channel=c``: Σ of channel ``c`` of the layer (a dream guided toward one feature);
    - ``class_index=k``: the logit of class ``k`` (``layer`` must be ``"logits"``);
    - ``guide=image``: the original notebook's guided dream: at each position, the dot product
      of the activation with the guide's feature vector that matches it best.
    """
    chosen = sum(option is not None for option in (channel, class_index, guide))
    if chosen > 1:
        raise ValueError("Choose at most one of channel, class_index and guide.")
    if class_index is not None and layer != "logits":
        raise ValueError(f"class_index needs layer='logits' (got layer={layer!r}).")
    extractor = FeatureExtractor(model, layer)
    guide_features = None
    if guide is not None:
        with torch.no_grad():
            act = extractor(guide.to(_device_of(model)))[layer]
        guide_features = act[0].flatten(1)  # (C, positions)

    def objective(images: torch.Tensor) -> torch.Tensor:
        act = extractor(images)[layer]
        if channel is not None:
            if not 0 <= channel < act.shape[1]:
                raise ValueError(
                    f"channel {channel} is out of range: layer {layer!r} has {act.shape[1]} "
                    f"channels (0-{act.shape[1] - 1})."
                )
            return act[:, channel].sum()
        if class_index is not None:
            if not 0 <= class_index < act.shape[1]:
                raise ValueError(
                    f"class_index {class_index} is out of range: the network has "
                    f"{act.shape[1]} classes (0-{act.shape[1] - 1})."
                )
            return act[:, class_index].sum()
        if guide_features is not None:
            flat = act.flatten(2)  # (B, C, positions)
            best = (flat.transpose(1, 2) @ guide_features).argmax(dim=2)  # (B, positions)
            target = guide_features[:, best].permute(1, 0, 2)  # (B, C, positions)
            return (flat * target.detach()).sum()
        return 0.5 * act.pow(2).sum()

    return objective


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


# --------------------------------------------------------------------------------------------
# Gradients


def normalize_gradient(grad: torch.Tensor) -> torch.Tensor:
    """Divide each image's gradient by its mean absolute value (the original's step rule).

    No fixed epsilon: an untrained network's gradients can be as small as 1e-15, and a
    constant like 1e-8 would silently freeze the dream. An all-zero gradient stays zero.
    """
    scale = grad.abs().mean(dim=tuple(range(1, grad.ndim)), keepdim=True)
    return grad / scale.clamp_min(torch.finfo(grad.dtype).tiny)


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
    if not isinstance(tile, int) or tile < 8:
        raise ValueError(f"tile must be an integer of at least 8 pixels; got {tile!r}.")
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


def _as_loss(objective: Objective, tile: int | None) -> Objective:
    """The loss ``optimize`` minimises: ``-objective``, tiled when the image exceeds ``tile``."""

    def loss(images: torch.Tensor) -> torch.Tensor:
        if tile is None or max(images.shape[-2:]) <= tile:
            return -objective(images)
        shift = (int(torch.randint(0, tile, (1,))), int(torch.randint(0, tile, (1,))))
        value, grad = tiled_gradient(objective, images, tile, shift)
        surrogate = (images * grad).sum()  # its gradient w.r.t. images is `grad`
        return -(value + surrogate - surrogate.detach())

    return loss


# --------------------------------------------------------------------------------------------
# The dream


def dream(
    model: nn.Module,
    image: torch.Tensor,
    layer: str = "inception4c",
    octaves: int = 4,
    scale: float = 1.4,
    steps: int = 10,
    step: float = DEFAULT_STEP,
    jitter: int = 32,
    min_side: int | None = None,
    tile: int | None = None,
    channel: int | None = None,
    class_index: int | None = None,
    guide: torch.Tensor | None = None,
    progress: bool = True,
) -> DreamResult:
    """DeepDream ``image`` (``(B, 3, H, W)`` in [0, 1]) at ``layer``.

    ``steps`` gradient-ascent steps per octave, each of ``step`` (in [0, 1] pixel units) along
    the gradient divided by its mean absolute value, after a random roll of up to ``jitter``
    pixels. ``tile``: compute gradients in tiles of this many pixels (large images).
    ``channel``, ``class_index``, ``guide``: a guided dream (see ``dream_objective``).
    """
    if image.ndim != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be a (B, 3, H, W) batch; got shape {tuple(image.shape)}.")
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the original uses 10); got {steps!r}.")
    if not step > 0:
        raise ValueError(f"step must be positive (the original uses 1.5/255); got {step!r}.")
    if not isinstance(jitter, int) or jitter < 0:
        raise ValueError(f"jitter must be a non-negative integer of pixels; got {jitter!r}.")
    objective = dream_objective(model, layer, channel, class_index, guide)
    loss = _as_loss(objective, tile)
    sizes = octave_sizes(image.shape[-2], image.shape[-1], octaves, scale, min_side)
    result = DreamResult(image=image, sizes=sizes)

    def refine(x: torch.Tensor, index: int) -> torch.Tensor:
        run = optimize(
            PixelImage(x),
            loss,
            steps,
            optimizer="sgd",
            lr=step,
            transform=roll_jitter(jitter) if jitter else None,
            grad_fn=normalize_gradient,
            progress=progress,
            desc=f"octave {index + 1}/{len(sizes)} {tuple(x.shape[-2:])}",
        )
        result.objective.append([-value for value in run.losses])
        return run.image

    result.image = octave_loop(image.to(_device_of(model)).float(), sizes, refine).detach()
    return result


# --------------------------------------------------------------------------------------------
# Measurements for the chapter


@torch.no_grad()
def layer_energy(model: nn.Module, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Mean of the squared activations of ``layer``, one number per image."""
    act = FeatureExtractor(model, layer)(images.to(_device_of(model)))[layer]
    return act.pow(2).flatten(1).mean(dim=1)


def mean_frequency(images: torch.Tensor) -> torch.Tensor:
    """Power-weighted mean spatial frequency (cycles per pixel, 0-0.71) of each grey image.

    Applied to a dream's added detail it says how fine the painted patterns are: a large value
    means small, dense strokes; a small one means large shapes.
    """
    grey = images.mean(dim=1)
    grey = grey - grey.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(grey).abs().pow(2)
    fy = torch.fft.fftfreq(grey.shape[-2], device=grey.device).view(-1, 1)
    fx = torch.fft.fftfreq(grey.shape[-1], device=grey.device).view(1, -1)
    radius = (fy**2 + fx**2).sqrt()
    return (power * radius).flatten(1).sum(1) / power.flatten(1).sum(1).clamp_min(1e-12)
