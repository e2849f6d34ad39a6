"""Recreating an image from its representation: feature inversion (Mahendran & Vedaldi, 2015).

Given an image ``x0`` and the activation ``Φ0 = Φ(x0)`` of one layer, start from noise and look
for an image ``x`` whose activation is the same, by gradient descent on

    E(x) = ‖Φ(x) − Φ0‖² / ‖Φ0‖²  +  (λ_α / 2) ‖X‖_α^α / Z  +  (λ_V / 2) TV_β(X) / Z

- ``X = 255 (x − μ)``: the image in the units of the paper (0-255, ImageNet mean removed);
- ``‖X‖_α^α = Σ |X|^α`` with α = 6, keeps the pixels in a natural range;
- ``TV_β(X) = Σ ((∂_h X)² + (∂_w X)²)^(β/2)`` with β = 2, penalises high frequencies (β = 1
  gives spikes, the paper's Fig. 2);
- ``Z = N (255 σ)²`` is the squared norm of a typical image of ``N = 3HW`` values (σ: the pixel
  standard deviation of natural images), which makes the three terms comparable;
- λ_α = 8·10⁻¹⁰ and λ_V = 1, 10 or 100 for shallow, middle and deep layers, as in the paper's
  experiments: each network's description gives λ_V for the layers of its role ``"inversion"``
  (``{layer: λ_V}``, ``lib.zoo``), which :func:`paper_weights` reads.

All weights live in :class:`InversionWeights`; :func:`inversion_objective` adds up the three
terms from ``lib.objectives``. Several random starts are inverted together as one batch;
:func:`invert` returns the images and their errors: the normalised feature error (the
number the paper reports), the pixel error (RMSE) and SSIM (scikit-image) against ``x0``.
:func:`pairwise_distances` compares reconstructions with one another in the same two measures;
:func:`term_history` follows the three terms of ``E`` along the descent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import networks
from .device import device_of
from .features import FeatureExtractor
from .images import IMAGENET_STD, check_batch
from .objectives import AlphaNorm, FeatureMatch, Objective, TotalVariation
from .optim import OptimizerFactory, optimize
from .parametrization import PixelImage

PIXEL_SCALE = 255.0  # the paper's images are in 0-255
PIXEL_SIGMA = float(np.mean(IMAGENET_STD))  # σ of natural images' pixels, in [0, 1] units


@dataclass(frozen=True)
class InversionWeights:
    """Every weight and exponent of the inversion objective, in one place."""

    lambda_tv: float  # weight of the total variation (λ_V): the paper's depends on the layer
    alpha: float = 6.0  # exponent of the α-norm
    beta: float = 2.0  # exponent of the total variation
    lambda_alpha: float = 8e-10  # weight of the α-norm (paper units: 0-255 pixels)

    def __post_init__(self):
        if self.alpha < 1 or self.beta < 1:
            raise ValueError(f"alpha and beta must be at least 1; got {self.alpha}, {self.beta}.")
        if self.lambda_alpha < 0 or self.lambda_tv < 0:
            raise ValueError("The weights lambda_alpha and lambda_tv must be non-negative.")


def paper_weights(model: nn.Module, layer: str) -> InversionWeights:
    """The paper's weights for ``layer`` of ``model``, with λ_V from the network's role
    ``"inversion"`` (``{layer: λ_V}``); a layer the role does not list is an error."""
    by_layer = networks.role(model, "inversion")
    if layer not in by_layer:
        raise KeyError(
            f"{networks.title(model)} gives no λ_V for layer {layer!r}: its role 'inversion' "
            f"lists {', '.join(by_layer)}. Pass weights=InversionWeights(lambda_tv=...), or add "
            "the layer to the network's description."
        )
    return InversionWeights(lambda_tv=float(by_layer[layer]))


def inversion_objective(
    model: nn.Module,
    layer: str,
    target: torch.Tensor,
    weights: InversionWeights | None = None,
    lambda_tv: float | Sequence[float] | None = None,
) -> Objective:
    """``E(x)`` above, for a batch of candidate images sharing one target representation: the
    terms ``feature``, ``alpha`` and ``tv`` of ``objective.terms(images)``.

    ``weights`` defaults to :func:`paper_weights`; ``lambda_tv`` overrides λ_V, with one number
    or one per image (a sweep in one batch).
    """
    w = weights or paper_weights(model, layer)
    tv = torch.as_tensor(w.lambda_tv if lambda_tv is None else lambda_tv, dtype=torch.float32)
    if (tv < 0).any():
        raise ValueError("lambda_tv must be non-negative.")
    z = PIXEL_SIGMA**2  # Z / (N 255²): the pixel terms are already means over N values
    alpha_weight = (w.lambda_alpha / 2) * PIXEL_SCALE ** (w.alpha - 2) / z
    tv_weight = (tv.flatten() / 2) * PIXEL_SCALE ** (w.beta - 2) / z
    return (
        FeatureMatch(model, layer, target)
        + alpha_weight * AlphaNorm(w.alpha)
        + tv_weight * TotalVariation(w.beta)
    )


@dataclass
class InversionResult:
    """Reconstructions ``(S, 3, H, W)`` from ``S`` starts, and their errors (one per start)."""

    layer: str
    images: torch.Tensor
    losses: list[float]
    feature_error: torch.Tensor
    pixel_error: torch.Tensor
    ssim: torch.Tensor
    weights: InversionWeights
    lambda_tv: torch.Tensor  # λ_V used for each start
    snapshots: list[tuple[int, torch.Tensor]]  # (step, images), from step 0: the starts


def pixel_error(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Root-mean-square difference per image, in [0, 1] units: ``(B,)``."""
    check_batch(images, channels=3)
    return (images - reference.to(images.device)).pow(2).mean(dim=(1, 2, 3)).sqrt()


def ssim(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Structural similarity (Wang et al., 2004; scikit-image) of each image with ``reference``:
    1 for identical images, about 0 for unrelated ones. ``(B,)``."""
    from skimage.metrics import structural_similarity

    check_batch(images, channels=3)
    ref = reference[0].detach().float().cpu().permute(1, 2, 0).numpy()
    values = []
    for image in images.detach().float().cpu():
        values.append(
            structural_similarity(
                image.permute(1, 2, 0).numpy(), ref, channel_axis=-1, data_range=1.0
            )
        )
    return torch.tensor(values)


def invert(
    model: nn.Module,
    layer: str,
    target: torch.Tensor,
    steps: int,
    starts: int = 1,
    optimizer: str | OptimizerFactory = "adam",
    weights: InversionWeights | None = None,
    lambda_tv: float | Sequence[float] | None = None,
    init_std: float = PIXEL_SIGMA,
    generator: torch.Generator | None = None,
    snapshot_every: int | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> InversionResult:
    """Reconstruct ``target`` (one ``(1, 3, H, W)`` image in [0, 1]) from its ``layer``.

    ``starts`` random starts (grey plus Gaussian noise of std ``init_std``, drawn from
    ``generator``) are optimised together as one batch, ``steps`` steps of ``optimizer``
    (a name or a factory of ``lib.optim``; Adam by default). ``weights`` defaults to
    :func:`paper_weights`; ``lambda_tv`` overrides λ_V, with one value or one per start.
    ``snapshot_every`` keeps the images every so many steps, the starts first (step 0).
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if not isinstance(starts, int) or starts < 1:
        raise ValueError(f"starts must be a positive integer; got {starts!r}.")
    if lambda_tv is not None and not isinstance(lambda_tv, int | float):
        if len(lambda_tv) != starts:
            raise ValueError(
                f"{len(lambda_tv)} values of lambda_tv for {starts} starts: give "
                "one value, or one per start."
            )
    weights = weights or paper_weights(model, layer)
    objective = inversion_objective(model, layer, target, weights, lambda_tv)
    device = device_of(model)
    height, width = target.shape[-2:]
    image = PixelImage.noise(
        starts, height, width, std=init_std, generator=generator, device=device
    )
    start = [(0, image().detach().cpu().clone())] if snapshot_every else []
    result = optimize(
        image,
        objective,
        steps,
        optimizer=optimizer,
        snapshot_every=snapshot_every,
        progress=progress,
        desc=desc or layer,
    )
    images = result.image
    with torch.no_grad():
        errors = objective.terms(images)["feature"].cpu()
    target = target.to(images.device)
    return InversionResult(
        layer=layer,
        images=images.cpu(),
        losses=result.losses,
        feature_error=errors,
        pixel_error=pixel_error(images, target).cpu(),
        ssim=ssim(images, target),
        weights=weights,
        lambda_tv=torch.as_tensor(
            weights.lambda_tv if lambda_tv is None else lambda_tv, dtype=torch.float32
        ).expand(starts),
        snapshots=start + result.snapshots,
    )


@torch.no_grad()
def term_history(
    model: nn.Module, result: InversionResult, target: torch.Tensor, start: int = 0
) -> dict[str, list[float]]:
    """The terms of ``E`` (``feature``, ``alpha``, ``tv``, weighted as in the descent) at each
    snapshot of ``result`` (step 0 first), for one of its starts."""
    if not result.snapshots:
        raise ValueError("The result has no snapshots: invert with snapshot_every=... .")
    if not 0 <= start < len(result.lambda_tv):
        raise ValueError(f"start must be one of 0..{len(result.lambda_tv) - 1}; got {start}.")
    objective = inversion_objective(
        model, result.layer, target, result.weights, result.lambda_tv[start].item()
    )
    history: dict[str, list[float]] = {}
    for _, images in result.snapshots:
        terms = objective.terms(images[start : start + 1].to(device_of(model)))
        for name, value in terms.items():
            history.setdefault(name, []).append(value.item())
    return history


def invert_layers(
    model: nn.Module,
    layers: Sequence[str],
    target: torch.Tensor,
    steps: int,
    starts: int = 1,
    seed: int = 0,
    **options,
) -> dict[str, InversionResult]:
    """:func:`invert` for each layer (the same seed for each, so the starts are the same)."""
    if not layers:
        raise ValueError("Give at least one layer.")
    return {
        layer: invert(
            model,
            layer,
            target,
            steps,
            starts=starts,
            generator=torch.Generator().manual_seed(seed),
            **options,
        )
        for layer in layers
    }


@torch.no_grad()
def pairwise_distances(
    model: nn.Module, layer: str, images: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For reconstructions ``images`` of ``target``: the ``(S, S)`` matrices of pixel RMSE and
    of feature distance ``‖Φ(x_i) − Φ(x_j)‖² / ‖Φ0‖²`` between every pair: the measures of
    :func:`pixel_error` and of the feature error, so that a distance between two
    reconstructions compares with their distance from ``target``."""
    check_batch(images, channels=3)
    device = device_of(model)
    extractor = FeatureExtractor(model, layer)
    feats = extractor(images.to(device))[layer].flatten(1)
    norm = extractor(target.to(device))[layer].flatten().pow(2).sum().clamp_min(1e-12)
    pixels = images.flatten(1).to(device)
    pixel = torch.cdist(pixels, pixels) / pixels.shape[1] ** 0.5
    feature = torch.cdist(feats, feats).pow(2) / norm
    return pixel.cpu(), feature.cpu()


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """The values above the diagonal of a square matrix (each pair once)."""
    rows, cols = torch.triu_indices(len(matrix), len(matrix), offset=1)
    return matrix[rows, cols]
