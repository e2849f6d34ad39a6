"""Neural style transfer (Gatys, Ecker and Bethge, 2016) and texture synthesis (2015).

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
activations at one layer. The total is ``α · content + β · Σ_l w_l E_l``, minimised over the
pixels with L-BFGS (``torch.optim.LBFGS``), the pixels clamped to [0, 1] before every
evaluation.

Gatys' layers are the responses after the ReLU (Caffe computed ReLUs in place, so the blob
named ``conv4_2`` held ``relu4_2``): content ``relu4_2``, style ``relu1_1 … relu5_1``.

Beyond the paper: a coarse-to-fine schedule (``scales``), a colour-matched start
(``init="matched"``: the content with the style's colour mean and covariance, the linear colour
transfer of Gatys et al., 2016b, used the other way round), colour preservation by luminance
transfer (Gatys et al., 2016b), and blends of several styles with weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .features import FeatureExtractor
from .images import resize_to
from .optim import optimize
from .parametrization import PixelImage

CONTENT_LAYER = "relu4_2"
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
NORMALIZATIONS = ("hw", "chw", "none")
INITS = ("content", "matched", "noise")


# --------------------------------------------------------------------------------------------
# Gram matrices and losses


def gram_matrix(features: torch.Tensor, normalization: str = "hw") -> torch.Tensor:
    """``(B, C, C)`` Gram matrices of ``(B, C, H, W)`` activations.

    ``normalization``: ``"hw"`` divides by the number of positions (this book, and Gatys' own
    code), ``"chw"`` also by the channels (neural-style, d2l, and the PyTorch tutorial's
    a·b·c·d when the batch has one image), ``"none"`` leaves the raw sums (the paper).
    """
    if features.ndim != 4:
        raise ValueError(
            f"gram_matrix expects activations of shape (B, C, H, W); got {tuple(features.shape)}."
        )
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
    """Mean squared difference between activations and the content's activations."""
    if features.shape[1:] != target.shape[1:]:
        raise ValueError(
            f"Content activations of shape {tuple(features.shape)} cannot be compared with a "
            f"target of shape {tuple(target.shape)}: compute the target on an image of the same "
            "size as the one optimised."
        )
    return (features.float() - target.float()).pow(2).mean()


def style_layer_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """``E_l``: mean squared difference between the Gram of ``features`` and ``target_gram``."""
    gram = gram_matrix(features)
    if gram.shape[-2:] != target_gram.shape[-2:]:
        raise ValueError(
            f"A Gram matrix of size {tuple(gram.shape[-2:])} cannot be compared with a target of "
            f"size {tuple(target_gram.shape[-2:])}: the target comes from another layer."
        )
    return (gram - target_gram).pow(2).mean()


def paper_style_loss(features: torch.Tensor, style_features: torch.Tensor) -> torch.Tensor:
    """The paper's ``E_l = Σ (G - A)² / (4 N² M²)`` with raw Gram matrices (for comparison)."""
    channels, positions = features.shape[1], features.shape[2] * features.shape[3]
    diff = gram_matrix(features, "none") - gram_matrix(style_features, "none")
    return diff.pow(2).sum() / (4 * channels**2 * positions**2)


def blend_grams(grams: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """``Σ_k w_k A_k`` with the weights normalised to sum to 1.

    Minimising ``Σ_k w_k ‖G - A_k‖²`` and ``‖G - Σ_k w_k A_k‖²`` gives the same image (they differ
    by a constant), so one blended target per layer is enough.
    """
    if len(grams) != len(weights):
        raise ValueError(f"{len(grams)} styles but {len(weights)} blend weights.")
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"Blend weights must be non-negative with a positive sum; got {weights}.")
    total = float(sum(weights))
    return sum(w / total * g for w, g in zip(weights, grams, strict=True))


# --------------------------------------------------------------------------------------------
# The objective


class TargetReached(Exception):
    """Raised inside the objective when the loss reaches ``stop_below`` (caught by ``transfer``)."""


@dataclass
class Evaluation:
    """One evaluation of the objective: when (seconds since the objective was made), at which
    level of a coarse-to-fine schedule, and the weighted terms."""

    seconds: float
    level: int
    total: float
    content: float
    style: float


class StyleObjective:
    """``images -> α · content + β · Σ_l w_l E_l``; targets are computed once, at construction.

    ``content=None`` gives pure texture synthesis (no content term). ``styles`` is one image or
    several with ``blend`` weights. Every call is recorded in ``history`` with a time stamp.
    """

    def __init__(
        self,
        model: nn.Module,
        content: torch.Tensor | None,
        styles: torch.Tensor | Sequence[torch.Tensor] | None,
        content_layer: str = CONTENT_LAYER,
        style_layers: Sequence[str] = STYLE_LAYERS,
        content_weight: float = 1.0,
        style_weight: float = 1e3,
        layer_weights: Sequence[float] | None = None,
        blend: Sequence[float] | None = None,
        mixed_precision: bool = False,
        level: int = 0,
        start: float | None = None,
    ):
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        styles = list(styles or [])
        style_layers = list(style_layers) if styles else []
        if content is None and not styles:
            raise ValueError("Give a content image, a style image, or both.")
        if content_weight < 0 or style_weight < 0:
            raise ValueError("content_weight and style_weight must be non-negative.")
        if styles and not style_layers:
            raise ValueError("A style image needs at least one style layer.")
        if layer_weights is None:
            layer_weights = [1.0 / len(style_layers)] * len(style_layers) if style_layers else []
        if len(layer_weights) != len(style_layers):
            raise ValueError(
                f"{len(style_layers)} style layers but {len(layer_weights)} layer weights."
            )
        blend = list(blend) if blend is not None else [1.0] * len(styles)
        layers = ([content_layer] if content is not None else []) + style_layers
        self.extractor = FeatureExtractor(model, list(dict.fromkeys(layers)))
        self.device = next(model.parameters()).device
        self.content_layer = content_layer if content is not None else None
        self.style_layers = style_layers
        self.layer_weights = list(layer_weights)
        self.content_weight = content_weight
        self.style_weight = style_weight
        if mixed_precision and self.device.type not in ("cuda", "cpu"):
            raise ValueError(
                f"mixed_precision runs on CUDA GPUs and on CPUs, not on {self.device.type!r}: "
                "leave it off there."
            )
        self.mixed_precision = mixed_precision
        self.level = level
        self.start = time.perf_counter() if start is None else start
        self.history: list[Evaluation] = []
        with torch.no_grad():
            self.content_target = None
            if content is not None:
                self.content_target = self._features(content)[content_layer].float()
            per_style = [self._features(style) for style in styles]
            self.style_targets = {
                layer: blend_grams([gram_matrix(f[layer]) for f in per_style], blend)
                for layer in style_layers
            }

    def _features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = images.to(self.device)
        if not self.mixed_precision:
            return self.extractor(images)
        images = images.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self.extractor(images)

    def terms(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The weighted content and style terms (``α · L_content``, ``β · Σ w_l E_l``)."""
        features = self._features(images)
        zero = torch.zeros((), device=self.device)
        content = zero
        if self.content_target is not None:
            content = self.content_weight * content_loss(
                features[self.content_layer], self.content_target
            )
        style = zero
        for layer, weight in zip(self.style_layers, self.layer_weights, strict=True):
            style = style + weight * style_layer_loss(features[layer], self.style_targets[layer])
        return content, self.style_weight * style

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        content, style = self.terms(images)
        total = content + style
        value = total.item()
        self.history.append(
            Evaluation(
                time.perf_counter() - self.start, self.level, value, content.item(), style.item()
            )
        )
        if value < self.best_total:
            self.best_total, self.best_image = value, images.detach().clone()
        if self.stop_below is not None and value <= self.stop_below:
            raise TargetReached
        return total * self.scale

    # The loss handed to the optimiser is multiplied by ``scale`` (the history keeps the true
    # values). L-BFGS' path does not depend on a constant factor, except that torch's L-BFGS
    # skips curvature pairs with y·s < 1e-10: with tiny losses (small weights, untrained
    # networks) it would fall back to plain gradient steps and stall.
    scale: float = 1.0
    stop_below: float | None = None
    # L-BFGS without a line search accepts every step, and late in a long run it can jump to a
    # much worse image and take dozens of evaluations to come back: the best image evaluated so
    # far is kept, and ``transfer`` returns it rather than the last one.
    best_total: float = float("inf")
    best_image: torch.Tensor | None = None

    @torch.no_grad()
    def rescale(self, images: torch.Tensor) -> float:
        """Set ``scale`` so that the loss of ``images`` (the starting point) is 1."""
        content, style = self.terms(images)
        total = (content + style).item()
        self.scale = 1.0 / total if total > 0 else 1.0
        return self.scale


# --------------------------------------------------------------------------------------------
# Transfer


@dataclass
class TransferResult:
    """The result (the image with the lowest loss among the last level's evaluations) and every
    evaluation (``history``); ``losses`` are the totals of the last (full-size) level,
    comparable between runs with different schedules."""

    image: torch.Tensor
    history: list[Evaluation] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)

    @property
    def final_level(self) -> list[Evaluation]:
        """The evaluations of the last (full-size) level."""
        return [e for e in self.history if e.level == len(self.sizes) - 1]

    @property
    def losses(self) -> list[float]:
        return [e.total for e in self.final_level]

    @property
    def best(self) -> Evaluation:
        """The evaluation of ``image``: the one with the lowest total in the last level."""
        return min(self.final_level, key=lambda e: e.total)


def _scaled(size: tuple[int, int], factor: float) -> tuple[int, int]:
    return (max(16, round(size[0] * factor)), max(16, round(size[1] * factor)))


def transfer(
    model: nn.Module,
    content: torch.Tensor | None,
    style: torch.Tensor | Sequence[torch.Tensor] | None,
    *,
    steps: int | Sequence[int] = 300,
    scales: Sequence[float] = (1.0,),
    content_weight: float = 1.0,
    style_weight: float = 1e3,
    content_layer: str = CONTENT_LAYER,
    style_layers: Sequence[str] = STYLE_LAYERS,
    layer_weights: Sequence[float] | None = None,
    blend: Sequence[float] | None = None,
    init: str | torch.Tensor = "content",
    size: tuple[int, int] | None = None,
    style_scale: float = 1.0,
    original_colors: bool = False,
    mixed_precision: bool = False,
    lr: float = 1.0,
    history_size: int = 100,
    stop_below: float | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> TransferResult:
    """Gatys' style transfer: the image whose ``content_layer`` matches ``content`` and whose
    Gram matrices match ``style`` (or a ``blend`` of several styles). Each level ends with the
    best image it evaluated, which starts the next level or is returned.

    ``steps``: L-BFGS evaluations, one number per entry of ``scales`` (or one number for all).
    ``scales``: a coarse-to-fine schedule, e.g. ``(0.5, 1.0)``: the transfer runs first on
    images scaled by 0.5 (each evaluation about 4× cheaper), and its result, upsampled, starts
    the next level: the next level's start keeps its own fine detail and receives the upsampled
    *change* made at the coarse level. The last scale must be 1. ``init``: ``"content"``,
    ``"matched"`` (the content with the style's colour statistics, ``match_colors``),
    ``"noise"`` (white noise, as in the paper) or an image. ``content=None``: texture
    synthesis, of ``size`` (H, W).
    ``style_scale``: the style image's longest side relative to the content's.
    ``original_colors``: keep the content's colours (``preserve_colors`` below).
    ``mixed_precision``: the network in bfloat16 with channels-last memory, the Gram matrices and
    losses in float32: faster on GPUs and on CPUs with bfloat16 units, slower on other CPUs.
    ``lr``, ``history_size``: L-BFGS' step and the number of curvature pairs it keeps.
    ``stop_below``: stop as soon as the full-size loss is at or below this value.
    """
    styles = [style] if isinstance(style, torch.Tensor) else list(style or [])
    scales = list(scales)
    if not scales or scales[-1] != 1.0 or any(not 0 < s <= 1 for s in scales):
        raise ValueError(f"scales must lie in (0, 1] and end with 1.0; got {scales}.")
    steps_per_level = [steps] * len(scales) if isinstance(steps, int) else list(steps)
    if len(steps_per_level) != len(scales):
        raise ValueError(f"{len(scales)} scales but {len(steps_per_level)} step counts.")
    if any(not isinstance(n, int) or n < 1 for n in steps_per_level):
        raise ValueError(f"Each level needs a positive integer of steps; got {steps_per_level}.")
    if content is None and size is None:
        raise ValueError("Texture synthesis (content=None) needs size=(H, W).")
    if content is None and isinstance(init, str) and init == "content":
        init = "noise"
    if isinstance(init, str) and init not in INITS:
        raise ValueError(f"init must be one of {INITS} or an image; got {init!r}.")
    if content is None and isinstance(init, str) and init == "matched":
        raise ValueError("init='matched' recolours the content image: give one, or use 'noise'.")
    if not isinstance(history_size, int) or history_size < 1:
        raise ValueError(f"history_size must be a positive integer; got {history_size!r}.")
    device = next(model.parameters()).device
    full = tuple(content.shape[-2:]) if content is not None else tuple(size)
    style_full = [_style_size(s, full, style_scale) for s in styles]
    result = TransferResult(image=torch.empty(0))
    start = time.perf_counter()
    image = None
    for level, (factor, count) in enumerate(zip(scales, steps_per_level, strict=True)):
        shape = _scaled(full, factor)
        result.sizes.append(shape)
        level_content = resize_to(content, shape).to(device) if content is not None else None
        level_styles = [
            resize_to(s, _scaled(sf, factor)).to(device)
            for s, sf in zip(styles, style_full, strict=True)
        ]
        objective = StyleObjective(
            model,
            level_content,
            level_styles,
            content_layer,
            style_layers,
            content_weight,
            style_weight,
            layer_weights,
            blend,
            mixed_precision,
            level,
            start,
        )
        if image is None:
            if isinstance(init, str) and init == "matched":
                # the full-size images' statistics, so that every level starts alike
                first = match_colors(content.to(device), [s.to(device) for s in styles], blend)
            else:
                first = _initial_image(init, content, full, generator).to(device)
            image = resize_to(first, shape)
        else:
            # This level's start plus the change the coarser level made, upsampled: the fine
            # detail that the coarse level could not see is kept, not blurred away.
            begin = resize_to(first, shape)
            change = image - resize_to(first, tuple(image.shape[-2:]))
            up = F.interpolate(change, size=shape, mode="bilinear", align_corners=False)
            image = (begin + up).clamp(0, 1)
        objective.rescale(image)
        if level == len(scales) - 1:
            objective.stop_below = stop_below
        try:
            optimize(
                PixelImage(image),
                objective,
                count,
                optimizer="lbfgs",
                lr=lr,
                history_size=history_size,
                progress=progress,
                desc=f"level {level + 1}/{len(scales)} {tuple(image.shape[-2:])}",
            )
        except TargetReached:
            pass  # the image that reached the target is the best one evaluated
        image = objective.best_image
        result.history += objective.history
    if original_colors and content is not None:
        image = preserve_colors(content.to(device), image)
    result.image = image.detach()
    return result


def _style_size(
    style: torch.Tensor, content_size: tuple[int, int], style_scale: float
) -> tuple[int, int]:
    if not style_scale > 0:
        raise ValueError(f"style_scale must be positive; got {style_scale!r}.")
    longest = max(content_size) * style_scale
    factor = longest / max(style.shape[-2:])
    return (round(style.shape[-2] * factor), round(style.shape[-1] * factor))


def _initial_image(init, content, shape, generator) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        return resize_to(init, shape)
    if init == "content":
        return content.clone()
    return torch.rand(1, 3, *shape, generator=generator)


# --------------------------------------------------------------------------------------------
# Colours


_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]]
)


def rgb_to_yiq(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] to YIQ: Y is the luminance, I and Q the chrominance."""
    return torch.einsum("ij,bjhw->bihw", _YIQ.to(images), images)


def yiq_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """The inverse of ``rgb_to_yiq`` (not clamped)."""
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_YIQ).to(images), images)


def _colour_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean ``(3, 1)`` and covariance ``(3, 3)`` of the pixels of a batch."""
    flat = images.float().transpose(0, 1).reshape(images.shape[1], -1)
    mean = flat.mean(1, keepdim=True)
    centred = flat - mean
    return mean, centred @ centred.T / centred.shape[1]


def _sqrtm(cov: torch.Tensor, inverse: bool = False, eps: float = 1e-5) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(cov + eps * torch.eye(len(cov), device=cov.device))
    values = values.clamp_min(eps)
    return vectors @ torch.diag(values.rsqrt() if inverse else values.sqrt()) @ vectors.T


def match_colors(
    image: torch.Tensor,
    references: torch.Tensor | Sequence[torch.Tensor],
    blend: Sequence[float] | None = None,
) -> torch.Tensor:
    """``image`` recoloured so that its pixels have the per-channel mean ``μ_s`` and the 3×3
    covariance ``Σ_s`` of ``references`` (a blend of several with weights):

        x' = Σ_s^{1/2} Σ_x^{-1/2} (x - μ_x) + μ_s,

    the linear colour transfer of Gatys et al. (2016b), who recolour the style image to the
    content's palette; here the content takes the style's palette, a start for ``transfer``
    whose lowest-layer Gram matrices are already close to the style's. Clamped to [0, 1]."""
    refs = [references] if isinstance(references, torch.Tensor) else list(references)
    if not refs:
        raise ValueError("match_colors needs at least one reference image.")
    if any(r.ndim != 4 or r.shape[1] != 3 for r in [image, *refs]):
        raise ValueError("match_colors needs RGB batches of shape (B, 3, H, W).")
    weights = list(blend) if blend is not None else [1.0] * len(refs)
    stats = [_colour_stats(r) for r in refs]
    # the statistics of the mixture of the references' pixels
    mean = blend_grams([m for m, _ in stats], weights)
    second = blend_grams([c + m @ m.T for m, c in stats], weights)
    cov = second - mean @ mean.T
    own_mean, own_cov = _colour_stats(image)
    transform = _sqrtm(cov) @ _sqrtm(own_cov, inverse=True)
    flat = image.float().transpose(0, 1).reshape(3, -1)
    out = transform @ (flat - own_mean) + mean
    return out.reshape(3, image.shape[0], *image.shape[2:]).transpose(0, 1).clamp(0, 1)


def preserve_colors(content: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
    """Luminance transfer (Gatys et al., 2016b): the stylised image's luminance Y with the
    content's chrominance I, Q. The style's strokes and textures stay; its palette goes."""
    if content.shape[1] != 3 or stylized.shape[1] != 3:
        raise ValueError("preserve_colors needs two RGB images (B, 3, H, W).")
    content = resize_to(content, tuple(stylized.shape[-2:]))
    mixed = torch.cat([rgb_to_yiq(stylized)[:, :1], rgb_to_yiq(content)[:, 1:]], dim=1)
    return yiq_to_rgb(mixed).clamp(0, 1)
