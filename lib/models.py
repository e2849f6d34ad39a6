"""The pretrained networks of the book, through torchvision's weights API.

``load_model("vgg19")`` returns the network in eval mode, with frozen parameters, on the book's
device. Weights are downloaded once, with a hash check, into torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).

Offline switch: with ``CNNX_RANDOM_WEIGHTS=1`` (or ``pretrained=False``) the same architecture is
built with random weights, and a warning is printed where the reader sees it. The figures are
then meaningless, but every cell runs: this is how the book is smoke-tested without internet.
Without it, missing weights and no network give a ``WeightsUnavailableError`` that says what to do.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision.models import GoogLeNet_Weights, VGG16_Weights, VGG19_Weights

from .device import get_device

RANDOM_WEIGHTS_ENV = "CNNX_RANDOM_WEIGHTS"

WEIGHTS = {
    "vgg16": VGG16_Weights.IMAGENET1K_V1,
    "vgg19": VGG19_Weights.IMAGENET1K_V1,
    "googlenet": GoogLeNet_Weights.IMAGENET1K_V1,
}

# Constructor arguments given with or without weights. GoogLeNet's pretrained weights expect
# ``transform_input=True``; its auxiliary classifiers are dropped after loading, so a random
# model is built without them and the two networks have the same modules.
_ARGUMENTS = {
    "vgg16": {},
    "vgg19": {},
    "googlenet": {"transform_input": True},
}
_RANDOM_ONLY = {"googlenet": {"aux_logits": False, "init_weights": True}}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that are neither cached nor downloadable."""


def random_weights_requested() -> bool:
    """True when ``CNNX_RANDOM_WEIGHTS`` is set to 1/true/yes."""
    value = os.environ.get(RANDOM_WEIGHTS_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(
        f"{RANDOM_WEIGHTS_ENV}={value!r}: use 1 to switch random weights on, 0 to switch them off."
    )


def weights_path(name: str) -> Path:
    """Where torchvision keeps (or will keep) the weights file of a model."""
    url = _weights(name).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _weights(name: str):
    try:
        return WEIGHTS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose one of {', '.join(WEIGHTS)}.") from None


def load_model(
    name: str,
    pretrained: bool | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> nn.Module:
    """A torchvision model ready for visualisation: eval mode, frozen, on ``device``.

    ``pretrained=None`` means "pretrained unless CNNX_RANDOM_WEIGHTS is set". The model gets
    four attributes: ``arch`` (its name), ``pretrained``, ``categories`` (ImageNet class names)
    and ``input_normalization = "imagenet"`` (it takes normalised input; the book's functions
    take [0, 1] pixels and normalise for it).
    Random weights are seeded with ``seed``, so offline builds are reproducible.
    """
    weights = _weights(name)
    if pretrained is None:
        pretrained = not random_weights_requested()
    builder = getattr(torchvision.models, name)
    if pretrained:
        try:
            model = builder(weights=weights, **_ARGUMENTS[name])
        except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
            raise WeightsUnavailableError(_missing_message(name, err)) from None
    else:
        print(
            f"⚠️  RANDOM WEIGHTS: {name} is NOT pretrained ({RANDOM_WEIGHTS_ENV} is set).\n"
            "    Every figure below comes from an untrained network. Unset the variable\n"
            "    and rebuild with internet to see what the real network has learned.",
            file=sys.stdout,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = builder(weights=None, **_ARGUMENTS[name], **_RANDOM_ONLY.get(name, {}))
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            # in-place ReLUs would overwrite the conv outputs we record
            module.inplace = False
    model.eval().requires_grad_(False)
    model.arch = name
    model.input_normalization = "imagenet"  # read by lib.images.wants_imagenet_input
    model.pretrained = pretrained
    model.categories = list(weights.meta["categories"])
    return model.to(device if device is not None else get_device())


def _missing_message(name: str, err: Exception) -> str:
    path = weights_path(name)
    return (
        f"The pretrained weights of {name} are not in the cache and could not be downloaded "
        f"({type(err).__name__}: {err}).\n"
        f"  weights file: {path.name} (from {_weights(name).url})\n"
        f"  cache folder: {path.parent}  (set TORCH_HOME to move it)\n"
        "Connect to the internet once, or copy the file into that folder. To run every cell "
        f"without them, with meaningless figures, set {RANDOM_WEIGHTS_ENV}=1."
    )


def prefetch(names=tuple(WEIGHTS)) -> None:
    """Download the weights of the named models now (the book command does this first)."""
    for name in names:
        load_model(name, pretrained=True, device="cpu")
        print(f"{name}: weights ready in {weights_path(name)}")


if __name__ == "__main__":
    try:
        prefetch(sys.argv[1:] or tuple(WEIGHTS))
    except WeightsUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
