"""The networks of the book, each described in one place.

A :class:`Network` says everything the book needs about a CNN: how to build it and where its
trained weights come from, the input normalisation it expects, its named layers from input to
logits (each name points at the module whose output is that layer), its rectifiers (for the
pass-through of chapter 1), its class names, and the *roles* its layers play in the chapters
(the layers of a gallery, the DeepDream layer, the inversion depths, the style layers, …).
The algorithms of ``lib`` read these descriptions; they know no network by name.

To run the book on a network of your own, write one :class:`Network` and :func:`register` it;
``lib.models.load_model(name)`` then builds it like the book's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

Builder = Callable[[bool], nn.Module]


@dataclass(frozen=True)
class Rectifier:
    """One rectifying activation of a network: ``module`` computes ``before(x)`` and clamps it
    to ``[0, upper]`` (``upper=None`` for ReLU, 6 for ReLU6). ``before=None`` means the module
    *is* the activation and ``before`` is the identity."""

    module: nn.Module
    upper: float | None = None
    before: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None


@dataclass(frozen=True)
class Network:
    """Everything the book needs to know about one network.

    - ``build(pretrained)`` returns the module, with trained weights or random ones; it raises
      ``OSError`` or ``RuntimeError`` when the trained weights cannot be had.
    - ``mean``/``std``: the per-channel normalisation of its input (``None``: the network takes
      pixels in [0, 1] as they are). The book's functions always take pixels in [0, 1].
    - ``layers(model)``: ``{book layer name: module path}``, ordered from input to logits.
    - ``rectifiers(model)``: the :class:`Rectifier` of every rectifying activation.
    - ``roles``: which layers play which part in the chapters (see :func:`role`).
    - ``downloads``: True when the weights come from the internet (the offline switch then
      replaces the network, see ``lib.models``).
    """

    name: str
    title: str
    weights: str
    build: Builder
    layers: Callable[[nn.Module], dict[str, str]]
    rectifiers: Callable[[nn.Module], list[Rectifier]]
    categories: Callable[[], list[str]]
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    roles: Mapping[str, Any] = field(default_factory=dict)
    downloads: bool = False
    weights_file: Callable[[], str] | None = None


_REGISTRY: dict[str, Network] = {}


def register(network: Network) -> Network:
    """Make ``network`` known by its name to ``lib.models.load_model``."""
    _REGISTRY[network.name] = network
    return network


def get(name: str) -> Network:
    """The description registered under ``name``; a clear error for an unknown name."""
    _load_book_networks()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown network {name!r}; the book describes {', '.join(sorted(_REGISTRY))}. "
            "Describe your own with lib.networks.Network and register it."
        ) from None


def names() -> list[str]:
    """Every registered network's name."""
    _load_book_networks()
    return sorted(_REGISTRY)


def _load_book_networks() -> None:
    from . import zoo  # noqa: F401  (registers the book's networks on import)


# --------------------------------------------------------------------------------------------
# What a model says about itself
# --------------------------------------------------------------------------------------------


def activation_rectifiers(model: nn.Module) -> list[Rectifier]:
    """The rectifiers of a network whose activations are ``nn.ReLU``/``nn.ReLU6`` modules."""
    found = []
    for module in model.modules():
        if type(module) is nn.ReLU6:
            found.append(Rectifier(module, upper=6.0))
        elif type(module) is nn.ReLU:
            found.append(Rectifier(module))
    return found


def sequential(
    name: str = "sequential",
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    roles: Mapping[str, Any] | None = None,
) -> Network:
    """The description of a plain ``nn.Sequential``: its layers are its children, by name.

    Every ``nn.Sequential`` without a description of its own is read this way (no
    normalisation, no roles); pass ``mean``/``std`` or ``roles`` and :func:`attach` the result
    to give it more."""

    def no_weights(pretrained: bool) -> nn.Module:
        raise RuntimeError(f"{name} is a module built in code: it has no weights to load.")

    return Network(
        name=name,
        title=name,
        weights="built in code",
        build=no_weights,
        layers=lambda model: {child: child for child, _ in model.named_children()},
        rectifiers=activation_rectifiers,
        categories=lambda: [],
        mean=mean,
        std=std,
        roles=dict(roles or {}),
    )


def attach(model: nn.Module, network: Network) -> nn.Module:
    """Give ``model`` its description (``lib.models.load_model`` does this for the book's)."""
    model.network = network
    return model


def describe(model: nn.Module) -> Network:
    """The description of ``model``: the one attached to it, or, for a plain ``nn.Sequential``,
    its children. Any other module needs one: a clear error says how to give it."""
    network = getattr(model, "network", None)
    if isinstance(network, Network):
        return network
    if isinstance(model, nn.Sequential):
        return sequential()
    raise TypeError(
        f"lib has no description of this {type(model).__name__}: load it with "
        "lib.models.load_model, or describe it with lib.networks.Network and give it to the "
        "model with lib.networks.attach(model, description)."
    )


def layer_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{layer name: module}`` of ``model``, from input to logits."""
    network = describe(model)
    modules = dict(model.named_modules())
    found = {}
    for layer, path in network.layers(model).items():
        if path not in modules:
            raise KeyError(
                f"The description of {network.name} names the module {path!r} for layer "
                f"{layer!r}, but the model has no such module."
            )
        found[layer] = modules[path]
    return found


def layer_names(model: nn.Module) -> list[str]:
    """Every layer name the model offers, from input to logits."""
    return list(describe(model).layers(model))


def normalization(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ``(mean, std)`` the model's input is normalised with, as ``(1, 3, 1, 1)`` tensors,
    or ``None`` when it takes pixels in [0, 1]."""
    network = describe(model)
    if network.mean is None:
        return None
    return (
        torch.tensor(network.mean).view(1, 3, 1, 1),
        torch.tensor(network.std).view(1, 3, 1, 1),
    )


def normalize_input(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] turned into the input ``model`` expects (unchanged if it takes pixels)."""
    stats = normalization(model)
    if stats is None:
        return images
    mean, std = (s.to(images.device, images.dtype) for s in stats)
    return (images - mean) / std


def role(model: nn.Module, key: str) -> Any:
    """The layers (or settings) that play the part ``key`` in the chapters, for this model.

    A network without that role gets a clear error that names the roles it has."""
    network = describe(model)
    if key not in network.roles:
        have = ", ".join(sorted(network.roles)) or "none"
        raise KeyError(
            f"{network.title} has no role {key!r} (its roles: {have}). Add it to the network's "
            "description (lib/zoo.py for the book's networks)."
        )
    return network.roles[key]


def title(model: nn.Module) -> str:
    """The network's name as the prose writes it."""
    return describe(model).title
