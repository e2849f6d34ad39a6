"""The losses of neural style transfer (Gatys, Ecker and Bethge, 2016): Gram matrices, the
content loss and the style loss, as objectives of ``lib.objectives``.

Notation, for one layer ``l`` with ``N_l`` channels and ``M_l = H_l · W_l`` positions: ``F`` is
the ``N_l × M_l`` matrix of the image's activations. The *Gram matrix* holds the correlations
between feature maps, summed over positions,

    G_ij = (1 / M_l) Σ_k F_ik F_jk        (this book: divided by M_l = H·W).

Dividing by the number of positions makes ``G`` an average, so it does not depend on the image
size; the style loss of a layer is then the mean squared difference over its ``N_l²`` entries,

    E_l = (1 / N_l²) Σ_ij (G_ij - A_ij)²,

which is exactly 4 times the paper's ``Σ (G - A)² / (4 N_l² M_l²)`` on unnormalised Grams: the
same weighting of the layers as Gatys et al. (see ``paper_style_loss`` and the chapter's table
for the other conventions in use). The content loss is the mean squared difference of the
activations at one layer. The total, ``α · content + β · Σ_l w_l E_l``, is built and minimised
by ``lib.style``.

Gatys' layers are the responses after the ReLU (Caffe computed ReLUs in place, so the blob
named ``conv4_2`` held ``relu4_2``): content ``relu4_2``, style ``relu1_1 … relu5_1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .colors import weighted_mean
from .images import check_batch
from .objectives import Objective, read

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
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


class ContentLoss(Objective):
    """Mean squared difference between the activations at ``layer`` and those of ``content``."""

    name = "content"

    def __init__(self, model: nn.Module, content: torch.Tensor, layer: str = CONTENT_LAYER):
        self.model, self.layer, self.layers = model, layer, (layer,)
        self.target = read(model, layer, content)[(id(model), layer)].float()

    def compute(self, images, features):
        return content_loss(features[(id(self.model), self.layer)], self.target)


class StyleLoss(Objective):
    """``Σ_l w_l E_l``: the Gram matrices of ``layers`` against those of ``styles`` (one image,
    or several mixed with ``blend`` weights); ``layer_weights`` default to ``1 / len(layers)``."""

    name = "style"

    def __init__(
        self,
        model: nn.Module,
        styles: torch.Tensor | Sequence[torch.Tensor],
        layers: Sequence[str] = STYLE_LAYERS,
        layer_weights: Sequence[float] | None = None,
        blend: Sequence[float] | None = None,
    ):
        styles = [styles] if isinstance(styles, torch.Tensor) else list(styles)
        self.layers = tuple(layers)
        if not styles or not self.layers:
            raise ValueError("A style loss needs at least one style image and one style layer.")
        if layer_weights is None:
            layer_weights = [1.0 / len(self.layers)] * len(self.layers)
        if len(layer_weights) != len(self.layers):
            raise ValueError(
                f"{len(self.layers)} style layers but {len(layer_weights)} layer weights."
            )
        self.model, self.layer_weights = model, list(layer_weights)
        per_style = [read(model, self.layers, style) for style in styles]
        blend = list(blend) if blend is not None else [1.0] * len(styles)
        self.targets = {
            layer: weighted_mean([gram_matrix(f[(id(model), layer)]) for f in per_style], blend)
            for layer in self.layers
        }

    def compute(self, images, features):
        return sum(
            weight * style_layer_loss(features[(id(self.model), layer)], self.targets[layer])
            for layer, weight in zip(self.layers, self.layer_weights, strict=True)
        )
