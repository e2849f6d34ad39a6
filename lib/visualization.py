"""Activation maximisation: images that make a chosen unit of a network fire strongly.

Erhan et al. (2009): start from an image (noise, or a photo) and change its pixels by gradient
ascent on the activation of one unit. The unit can be a whole channel of a layer (the mean of one
feature map), a single neuron (one position of that map) or a class logit. The optimisation loop
is :func:`lib.optim.optimize`, which minimises: the objectives (``lib.objectives.Channel`` and
``Neuron``) return the *negative* activation.

Several channels of the same layer are optimised together, one image per channel in one batch:
the forward pass is shared and the cost grows less than linearly with the batch.

A channel that is off everywhere on the starting image passes no gradient at all:
``lib.passthrough.relu_passthrough`` redirects the gradient past the rectifiers in the first
steps of the optimisation.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .device import device_of
from .features import FeatureExtractor
from .images import check_batch, radial_frequency
from .networks import layer_names
from .objectives import Channel, Neuron
from .optim import OptimizerFactory, OptimResult, optimize
from .parametrization import FourierImage, PixelImage
from .passthrough import relu_passthrough
from .transforms import Transform, standard_robustness

KINDS = ("channel", "neuron")
PARAMETRIZATIONS = ("fft", "pixel")


# --------------------------------------------------------------------------------------------
# The visualisation itself
# --------------------------------------------------------------------------------------------


def _objective(model, layer, channels, kind="channel", position=None) -> Channel:
    if kind not in KINDS:
        raise ValueError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
    if kind == "neuron":
        return Neuron(model, layer, channels, position)
    return Channel(model, layer, channels)


def make_image(
    parametrization: str,
    batch: int,
    size: int,
    generator: torch.Generator | None = None,
    device=None,
    start: torch.Tensor | None = None,
) -> nn.Module:
    """A fresh image to optimise: ``"fft"`` (FFT + decorrelated colour) or ``"pixel"``.
    With ``start`` (a ``(1, 3, H, W)`` photo), a pixel image initialised with it."""
    if start is not None:
        check_batch(start, "start", channels=3)
        if start.shape[0] != 1:
            raise ValueError(f"start must be one (1, 3, H, W) image; got {tuple(start.shape)}.")
        return PixelImage(start.repeat(batch, 1, 1, 1).to(device or start.device))
    if parametrization == "fft":
        return FourierImage.noise(batch, size, size, generator=generator, device=device)
    if parametrization == "pixel":
        return PixelImage.noise(batch, size, size, generator=generator, device=device)
    raise ValueError(
        f"Unknown parametrization {parametrization!r}; use one of {', '.join(PARAMETRIZATIONS)}."
    )


def visualize(
    model: nn.Module,
    layer: str,
    channels: int | Sequence[int],
    steps: int,
    size: int = 128,
    kind: str = "channel",
    parametrization: str = "fft",
    transform: Transform | None | bool = True,
    start: torch.Tensor | None = None,
    optimizer: str | OptimizerFactory = "adam",
    passthrough: bool = True,
    redirect_steps: int = 16,
    position: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    snapshot_every: int | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> OptimResult:
    """Images that maximise ``channels`` of ``layer``, one image per channel, as one batch.

    ``transform=True`` uses :func:`lib.transforms.standard_robustness`; ``False``/``None`` none.
    ``passthrough`` wraps the optimisation in :func:`relu_passthrough`, which redirects the
    gradient for the first ``redirect_steps`` steps. ``optimizer``: a name
    or a factory of ``lib.optim`` (Adam by default).
    Every argument is checked (with one forward pass) before the first step.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels; got {size!r}.")
    objective = _objective(model, layer, channels, kind, position)
    batch = len(objective.channels)
    device = device_of(model)
    image = make_image(parametrization, batch, size, generator, device, start)
    if transform is True:
        transform = standard_robustness()
    elif transform is False:
        transform = None
    with torch.no_grad():
        objective.activations(image())  # clear errors now, not after a step
    context = (
        relu_passthrough(model, steps=redirect_steps) if passthrough else contextlib.nullcontext()
    )
    with context as redirection:
        return optimize(
            image,
            objective,
            steps,
            optimizer=optimizer,
            transform=transform,
            on_step=redirection.on_step if redirection else None,
            snapshot_every=snapshot_every,
            progress=progress,
            desc=desc or layer,
        )


def channel_count(model: nn.Module, layer: str, size: int = 128) -> int:
    """How many channels ``layer`` has (one forward pass on a grey image of ``size`` px)."""
    device = device_of(model)
    with torch.no_grad():
        act = FeatureExtractor(model, layer)(torch.full((1, 3, size, size), 0.5, device=device))
    return act[layer].shape[1]


@torch.no_grad()
def activation_of(
    model: nn.Module,
    layer: str,
    channels: int | Sequence[int],
    images: torch.Tensor,
    kind: str = "channel",
) -> torch.Tensor:
    """The activation of ``channels`` (one per image, or one for all) on ``images``: ``(B,)``."""
    return _objective(model, layer, channels, kind).activations(images.to(device_of(model)))


# --------------------------------------------------------------------------------------------
# Measurements for the chapter
# --------------------------------------------------------------------------------------------


def start_gradients(
    model: nn.Module,
    layer: str,
    channels: Sequence[int],
    images: torch.Tensor,
    passthrough: bool = False,
) -> torch.Tensor:
    """Norm of the gradient that each image receives for its channel (image ``i``, channel
    ``channels[i]``), with or without :func:`relu_passthrough`: ``(B,)``. A zero means the
    optimisation cannot even start from that image."""
    images = images.detach().clone().requires_grad_(True)
    objective = Channel(model, layer, list(channels))
    context = relu_passthrough(model) if passthrough else contextlib.nullcontext()
    with context:
        objective(images).backward()
    return images.grad.flatten(1).norm(dim=1)


def _weighted_power(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spectral power of each image (colour channels summed, means removed) on the ``rfft2``
    half-plane, each column weighted by how many coefficients it stands for; the radial
    frequency of each coefficient; and the column weights."""
    check_batch(images)
    x = images.detach().float()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2).sum(dim=1)  # (B, H, W//2+1)
    # rfft2 stores half of the columns: weight them by 2 except the ones without a twin
    weight = torch.full(power.shape[-1:], 2.0, device=x.device)
    weight[0] = 1.0
    if x.shape[-1] % 2 == 0:
        weight[-1] = 1.0
    frequency = radial_frequency(*x.shape[-2:], half=True, device=x.device)
    return power * weight, frequency, weight


def high_frequency_ratio(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Share of each image's spectral power above ``cutoff`` cycles/pixel (0.5 is Nyquist).

    The mean of each channel is removed first, so a flat image has no power to share (0 is
    returned). White noise puts about 80% of its power above 0.25; photos a few percent.
    """
    check_batch(images)
    if not 0 < cutoff < 0.5 * 2**0.5:
        raise ValueError(f"cutoff must be in (0, 0.707) cycles/pixel; got {cutoff}.")
    power, frequency, _ = _weighted_power(images)
    high = (frequency > cutoff).float()
    total = power.sum(dim=(-2, -1))
    return ((power * high).sum(dim=(-2, -1)) / total.clamp_min(1e-12)).where(
        total > 1e-12, torch.zeros_like(total)
    )


def radial_power(images: torch.Tensor, bins: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The radially averaged power spectrum of each image: the mean power of the coefficients
    in ``bins`` equal rings of frequency from 0 to 0.5 cycles/pixel (Nyquist; the corners
    beyond it are left out), divided by the image's total power so that images of any contrast
    compare. Returns ``(centres, spectra)``, shapes ``(bins,)`` and ``(B, bins)``: flat for white
    noise, falling about as $1/f^2$ for photos, for a log plot."""
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an integer of at least 2; got {bins!r}.")
    power, frequency, weight = _weighted_power(images)
    weight = weight.expand_as(frequency)  # how many coefficients each one stands for
    ring = (frequency / 0.5 * bins).long()  # ring index of each coefficient
    inside = (ring < bins) & (frequency > 0)
    sums = torch.zeros(power.shape[0], bins, device=power.device)
    sums.index_add_(1, ring[inside], power[:, inside])
    counts = torch.zeros(bins, device=power.device)
    counts.index_add_(0, ring[inside], weight[inside])
    total = power.sum(dim=(-2, -1)).clamp_min(1e-12)[:, None]
    spectra = sums / counts.clamp_min(1) / total
    centres = (torch.arange(bins, device=power.device) + 0.5) * 0.5 / bins
    return centres.cpu(), spectra.cpu()


def effective_receptive_field(
    model: nn.Module,
    layer: str,
    size: int = 128,
    mass: float = 0.9,
    samples: int = 4,
    generator: torch.Generator | None = None,
) -> float:
    """Side (pixels) of the smallest centred square holding ``mass`` of the gradient of the
    central neuron of ``layer`` (summed over channels) with respect to the input.

    Averaged over ``samples`` noisy grey inputs. It measures how much of the image one unit of
    the layer actually looks at (Luo et al., 2016, call it the effective receptive field).
    """
    if not 0 < mass < 1:
        raise ValueError(f"mass must be between 0 and 1; got {mass}.")
    device = device_of(model)
    extractor = FeatureExtractor(model, layer)
    noise = torch.randn(samples, 3, size, size, generator=generator) * 0.1
    images = (0.5 + noise).clamp(0, 1).to(device).requires_grad_(True)
    act = extractor(images)[layer]
    if act.ndim != 4:
        raise ValueError(f"Layer {layer!r} has no spatial maps (shape {tuple(act.shape)}).")
    height, width = act.shape[-2:]
    act[:, :, height // 2, width // 2].sum().backward()
    grad = images.grad.abs().sum(dim=(0, 1))  # (size, size)
    total = grad.sum()
    if total <= 0:
        return 0.0
    cy, cx = size // 2, size // 2
    for half in range(size):
        window = grad[max(0, cy - half) : cy + half + 1, max(0, cx - half) : cx + half + 1]
        if window.sum() >= mass * total:
            return float(min(2 * half + 1, size))
    return float(size)


def randomize_weights(
    model: nn.Module, seed: int = 0, calibration: torch.Tensor | None = None
) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (the original is left untouched).

    The same architecture with no training: the sanity check of Adebayo et al. (2018).
    Convolution and linear weights get He initialisation (the usual start of training), biases
    zero. Batch-norm layers are reset; with ``calibration`` images (in [0, 1]) their running
    statistics are then measured on them, as the first steps of training would, so that the
    activations keep a sensible scale through the depth. Eval mode and frozen, like
    ``lib.models``.
    """
    clone = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for module in clone.modules():
            if isinstance(module, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
    if calibration is not None:
        norms = [m for m in clone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for module in norms:
            module.momentum = None  # a plain average over the calibration pass
            module.train()
        with torch.no_grad():
            deepest = layer_names(clone)[-1]
            FeatureExtractor(clone, deepest)(calibration.to(device_of(clone)))
    clone.eval().requires_grad_(False)
    clone.pretrained = False  # the description and the class names come with the copy
    return clone


# --------------------------------------------------------------------------------------------
# Dataset examples: the photo patches that excite a channel the most
# --------------------------------------------------------------------------------------------


@dataclass
class TopPatches:
    """The ``k`` strongest patches of each channel, strongest first.

    ``patches``: ``(channels, k, 3, patch_size, patch_size)`` crops of the input images;
    ``scores``: ``(channels, k)``, the channel's activation at the position each patch is
    centred on; ``sources``: for each channel, ``k`` tuples ``(image index, top, left)``, where
    each crop was taken from.
    """

    patches: torch.Tensor
    scores: torch.Tensor
    sources: list[list[tuple[int, int, int]]]


def _as_image_list(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        check_batch(images, "images", channels=3, pixels=True)
        return [image[None] for image in images]
    images = list(images)
    if not images:
        raise ValueError("images is empty: pass at least one image.")
    checked = []
    for index, image in enumerate(images):
        if isinstance(image, torch.Tensor) and image.ndim == 3:
            image = image[None]
        check_batch(image, f"images[{index}]", channels=3, pixels=True)
        if image.shape[0] != 1:
            raise ValueError(
                f"images[{index}] must be one image (3, H, W) or (1, 3, H, W); "
                f"got {tuple(image.shape)}."
            )
        checked.append(image)
    return checked


@torch.no_grad()
def top_patches(
    model: nn.Module,
    layer: str,
    channels: int | Sequence[int],
    images,
    k: int = 4,
    patch_size: int = 32,
) -> TopPatches:
    """The ``k`` patches of ``images`` that most excite each of ``channels`` of ``layer``.

    Every position of the layer's feature map of every image is a candidate: its score is the
    channel's activation there, and its patch is the ``patch_size`` square of the input centred
    on the pixel that position lies over (shifted inside the image at the borders). Candidates
    are taken in order of score, skipping any whose centre is less than half a patch away from
    one already taken in the same image, so that the ``k`` patches are not ``k`` copies of one
    spot; if that leaves fewer than ``k``, the best skipped ones fill the gap.

    ``images``: a ``(N, 3, H, W)`` batch or a sequence of ``(3, H, W)``/``(1, 3, H, W)``
    images of any size, pixels in [0, 1].
    """
    images = _as_image_list(images)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer; got {patch_size!r}.")
    smallest = min(min(image.shape[-2:]) for image in images)
    if patch_size > smallest:
        raise ValueError(
            f"patch_size {patch_size} is larger than the smallest image side ({smallest} px)."
        )
    channels = [channels] if isinstance(channels, int) else list(channels)
    if not channels:
        raise ValueError("channels is empty: ask for at least one channel.")
    device = device_of(model)
    extractor = FeatureExtractor(model, layer)
    candidates = []  # (scores (C, h*w), image index, h, w, H, W) per image
    for index, image in enumerate(images):
        act = extractor(image.to(device))[layer]
        if act.ndim != 4:
            raise ValueError(f"Layer {layer!r} has no spatial maps (shape {tuple(act.shape)}).")
        bad = [c for c in channels if not 0 <= c < act.shape[1]]
        if bad:
            raise ValueError(
                f"Channel(s) {bad} out of range: {layer!r} has {act.shape[1]} channels."
            )
        height, width = act.shape[-2:]
        scores = act[0, channels].flatten(1).float().cpu()
        candidates.append((scores, index, height, width, *image.shape[-2:]))
    total = sum(c[0].shape[1] for c in candidates)
    if total < k:
        raise ValueError(f"k={k} but the feature maps have only {total} positions in all.")
    half = patch_size // 2
    result_patches, result_scores, result_sources = [], [], []
    for row in range(len(channels)):
        ranked = []  # (score, image index, centre y, centre x)
        for scores, index, height, width, rows, cols in candidates:
            for flat, score in enumerate(scores[row].tolist()):
                i, j = divmod(flat, width)
                ranked.append(
                    (score, index, int((i + 0.5) * rows / height), int((j + 0.5) * cols / width))
                )
        ranked.sort(key=lambda item: -item[0])
        chosen, skipped = [], []
        for item in ranked:
            if len(chosen) == k:
                break
            near = any(
                other[1] == item[1]
                and abs(other[2] - item[2]) < half
                and abs(other[3] - item[3]) < half
                for other in chosen
            )
            (skipped if near else chosen).append(item)
        chosen = sorted(chosen + skipped[: k - len(chosen)], key=lambda item: -item[0])
        crops, sources = [], []
        for _, index, cy, cx in chosen:
            rows, cols = images[index].shape[-2:]
            top = min(max(cy - half, 0), rows - patch_size)
            left = min(max(cx - half, 0), cols - patch_size)
            crops.append(
                images[index][0, :, top : top + patch_size, left : left + patch_size].cpu()
            )
            sources.append((index, top, left))
        result_patches.append(torch.stack(crops))
        result_scores.append(torch.tensor([item[0] for item in chosen]))
        result_sources.append(sources)
    return TopPatches(torch.stack(result_patches), torch.stack(result_scores), result_sources)
