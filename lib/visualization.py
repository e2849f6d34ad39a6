"""Activation maximisation: images that make a chosen unit of a network fire strongly.

Erhan et al. (2009): start from an image (noise, or a photo) and change its pixels by gradient
ascent on the activation of one unit. The unit can be a whole channel of a layer (the mean of one
feature map), a single neuron (one position of that map) or a class logit. The optimisation loop
is :func:`lib.optim.optimize`, which minimises: every objective here returns the *negative*
activation.

Several channels of the same layer are optimised together, one image per channel in one batch:
the forward pass is shared and the cost grows less than linearly with the batch.

Torchvision's GoogLeNet applies its ReLUs inside the forward method of each convolution block,
so a channel that is negative everywhere on the starting image passes no gradient at all and the
image stays grey. :func:`relu_passthrough` lets the gradient through the ReLUs while the image is
optimised (see its docstring), leaving the forward values unchanged.
"""

from __future__ import annotations

import contextlib
import copy
import types
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from .features import FeatureExtractor
from .optim import OptimResult, optimize
from .parametrization import FourierImage, PixelImage
from .transforms import Transform, standard_robustness

KINDS = ("channel", "neuron")
PARAMETRIZATIONS = ("fft", "pixel")


# --------------------------------------------------------------------------------------------
# Letting the gradient through the ReLUs
# --------------------------------------------------------------------------------------------


class _PassthroughReLU(torch.autograd.Function):
    """ReLU forward; backward passes the gradient of active units unchanged and, for inactive
    units, a fraction ``leak`` of the gradient when it points towards switching them on."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, leak: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.leak = leak
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        # the loop *minimises*: a negative gradient means "increase this input"
        wakes = (x <= 0) & (grad < 0)
        passed = torch.where(x > 0, grad, torch.where(wakes, grad * ctx.leak, 0.0))
        return passed, None


def passthrough_relu(x: torch.Tensor, leak: float = 0.1) -> torch.Tensor:
    """``relu(x)`` whose gradient can wake up inactive units (see :func:`relu_passthrough`)."""
    return _PassthroughReLU.apply(x, leak)


def _is_conv_block(module: nn.Module) -> bool:
    # torchvision's BasicConv2d (GoogLeNet, Inception): conv -> batch norm -> functional ReLU
    return (
        type(module).__name__ == "BasicConv2d" and hasattr(module, "conv") and hasattr(module, "bn")
    )


@contextlib.contextmanager
def relu_passthrough(model: nn.Module, leak: float = 0.1) -> Iterator[int]:
    """Within the ``with`` block, the ReLUs of ``model`` let some gradient through.

    Forward values do not change. Backward: units with a positive input pass the gradient as
    usual; units at zero pass ``leak`` times the gradient when it asks to *increase* their
    input, and nothing otherwise. Without this, a unit that is off everywhere on the start
    image never receives a gradient: with torchvision's GoogLeNet the image stays grey
    (the "dead ReLU" problem). Handles ``nn.ReLU`` modules and torchvision's ``BasicConv2d``
    blocks, whose ReLU is a function call. Yields how many ReLUs were replaced; restores the
    model on exit, also after an error.
    """
    if not 0 <= leak <= 1:
        raise ValueError(f"leak must be between 0 and 1; got {leak}.")
    patched: list[nn.Module] = []

    def block_forward(self, x):
        return passthrough_relu(self.bn(self.conv(x)), leak)

    def relu_forward(self, x):
        return passthrough_relu(x, leak)

    try:
        for module in model.modules():
            if _is_conv_block(module):
                module.forward = types.MethodType(block_forward, module)
            elif isinstance(module, nn.ReLU):
                module.forward = types.MethodType(relu_forward, module)
            else:
                continue
            patched.append(module)
        yield len(patched)
    finally:
        for module in patched:
            del module.forward  # the class's own forward is visible again


# --------------------------------------------------------------------------------------------
# Objectives
# --------------------------------------------------------------------------------------------


class ActivationObjective:
    """Minus the activation of one unit per image of the batch.

    ``kind="channel"``: the mean of feature map ``channels[i]`` for image ``i``;
    ``kind="neuron"``: its value at ``position`` (row, column; the centre by default).
    On a 2-D layer (``logits``: one number per class) both mean the value ``channels[i]``.
    ``channels`` is one index for every image or a list with one index per image.
    Call :meth:`activations` for the per-image values (higher is stronger).
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        channels: int | Sequence[int],
        kind: str = "channel",
        position: tuple[int, int] | None = None,
    ):
        if kind not in KINDS:
            raise ValueError(f"Unknown kind {kind!r}; use one of {', '.join(KINDS)}.")
        self.channels = [channels] if isinstance(channels, int) else list(channels)
        if not self.channels:
            raise ValueError("Give at least one channel index.")
        for c in self.channels:
            if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                raise ValueError(f"Channel indices must be non-negative integers; got {c!r}.")
        self.layer, self.kind, self.position = layer, kind, position
        self.extractor = FeatureExtractor(model, layer)  # KeyError for an unknown layer

    def _index(self, batch: int, device) -> torch.Tensor:
        if len(self.channels) not in (1, batch):
            raise ValueError(
                f"{len(self.channels)} channel indices for a batch of {batch} images: give one "
                "index, or one per image."
            )
        channels = self.channels * batch if len(self.channels) == 1 else self.channels
        return torch.tensor(channels, device=device)

    def check(self, activation: torch.Tensor) -> None:
        """Raise a clear error if a channel or position does not exist in ``activation``."""
        count = activation.shape[1]
        bad = [c for c in self.channels if c >= count]
        if bad:
            raise ValueError(
                f"Channel {bad[0]} is out of range for layer {self.layer!r}, which has {count} "
                f"channels (valid: 0 to {count - 1})."
            )
        if self.kind == "neuron" and self.position is not None and activation.ndim == 4:
            row, col = self.position
            height, width = activation.shape[-2:]
            if not (0 <= row < height and 0 <= col < width):
                raise ValueError(
                    f"Position {self.position} is outside the {height}×{width} maps of layer "
                    f"{self.layer!r} at this image size."
                )

    def activations(self, images: torch.Tensor) -> torch.Tensor:
        """The chosen unit's activation for each image: shape ``(B,)``."""
        act = self.extractor(images)[self.layer]
        self.check(act)
        index = self._index(act.shape[0], act.device)
        rows = torch.arange(act.shape[0], device=act.device)
        chosen = act[rows, index]  # (B,) for 2-D layers, (B, H, W) for maps
        if chosen.ndim == 1:
            return chosen
        if self.kind == "channel":
            return chosen.mean(dim=(-2, -1))
        height, width = chosen.shape[-2:]
        row, col = self.position if self.position is not None else (height // 2, width // 2)
        return chosen[:, row, col]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return -self.activations(images).mean()


def channel_objective(
    model: nn.Module, layer: str, channels: int | Sequence[int]
) -> ActivationObjective:
    """Maximise the mean of feature map ``channels[i]`` of ``layer`` (one per image)."""
    return ActivationObjective(model, layer, channels, kind="channel")


def neuron_objective(
    model: nn.Module,
    layer: str,
    channels: int | Sequence[int],
    position: tuple[int, int] | None = None,
) -> ActivationObjective:
    """Maximise one neuron: channel ``channels[i]`` at ``position`` (default: the centre)."""
    return ActivationObjective(model, layer, channels, kind="neuron", position=position)


def class_objective(model: nn.Module, classes: int | Sequence[int]) -> ActivationObjective:
    """Maximise the logit (pre-softmax score) of ImageNet class ``classes[i]``."""
    return ActivationObjective(model, "logits", classes, kind="channel")


# --------------------------------------------------------------------------------------------
# The visualisation itself
# --------------------------------------------------------------------------------------------


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
        if start.ndim != 4 or start.shape[:2] != (1, 3):
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
    lr: float = 0.05,
    passthrough: bool = True,
    position: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
    snapshot_every: int | None = None,
    progress: bool = False,
    desc: str | None = None,
) -> OptimResult:
    """Images that maximise ``channels`` of ``layer``, one image per channel, as one batch.

    ``transform=True`` uses :func:`lib.transforms.standard_robustness`; ``False``/``None`` none.
    ``passthrough`` wraps the optimisation in :func:`relu_passthrough`. Adam with ``lr``.
    Every argument is checked (with one forward pass) before the first step.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels; got {size!r}.")
    objective = ActivationObjective(model, layer, channels, kind=kind, position=position)
    batch = len(objective.channels)
    device = next(model.parameters()).device
    image = make_image(parametrization, batch, size, generator, device, start)
    if transform is True:
        transform = standard_robustness()
    elif transform is False:
        transform = None
    with torch.no_grad():
        objective.activations(image())  # clear errors now, not after a step
    context = relu_passthrough(model) if passthrough else contextlib.nullcontext()
    with context:
        return optimize(
            image,
            objective,
            steps,
            optimizer="adam",
            lr=lr,
            transform=transform,
            snapshot_every=snapshot_every,
            progress=progress,
            desc=desc or layer,
        )


def channel_count(model: nn.Module, layer: str, size: int = 128) -> int:
    """How many channels ``layer`` has (one forward pass on a grey image of ``size`` px)."""
    device = next(model.parameters()).device
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
    return ActivationObjective(model, layer, channels, kind=kind).activations(images)


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
    objective = ActivationObjective(model, layer, list(channels))
    context = relu_passthrough(model) if passthrough else contextlib.nullcontext()
    with context:
        objective(images).backward()
    return images.grad.flatten(1).norm(dim=1)


def high_frequency_ratio(images: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Share of each image's spectral power above ``cutoff`` cycles/pixel (0.5 is Nyquist).

    The mean of each channel is removed first, so a flat image has no power to share (0 is
    returned). White noise puts about 80% of its power above 0.25; photos a few percent.
    """
    if images.ndim != 4:
        raise ValueError(f"Expected a (B, C, H, W) batch; got shape {tuple(images.shape)}.")
    if not 0 < cutoff < 0.5 * 2**0.5:
        raise ValueError(f"cutoff must be in (0, 0.707) cycles/pixel; got {cutoff}.")
    x = images.detach().float()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2).sum(dim=1)  # (B, H, W//2+1)
    # rfft2 stores half of the columns: weight them by 2 except the ones without a twin
    weight = torch.full(power.shape[-1:], 2.0, device=x.device)
    weight[0] = 1.0
    if x.shape[-1] % 2 == 0:
        weight[-1] = 1.0
    fy = torch.fft.fftfreq(x.shape[-2], device=x.device)[:, None]
    fx = torch.fft.rfftfreq(x.shape[-1], device=x.device)[None, :]
    high = ((fx**2 + fy**2).sqrt() > cutoff).float()
    total = (power * weight).sum(dim=(-2, -1))
    return ((power * weight * high).sum(dim=(-2, -1)) / total.clamp_min(1e-12)).where(
        total > 1e-12, torch.zeros_like(total)
    )


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
    device = next(model.parameters()).device
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
            device = next(clone.parameters()).device
            FeatureExtractor(clone, _deepest_layer(clone))(calibration.to(device))
    clone.eval().requires_grad_(False)
    for name in ("arch", "categories"):
        if hasattr(model, name):
            setattr(clone, name, getattr(model, name))
    clone.pretrained = False
    return clone


def _deepest_layer(model: nn.Module) -> str:
    from .features import layer_names

    return layer_names(model)[-1]
