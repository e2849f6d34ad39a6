"""Activations of named layers, from one forward pass that stops at the deepest one asked for.

Layer names come from the network's description (``lib.networks``): VGG's ``conv1_1``,
``relu1_1``, …, ``pool5``, ``fc6``, ``fc7``, ``logits``; GoogLeNet's ``conv1`` …
``inception5b``, ``logits``; EfficientNet-Lite0's ``stem``, ``block1`` … ``block7`` (with the
rectified ``block{i}_expand`` and ``block{i}_depthwise`` inside), ``head``, ``logits``. A plain
``nn.Sequential`` offers its children's names (handy for tiny test networks).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch
from torch import nn

from .device import device_of
from .networks import describe, layer_modules, layer_names, normalize_input

__all__ = ["FeatureExtractor", "extract", "layer_names", "layer_shapes"]


class _Reached(Exception):
    """Raised by the hook of the deepest layer asked for: the rest of the network is skipped."""


class FeatureExtractor(nn.Module):
    """Call it on images in [0, 1]; get a dict ``{layer name: activation}``.

    The images are normalised as the network's description says (``normalize_input=False``
    turns that off, ``True`` insists on it). The network runs as its own ``forward`` defines
    it, with a hook on each layer asked for, and stops after the deepest one.
    """

    def __init__(
        self, model: nn.Module, layers: str | Sequence[str], normalize_input: bool | None = None
    ):
        super().__init__()
        self.model = model
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise ValueError("Ask for at least one layer.")
        modules = layer_modules(model)
        unknown = [name for name in self.layers if name not in modules]
        if unknown:
            raise KeyError(
                f"Unknown layer(s) {', '.join(map(repr, unknown))} for {describe(model).title}; "
                f"valid names: {', '.join(modules)}."
            )
        order = list(modules)
        self.deepest = max(self.layers, key=order.index)
        self._modules_of = {name: modules[name] for name in self.layers}
        if normalize_input is True and describe(model).mean is None:
            raise ValueError(f"{describe(model).title} declares no input normalisation.")
        self.normalize_input = normalize_input is not False

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = normalize_input(self.model, images) if self.normalize_input else images
        found: dict[str, torch.Tensor] = {}

        def recorder(name):
            def hook(module, inputs, output):
                found[name] = output
                if name == self.deepest:
                    raise _Reached

            return hook

        handles = [
            module.register_forward_hook(recorder(name))
            for name, module in self._modules_of.items()
        ]
        try:
            self.model(x)
        except _Reached:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return {name: found[name] for name in self.layers}


def extract(
    model: nn.Module, images: torch.Tensor, layers: str | Sequence[str]
) -> dict[str, torch.Tensor]:
    """One-off extraction without gradients: ``{layer: activation}``."""
    images = images.to(device_of(model))
    with torch.no_grad():
        return FeatureExtractor(model, layers)(images)


def layer_shapes(model: nn.Module, images: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, activation shape)`` for every layer, for input of the shape of ``images``.

    The pass runs on PyTorch's meta device (the weights and the images replaced by tensors
    that have a shape and no data): it computes shapes only, so it holds no activation and
    reads no weight, which matters for VGG's 400 MB classifier on a small machine."""
    state = chain(model.named_parameters(), model.named_buffers())
    on_meta = {name: tensor.to("meta") for name, tensor in state}
    shapes: dict[str, tuple[int, ...]] = {}

    def recorder(name):
        def hook(module, inputs, output):
            shapes[name] = tuple(output.shape)

        return hook

    handles = [
        module.register_forward_hook(recorder(name))
        for name, module in layer_modules(model).items()
    ]
    try:
        with torch.no_grad():
            x = normalize_input(model, images.to("meta"))
            torch.func.functional_call(model, on_meta, (x,))
    finally:
        for handle in handles:
            handle.remove()
    return [(name, shapes[name]) for name in layer_names(model)]
