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
steps of the optimisation. The chapter's other measurements live beside this module: the
spectra of images (``lib.spectra``), how oriented their structure is (``lib.orientation``) and
the photo patches that excite a channel most (``lib.dataset_examples``).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence

import torch
from torch import nn

from . import models, networks
from .device import device_of
from .features import FeatureExtractor
from .images import check_batch
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


def random_channels(
    model: nn.Module,
    layer: str,
    count: int,
    size: int = 64,
    generator: torch.Generator | None = None,
) -> list[int]:
    """``count`` channels of ``layer`` drawn at random among those an optimisation can start.

    A channel that gets no gradient from a near-grey image even with the redirected rectifiers
    (:func:`start_gradients`) would leave its image grey: such channels are skipped. Raises a
    clear error when the layer has fewer than ``count`` channels that can start."""
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive integer; got {count!r}.")
    total = channel_count(model, layer, size)
    order = torch.randperm(total, generator=generator).tolist()
    device = device_of(model)
    chosen: list[int] = []
    while order and len(chosen) < count:
        batch, order = order[: 2 * count], order[2 * count :]
        noise = torch.randn(len(batch), 3, size, size, generator=generator)
        grey = (0.5 + 0.01 * noise).clamp(0, 1).to(device)
        norms = start_gradients(model, layer, batch, grey, passthrough=True)
        chosen += [channel for channel, norm in zip(batch, norms.tolist(), strict=True) if norm > 0]
    if len(chosen) < count:
        raise ValueError(
            f"{layer!r} has only {len(chosen)} channels that an optimisation can start; "
            f"asked for {count}."
        )
    return chosen[:count]


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


def distinct_networks(
    names: Sequence[str], loaded: Sequence[nn.Module] = (), device=None
) -> dict[str, nn.Module]:
    """One trained model for each distinct network that ``names`` load as, by title, in order.

    Under the offline switch every network that downloads its weights loads as the offline one
    (``lib.models``), so several names can stand for one network: it is loaded once, and a
    model of ``loaded`` is reused instead of loading its network again."""
    ready = {networks.title(model): model for model in loaded}
    found: dict[str, nn.Module] = {}
    for name in names:
        network = networks.get(name)
        if network.downloads and models.offline_network_requested():
            network = networks.get(models.OFFLINE_NETWORK)
        if network.title in ready:
            found.setdefault(network.title, ready[network.title])
        elif network.title not in found:
            found[network.title] = models.load_model(name, device=device)
    return found


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
            deepest = networks.layer_names(clone)[-1]
            FeatureExtractor(clone, deepest)(calibration.to(device_of(clone)))
    clone.eval().requires_grad_(False)
    clone.pretrained = False  # the description and the class names come with the copy
    return clone
