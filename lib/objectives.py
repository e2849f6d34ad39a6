"""Objectives: what the optimisation loop minimises, for every chapter.

One convention: an objective maps a batch of images ``(B, 3, H, W)`` in [0, 1] to a *loss to
minimise*. ``objective.per_image(images)`` gives one value per image, ``objective(images)`` their
sum (so each image of a batch gets the gradient it would get alone). Maximising an activation
means minimising its negative: :class:`Channel` returns ``-activation``.

Objectives compose: ``a + b``, ``w * a`` (``w`` one number, or one per image) and ``-a``. A sum
runs each network once per call, for all the layers its terms read, and
``objective.terms(images)`` gives every named term, weighted, one value per image.

- activations: :class:`Channel` (one feature map, reduced by ``"mean"`` or ``"sum"``; a logit on a
  2-D layer), :class:`Neuron` (one position), :class:`LayerEnergy` (DeepDream's ½ Σ A²);
- reconstruction: :class:`FeatureMatch` (normalised feature error) and the pixel priors
  :class:`AlphaNorm` and :class:`TotalVariation` (chapter 2); the style losses build on this
  module in ``lib.style``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .device import device_of
from .features import FeatureExtractor
from .images import IMAGENET_MEAN, check_batch

Features = dict[tuple[int, str], torch.Tensor]  # (id(model), layer) -> activation
REDUCTIONS = ("mean", "sum")


class Objective:
    """A loss to minimise. Subclasses read ``layers`` of ``model`` (none for pixel terms) and
    implement ``compute(images, features) -> (B,)``; ``name`` labels the term in ``terms``."""

    name = "objective"
    model: nn.Module | None = None
    layers: tuple[str, ...] = ()
    mixed_precision = False

    def compute(self, images: torch.Tensor, features: Features) -> torch.Tensor:
        raise NotImplementedError

    def parts(self) -> list[tuple[float | torch.Tensor, Objective]]:
        """``(weight, term)`` pairs; a single term is its own only part."""
        return [(1.0, self)]

    def _features(self, images: torch.Tensor) -> Features:
        wanted: dict[int, tuple[nn.Module, list[str]]] = {}
        for _, term in self.parts():
            if term.model is not None:
                model, layers = wanted.setdefault(id(term.model), (term.model, []))
                layers += [layer for layer in term.layers if layer not in layers]
        extractors = getattr(self, "_extractors", {})
        found: Features = {}
        for key, (model, layers) in wanted.items():
            if extractors.get(key) is None or extractors[key].layers != layers:
                extractors[key] = FeatureExtractor(model, layers)
            found.update(
                {(key, name): act for name, act in _run(extractors[key], images, self).items()}
            )
        self._extractors = extractors
        return found

    def terms(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every named term, weighted, one value per image (terms with one name add up)."""
        features = self._features(images)
        out: dict[str, torch.Tensor] = {}
        for weight, term in self.parts():
            value = _weighted(weight, term.compute(images, features))
            out[term.name] = out[term.name] + value if term.name in out else value
        return out

    def per_image(self, images: torch.Tensor) -> torch.Tensor:
        """The loss of each image: ``(B,)``."""
        return sum(self.terms(images).values())

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.per_image(images).sum()

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        return Sum(self.parts() + other.parts(), self.mixed_precision or other.mixed_precision)

    def __mul__(self, weight: float | torch.Tensor) -> Objective:
        if isinstance(weight, Objective):
            return NotImplemented
        return Sum([(weight * w, term) for w, term in self.parts()], self.mixed_precision)

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return self * -1.0

    def __sub__(self, other: Objective) -> Objective:
        return self + (-other)

    def with_mixed_precision(self) -> Objective:
        """The same objective with the networks run in bfloat16 (channels-last memory), the
        terms still computed in float32: faster on GPUs and on CPUs with bfloat16 units."""
        return Sum(self.parts(), mixed_precision=True)


class Sum(Objective):
    """A weighted sum of terms (what ``+`` and ``*`` build)."""

    name = "sum"

    def __init__(self, parts: list[tuple[float | torch.Tensor, Objective]], mixed_precision=False):
        self._parts = parts
        self.mixed_precision = mixed_precision

    def parts(self) -> list[tuple[float | torch.Tensor, Objective]]:
        return list(self._parts)


def _weighted(weight, values: torch.Tensor) -> torch.Tensor:
    if isinstance(weight, torch.Tensor):
        weight = weight.to(values.device).flatten()
        if len(weight) not in (1, len(values)):
            raise ValueError(f"{len(weight)} weights for {len(values)} images.")
    return weight * values


def _run(extractor: FeatureExtractor, images: torch.Tensor, objective: Objective):
    if not objective.mixed_precision:
        return extractor(images)
    device = images.device.type
    if device not in ("cuda", "cpu"):
        raise ValueError(
            f"mixed precision runs on CUDA GPUs and on CPUs, not on {device!r}: leave it off."
        )
    with torch.autocast(device, dtype=torch.bfloat16):
        found = extractor(images.contiguous(memory_format=torch.channels_last))
    return {name: act.float() for name, act in found.items()}


def read(model: nn.Module, layers: str | Sequence[str], images: torch.Tensor) -> Features:
    """Activations of ``layers`` without gradients, keyed like the features objectives get."""
    layers = [layers] if isinstance(layers, str) else list(layers)
    with torch.no_grad():
        found = FeatureExtractor(model, layers)(images.to(device_of(model)))
    return {(id(model), name): act for name, act in found.items()}


def read_reference(model: nn.Module, layer: str, image: torch.Tensor, name: str) -> torch.Tensor:
    """The activation of ``layer`` for one reference image (``name`` in the error messages):
    what an objective that matches a representation compares against."""
    check_batch(image, name, channels=3)
    if image.shape[0] != 1:
        raise ValueError(
            f"{name} must be one image at a time, (1, 3, H, W); got {tuple(image.shape)}."
        )
    return read(model, layer, image)[(id(model), layer)]


# --------------------------------------------------------------------------------------------
# Activations


class Channel(Objective):
    """Minus feature map ``channels[i]`` of ``layer`` for image ``i``, reduced over positions by
    ``"mean"`` or ``"sum"``; on a 2-D layer (``logits``) minus the value ``channels[i]``.
    ``channels``: one index for every image, or one per image."""

    name = "activation"

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        channels: int | Sequence[int],
        reduction: str = "mean",
    ):
        if reduction not in REDUCTIONS:
            raise ValueError(f"Unknown reduction {reduction!r}; use one of {REDUCTIONS}.")
        self.channels = [channels] if isinstance(channels, int) else list(channels)
        if not self.channels:
            raise ValueError("Give at least one channel index.")
        for c in self.channels:
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise ValueError(f"Channel indices must be non-negative integers; got {c!r}.")
        FeatureExtractor(model, layer)  # KeyError for an unknown layer, now
        self.model, self.layer, self.layers, self.reduction = model, layer, (layer,), reduction

    def chosen(self, act: torch.Tensor) -> torch.Tensor:
        """The chosen channel of each image: ``(B,)`` on 2-D layers, ``(B, H, W)`` on maps."""
        count, batch = act.shape[1], act.shape[0]
        bad = [c for c in self.channels if c >= count]
        if bad:
            raise ValueError(
                f"Channel {bad[0]} is out of range for layer {self.layer!r}, which has {count} "
                f"channels (valid: 0 to {count - 1})."
            )
        if len(self.channels) not in (1, batch):
            raise ValueError(
                f"{len(self.channels)} channel indices for a batch of {batch} images: give one "
                "index, or one per image."
            )
        channels = self.channels * batch if len(self.channels) == 1 else self.channels
        index = torch.tensor(channels, device=act.device)
        return act[torch.arange(batch, device=act.device), index]

    def activation(self, act: torch.Tensor) -> torch.Tensor:
        chosen = self.chosen(act)
        if chosen.ndim == 1:
            return chosen
        return chosen.mean((-2, -1)) if self.reduction == "mean" else chosen.sum((-2, -1))

    def compute(self, images, features):
        return -self.activation(features[(id(self.model), self.layer)])

    def activations(self, images: torch.Tensor) -> torch.Tensor:
        """The activation itself (higher is stronger), one per image: ``(B,)``."""
        return -self.per_image(images)


class Neuron(Channel):
    """Minus channel ``channels[i]`` at ``position`` (row, column; the centre by default)."""

    def __init__(self, model, layer, channels, position: tuple[int, int] | None = None):
        super().__init__(model, layer, channels)
        self.position = position

    def activation(self, act: torch.Tensor) -> torch.Tensor:
        chosen = self.chosen(act)
        if chosen.ndim == 1:
            return chosen
        height, width = chosen.shape[-2:]
        row, col = self.position if self.position is not None else (height // 2, width // 2)
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"Position {self.position} is outside the {height}×{width} maps of layer "
                f"{self.layer!r} at this image size."
            )
        return chosen[:, row, col]


class LayerEnergy(Objective):
    """Minus ``½ Σ A²`` over a layer's activations: DeepDream's objective."""

    name = "energy"

    def __init__(self, model: nn.Module, layer: str):
        FeatureExtractor(model, layer)
        self.model, self.layer, self.layers = model, layer, (layer,)

    def compute(self, images, features):
        return -0.5 * features[(id(self.model), self.layer)].pow(2).flatten(1).sum(1)


# --------------------------------------------------------------------------------------------
# Reconstruction (chapter 2)


class FeatureMatch(Objective):
    """``‖Φ(x) − Φ0‖² / ‖Φ0‖²`` at ``layer``, where ``Φ0`` is the representation of
    ``target`` (one image)."""

    name = "feature"

    def __init__(self, model: nn.Module, layer: str, target: torch.Tensor):
        self.model, self.layer, self.layers = model, layer, (layer,)
        self.target = read_reference(model, layer, target, "target")
        if self.target.pow(2).sum() == 0:
            raise ValueError(
                f"The image's representation at {layer!r} is all zeros: there is nothing to "
                "match. Choose another layer or image."
            )

    def compute(self, images, features):
        act = features[(id(self.model), self.layer)]
        dims = tuple(range(1, act.ndim))
        norm = self.target.pow(2).sum(dim=dims).clamp_min(1e-12)
        return (act - self.target).pow(2).sum(dim=dims) / norm


class AlphaNorm(Objective):
    """Mean of ``|x − μ|^α`` per image (μ: ImageNet's mean colour): keeps pixels in range."""

    name = "alpha"

    def __init__(self, alpha: float = 6.0):
        if alpha < 1:
            raise ValueError(f"alpha must be at least 1; got {alpha}.")
        self.alpha = alpha

    def compute(self, images, features):
        check_batch(images, channels=3)
        mean = torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device)
        return (images - mean.view(1, 3, 1, 1)).abs().pow(self.alpha).mean(dim=(1, 2, 3))


class TotalVariation(Objective):
    """Mean over pixels and channels of ``((∂_h x)² + (∂_w x)²)^(β/2)``, per image.

    Forward differences; the last row and column have none (0). Zero for a constant image.
    For β < 2 the square root is smoothed by 1e-12 so that its gradient exists at 0.
    """

    name = "tv"

    def __init__(self, beta: float = 2.0):
        if beta < 1:
            raise ValueError(f"beta must be at least 1; got {beta}.")
        self.beta = beta

    def compute(self, images, features):
        check_batch(images, channels=3)
        dh = torch.zeros_like(images)
        dw = torch.zeros_like(images)
        dh[..., :-1, :] = images[..., 1:, :] - images[..., :-1, :]
        dw[..., :, :-1] = images[..., :, 1:] - images[..., :, :-1]
        squared = dh.pow(2) + dw.pow(2)
        values = squared if self.beta == 2 else (squared + 1e-12).pow(self.beta / 2)
        return values.mean(dim=(1, 2, 3))
