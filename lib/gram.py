"""The losses of neural style transfer (Gatys, Ecker and Bethge, 2016): Gram matrices, the
content loss and the style loss, as objectives of ``lib.objectives``; and the softmax smoothing
of the activations of Wang, Li and Vasconcelos (2021), with the entropy that it raises.

Notation, for one layer ``l`` with ``N_l`` channels and ``M_l = H_l · W_l`` positions: ``F`` is
the ``N_l × M_l`` matrix of the image's activations. The *Gram matrix* holds the correlations
between feature maps, summed over positions,

    G_ij = (1 / M_l) Σ_k F_ik F_jk        (this book: divided by M_l = H·W).

Dividing by the number of positions makes ``G`` an average, so it does not depend on the image
size; the style loss of a layer is then the mean squared difference over its ``N_l²`` entries,

    E_l = (1 / N_l²) Σ_ij (G_ij - A_ij)²,

which is exactly 4 times the paper's ``Σ (G - A)² / (4 N_l² M_l²)`` on unnormalised Grams: the
same weighting of the layers as Gatys et al. (see ``paper_style_loss`` and the appendix's table
for the other conventions in use). The content loss is the mean squared difference of the
activations at one layer. The total, ``α · content + β · Σ_l w_l E_l``, is built and minimised
by ``lib.style``.

The layers are the network's to say: ``lib.networks.role(model, "content")`` and
``role(model, "style")`` (for VGG, Gatys' ``relu4_2`` and ``relu1_1 … relu5_1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .colors import weighted_mean
from .images import check_batch
from .objectives import Objective, read

NORMALIZATIONS = ("hw", "chw", "none")


def gram_matrix(features: torch.Tensor, normalization: str = "hw") -> torch.Tensor:
    """``(B, C, C)`` Gram matrices of ``(B, C, H, W)`` activations.

    ``normalization``: ``"hw"`` divides by the number of positions (this book, and Gatys' own
    code), ``"chw"`` also by the channels (neural-style, d2l, and the PyTorch tutorial's
    a·b·c·d when the batch has one image), ``"none"`` leaves the raw sums (the paper).
    """
    check_batch(features, "gram_matrix's activations")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"Unknown normalization {normalization!r}; use one of {NORMALIZATIONS}.")
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width).float()
    gram = flat @ flat.transpose(1, 2)
    if normalization == "hw":
        gram = gram / (height * width)
    elif normalization == "chw":
        gram = gram / (channels * height * width)
    return gram


def smoothed(features: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Wang, Li and Vasconcelos' activation smoothing: a softmax over all the ``C·H·W``
    activations of each image, ``exp(F / T) / Σ exp(F / T)``, multiplied by ``C·H·W`` so that
    the smoothed activations have mean 1 whatever the size of the layer."""
    check_batch(features, "smoothed's activations")
    if not temperature > 0:
        raise ValueError(f"The temperature must be positive; got {temperature!r}.")
    flat = features.float().flatten(1)
    return (flat.shape[1] * torch.softmax(flat / temperature, dim=1)).reshape(features.shape)


def activation_entropy(features: torch.Tensor) -> torch.Tensor:
    """How evenly each image's activations are spread: the entropy of ``F / Σ F`` over the
    ``C·H·W`` entries, divided by its largest value ``log(C·H·W)``: 1 when every activation is
    equal, towards 0 when a few peaks hold everything. ``(B,)``; the activations must be
    non-negative (rectified, or smoothed)."""
    check_batch(features, "activation_entropy's activations")
    flat = features.float().flatten(1)
    if (flat < 0).any():
        raise ValueError(
            "activation_entropy reads activations as a distribution: they must be non-negative "
            "(a rectified layer, or smoothed ones)."
        )
    p = flat / flat.sum(1, keepdim=True).clamp_min(1e-30)
    return -(p * p.clamp_min(1e-30).log()).sum(1) / math.log(flat.shape[1])


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between activations and the content's activations, per image."""
    if features.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"Content activations of shape {tuple(features.shape)} cannot be compared with a "
            f"target of shape {tuple(target.shape)}: compute the target on an image of the same "
            "size as the one optimised."
        )
    return (features.float() - target.float()).pow(2).flatten(1).mean(1)


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """``E_l``: mean squared difference between the Gram of ``features`` and ``target_gram``,
    per image."""
    gram = gram_matrix(features)
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise ValueError(
            f"A Gram matrix of size {tuple(gram.shape[-2:])} cannot be compared with a target of "
            f"size {tuple(target_gram.shape[-2:])}: the target comes from another layer."
        )
    return (gram - target_gram).pow(2).flatten(1).mean(1)


def paper_style_loss(features: torch.Tensor, style_features: torch.Tensor) -> torch.Tensor:
    """The paper's ``E_l = Σ (G - A)² / (4 N² M²)`` with raw Gram matrices (for comparison)."""
    channels, positions = features.shape[1], features.shape[2] * features.shape[3]
    diff = gram_matrix(features, "none") - gram_matrix(style_features, "none")
    return diff.pow(2).sum() / (4 * channels**2 * positions**2)


class _Smoothable(Objective):
    """A term that reads its layers' activations as they are (``smooth=None``) or smoothed at
    the temperature ``smooth``."""

    smooth: float | None = None

    def _read(self, features, layer: str) -> torch.Tensor:
        found = features[(id(self.model), layer)]
        return found if self.smooth is None else smoothed(found, self.smooth)


class ContentLoss(_Smoothable):
    """Mean squared difference between the activations at ``layer`` and those of ``content``
    (both smoothed at temperature ``smooth`` unless it is ``None``)."""

    name = "content"

    def __init__(
        self, model: nn.Module, content: torch.Tensor, layer: str, smooth: float | None = None
    ):
        self.model, self.layer, self.layers, self.smooth = model, layer, (layer,), smooth
        self.target = self._read(read(model, layer, content), layer).float()

    def compute(self, images, features):
        return content_loss(self._read(features, self.layer), self.target)


class StyleLoss(_Smoothable):
    """``Σ_l w_l E_l``: the Gram matrices of ``layers`` against those of ``styles`` (one image,
    or several mixed with ``blend`` weights); ``layer_weights`` default to ``1 / len(layers)``.
    ``smooth``: the Gram matrices of the activations smoothed at that temperature."""

    name = "style"

    def __init__(
        self,
        model: nn.Module,
        styles: torch.Tensor | Sequence[torch.Tensor],
        layers: Sequence[str],
        layer_weights: Sequence[float] | None = None,
        blend: Sequence[float] | None = None,
        smooth: float | None = None,
    ):
        styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
        self.layers = (layers,) if isinstance(layers, str) else tuple(layers)
        if not styles or not self.layers:
            raise ValueError("A style loss needs at least one style image and one style layer.")
        if layer_weights is None:
            layer_weights = [1.0 / len(self.layers)] * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError(
                f"{len(self.layers)} style layers but {len(layer_weights)} layer weights."
            )
        self.model, self.layer_weights, self.smooth = model, list(layer_weights), smooth
        per_style = [read(model, self.layers, style) for style in styles]
        blend = list(blend) if blend is not None else [1.0] * len(styles)
        self.targets = {
            layer: weighted_mean([gram_matrix(self._read(f, layer)) for f in per_style], blend)
            for layer in self.layers
        }

    def compute(self, images, features):
        return sum(
            weight * style_layer_loss(self._read(features, layer), self.targets[layer])
            for layer, weight in zip(self.layers, self.layer_weights, strict=True)
        )
