"""Neural style transfer (Gatys, Ecker and Bethge, 2016) and texture synthesis (2015).

The image whose activations at one layer match a content image's and whose Gram matrices match
a style image's (the losses, and their notation, are in ``lib.gram``): the total
``α · content + β · Σ_l w_l E_l`` is minimised over the pixels with L-BFGS through
``lib.optim.optimize``, the pixels clamped to [0, 1] before every evaluation.

The layers and the ratio ``α/β`` are the network's (``lib.networks.role``: ``"content"``,
``"style"``, ``"alpha_beta"``) unless they are given. ``smooth=T`` compares the activations after
Wang, Li and Vasconcelos' softmax smoothing at temperature ``T`` (``lib.gram.smoothed``).

Beyond the paper: a coarse-to-fine schedule (``scales``, through ``lib.multiscale``), a
colour-matched start (``init="matched"``: ``lib.colors.match_colors``), colour preservation by
luminance transfer (``lib.colors.preserve_colors``), and blends of several styles with weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .colors import match_colors, preserve_colors
from .device import device_of
from .gram import (
    ContentLoss,
    StyleLoss,
    activation_entropy,
    content_loss,
    gram_matrix,
    paper_style_loss,
    smoothed,
    style_layer_loss,
)
from .images import check_batch, resize_to
from .multiscale import coarse_to_fine, scaled_sizes
from .networks import role
from .objectives import Objective
from .optim import OptimizerFactory, optimize
from .parametrization import PixelImage

INITS = ("content", "matched", "noise")
# The chapter reads the losses here too (``style.gram_matrix`` is ``lib.gram.gram_matrix``).
__all__ = [
    "ContentLoss",
    "Evaluation",
    "StyleLoss",
    "TransferResult",
    "activation_entropy",
    "content_loss",
    "gram_matrix",
    "paper_style_loss",
    "smoothed",
    "style_layer_loss",
    "style_objective",
    "style_weight_for",
    "transfer",
]


def style_weight_for(model: nn.Module, content_weight: float = 1.0) -> float:
    """``β`` for ``content_weight`` (``α``) at the network's ratio ``α/β`` (its role
    ``"alpha_beta"``): the ratio that works depends on the network and its layers."""
    return content_weight / float(role(model, "alpha_beta"))


def style_objective(
    model: nn.Module,
    content: torch.Tensor | None,
    styles: torch.Tensor | Sequence[torch.Tensor] | None,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    content_weight: float = 1.0,
    style_weight: float | None = None,
    layer_weights: Sequence[float] | None = None,
    blend: Sequence[float] | None = None,
    mixed_precision: bool = False,
    smooth: float | None = None,
) -> Objective:
    """``α · ContentLoss + β · StyleLoss`` (terms ``content`` and ``style``). ``content=None``
    gives texture synthesis (no content term), ``styles=None`` the content term alone.
    Unless given, the layers are the network's roles ``"content"`` and ``"style"``, and
    ``style_weight`` is :func:`style_weight_for` ``content_weight``.
    ``mixed_precision``: the network in bfloat16 with channels-last memory, the Gram matrices
    and losses in float32. ``smooth``: both terms on activations smoothed at that temperature
    (``lib.gram.smoothed``; ``None``: as they are)."""
    styles = [styles] if isinstance(styles, torch.Tensor) else list(styles or [])
    if content is None and not styles:
        raise ValueError("Give a content image, a style image, or both.")
    if styles and style_weight is None:
        style_weight = style_weight_for(model, content_weight)
    if content_weight < 0 or (style_weight or 0) < 0:
        raise ValueError("content_weight and style_weight must be non-negative.")
    terms = []
    if content is not None:
        layer = content_layer if content_layer is not None else role(model, "content")
        terms.append(content_weight * ContentLoss(model, content, layer, smooth))
    if styles:
        layers = style_layers if style_layers is not None else role(model, "style")
        terms.append(style_weight * StyleLoss(model, styles, layers, layer_weights, blend, smooth))
    objective = terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return objective.with_mixed_precision() if mixed_precision else objective


# --------------------------------------------------------------------------------------------
# Transfer


@dataclass
class Evaluation:
    """One evaluation of the objective: when (seconds since ``transfer`` started), at which
    level of a coarse-to-fine schedule, and the total loss."""

    seconds: float
    level: int
    total: float


@dataclass
class TransferResult:
    """The result (the image with the lowest loss among the last level's evaluations), its
    weighted ``terms`` (``content``, ``style``), and every evaluation (``history``); ``losses``
    are the totals of the last (full-size) level, comparable between runs with different
    schedules."""

    image: torch.Tensor
    terms: dict[str, float] = field(default_factory=dict)
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


def transfer(
    model: nn.Module,
    content: torch.Tensor | None,
    style: torch.Tensor | Sequence[torch.Tensor] | None,
    *,
    steps: int | Sequence[int] = 300,
    scales: Sequence[float] = (1.0,),
    content_weight: float = 1.0,
    style_weight: float | None = None,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    layer_weights: Sequence[float] | None = None,
    blend: Sequence[float] | None = None,
    smooth: float | None = None,
    init: str | torch.Tensor = "content",
    size: tuple[int, int] | None = None,
    style_scale: float = 1.0,
    original_colors: bool = False,
    mixed_precision: bool = False,
    optimizer: str | OptimizerFactory = "lbfgs",
    stop_below: float | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
) -> TransferResult:
    """Gatys' style transfer: the image whose ``content_layer`` matches ``content`` and whose
    Gram matrices match ``style`` (or a ``blend`` of several styles). Each level ends with the
    best image it evaluated, which starts the next level or is returned. The layers and the
    weights are those of :func:`style_objective` (the network's roles unless given); ``smooth``
    (a temperature) compares smoothed activations.

    ``steps``: evaluations (L-BFGS iterations), one number per entry of ``scales`` (or one
    number for all). ``scales``: a coarse-to-fine schedule, e.g. ``(0.5, 1.0)``: the transfer
    runs first on images scaled by 0.5 (each evaluation about 4× cheaper), and its result starts
    the next level through ``lib.multiscale.coarse_to_fine``: the next level's start keeps its
    own fine detail and receives the upsampled *change* made at the coarse level. The last scale
    must be 1. ``init``: ``"content"``, ``"matched"`` (the content with the style's colour
    statistics, ``lib.colors.match_colors``), ``"noise"`` (white noise, as in the paper) or an
    image. ``content=None``: texture synthesis, of ``size`` (H, W).
    ``style_scale``: the style image's longest side relative to the content's.
    ``original_colors``: keep the content's colours (``lib.colors.preserve_colors``).
    ``mixed_precision``: see :func:`style_objective`; faster on GPUs and on CPUs with bfloat16
    units, slower on other CPUs. ``optimizer``: a name or a factory of ``lib.optim``
    (L-BFGS with the settings of ``lib.optim.DEFAULTS`` by default).
    ``stop_below``: stop as soon as the full-size loss is at or below this value.
    """
    styles = [style] if isinstance(style, torch.Tensor) else list(style or [])
    if content is None and size is None:
        raise ValueError("Texture synthesis (content=None) needs size=(H, W).")
    full = tuple(content.shape[-2:]) if content is not None else tuple(size)
    scales = list(scales)
    sizes = scaled_sizes(*full, scales)
    steps_per_level = [steps] * len(sizes) if isinstance(steps, int) else list(steps)
    if len(steps_per_level) != len(sizes):
        raise ValueError(f"{len(sizes)} scales but {len(steps_per_level)} step counts.")
    if any(not isinstance(n, int) or n < 1 for n in steps_per_level):
        raise ValueError(f"Each level needs a positive integer of steps; got {steps_per_level}.")
    if content is None and isinstance(init, str) and init == "content":
        init = "noise"
    if isinstance(init, str) and init not in INITS:
        raise ValueError(f"init must be one of {INITS} or an image; got {init!r}.")
    if content is None and isinstance(init, str) and init == "matched":
        raise ValueError("init='matched' recolours the content image: give one, or use 'noise'.")
    device = device_of(model)
    # each style's sizes, level by level
    style_sizes = [scaled_sizes(*_style_size(s, full, style_scale), scales) for s in styles]
    result = TransferResult(image=torch.empty(0), sizes=sizes)
    start = time.perf_counter()
    objectives: list[Objective] = []

    def refine(image: torch.Tensor, level: int) -> torch.Tensor:
        shape = sizes[level]
        objective = style_objective(
            model,
            resize_to(content, shape).to(device) if content is not None else None,
            [resize_to(s, ss[level]).to(device) for s, ss in zip(styles, style_sizes, strict=True)],
            content_layer,
            style_layers,
            content_weight,
            style_weight,
            layer_weights,
            blend,
            mixed_precision,
            smooth,
        )
        objectives.append(objective)
        # The loss handed to the optimiser is scaled so that the start's is 1 (the history keeps
        # the true values). L-BFGS' path does not depend on a constant factor, except that
        # torch's L-BFGS skips curvature pairs with y·s < 1e-10: with tiny losses (small
        # weights, untrained networks) it would fall back to plain gradient steps and stall.
        with torch.no_grad():
            total = objective(image).item()
        scale = 1.0 / total if total > 0 else 1.0
        last = level == len(sizes) - 1

        def record(step: int, loss: float) -> None:
            result.history.append(Evaluation(time.perf_counter() - start, level, loss / scale))

        run = optimize(
            PixelImage(image),
            scale * objective,
            steps_per_level[level],
            optimizer=optimizer,
            stop_below=stop_below * scale if last and stop_below is not None else None,
            on_step=record,
            progress=progress,
            desc=f"level {level + 1}/{len(sizes)} {shape}",
        )
        # L-BFGS without a line search accepts every step, and late in a long run it can jump
        # to a much worse image and take dozens of evaluations to come back: the best image
        # evaluated is kept, not the last one.
        return run.best_image

    if isinstance(init, str) and init == "matched":
        # the full-size images' statistics, so that every level starts alike
        first = match_colors(content.to(device), [s.to(device) for s in styles], blend)
    else:
        first = _initial_image(init, content, full, generator).to(device)
    image = coarse_to_fine(first, sizes, refine)
    with torch.no_grad():
        result.terms = {k: v.sum().item() for k, v in objectives[-1].terms(image).items()}
    if original_colors and content is not None:
        image = preserve_colors(content.to(device), image)
    result.image = image.detach()
    return result


def _style_size(
    style: torch.Tensor, content_size: tuple[int, int], style_scale: float
) -> tuple[int, int]:
    check_batch(style, "style", channels=3)
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
