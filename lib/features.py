"""Activations of named layers, from one forward pass that stops at the deepest one asked for.

Layer names follow the papers: VGG's ``conv1_1``, ``relu1_1``, …, ``pool5``, ``fc6``, ``fc7``,
``logits``; GoogLeNet's ``conv1`` … ``inception5b``, ``logits``. Any ``nn.Sequential`` works too,
with its children's names (handy for tiny test networks).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torchvision.models import VGG, GoogLeNet

from .device import device_of
from .images import normalize, wants_imagenet_input

Stage = tuple[str, Callable[[torch.Tensor], torch.Tensor]]


def _vgg_stages(model: VGG) -> list[Stage]:
    stages: list[Stage] = []
    block, index = 1, 1
    for module in model.features:
        if isinstance(module, nn.Conv2d):
            stages.append((f"conv{block}_{index}", module))
        elif isinstance(module, nn.ReLU):
            stages.append((f"relu{block}_{index}", module))
            index += 1
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            stages.append((f"pool{block}", module))
            block, index = block + 1, 1
    head = model.classifier  # Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    stages.append(("fc6", lambda x: head[0](torch.flatten(model.avgpool(x), 1))))
    stages += [("relu6", head[1]), ("fc7", lambda x: head[3](head[2](x))), ("relu7", head[4])]
    stages.append(("logits", lambda x: head[6](head[5](x))))
    return stages


def _googlenet_stages(model: GoogLeNet) -> list[Stage]:
    names = [
        "conv1",
        "maxpool1",
        "conv2",
        "conv3",
        "maxpool2",
        "inception3a",
        "inception3b",
        "maxpool3",
        "inception4a",
        "inception4b",
        "inception4c",
        "inception4d",
        "inception4e",
        "maxpool4",
        "inception5a",
        "inception5b",
    ]
    stages: list[Stage] = [(name, getattr(model, name)) for name in names]
    # the pretrained weights expect torchvision's own input rescaling before conv1
    first = stages[0][1]
    stages[0] = ("conv1", lambda x: first(model._transform_input(x)))
    pool = lambda x: model.dropout(torch.flatten(model.avgpool(x), 1))  # noqa: E731
    stages.append(("logits", lambda x: model.fc(pool(x))))
    return stages


def layer_stages(model: nn.Module) -> list[Stage]:
    """The model as an ordered list of named stages."""
    if isinstance(model, VGG):
        return _vgg_stages(model)
    if isinstance(model, GoogLeNet):
        return _googlenet_stages(model)
    if isinstance(model, nn.Sequential):
        return list(model.named_children())
    raise TypeError(
        f"No layer names are known for {type(model).__name__}; use VGG, GoogLeNet or nn.Sequential."
    )


def layer_names(model: nn.Module) -> list[str]:
    """Every layer name the model offers, from input to output."""
    return [name for name, _ in layer_stages(model)]


class FeatureExtractor(nn.Module):
    """Call it on images in [0, 1]; get a dict ``{layer name: activation}``.

    A model that wants ImageNet-normalised input (``wants_imagenet_input``: the networks of
    ``lib.models``) gets it here (``normalize``); any other model gets the images as they are,
    unless ``normalize_input=True``.
    """

    def __init__(
        self, model: nn.Module, layers: str | Sequence[str], normalize_input: bool | None = None
    ):
        super().__init__()
        self.model = model
        self.layers = [layers] if isinstance(layers, str) else list(layers)
        if not self.layers:
            raise ValueError("Ask for at least one layer.")
        stages = layer_stages(model)
        known = [name for name, _ in stages]
        unknown = [name for name in self.layers if name not in known]
        if unknown:
            raise KeyError(
                f"Unknown layer(s) {', '.join(map(repr, unknown))} for {type(model).__name__}; "
                f"valid names: {', '.join(known)}."
            )
        deepest = max(known.index(name) for name in self.layers)
        self.stages = stages[: deepest + 1]
        self.normalize_input = (
            wants_imagenet_input(model) if normalize_input is None else normalize_input
        )

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = normalize(images) if self.normalize_input else images
        wanted, found = set(self.layers), {}
        for name, stage in self.stages:
            x = stage(x)
            if name in wanted:
                found[name] = x
        return {name: found[name] for name in self.layers}


def extract(
    model: nn.Module, images: torch.Tensor, layers: str | Sequence[str]
) -> dict[str, torch.Tensor]:
    """One-off extraction without gradients: ``{layer: activation}``."""
    images = images.to(device_of(model))
    with torch.no_grad():
        return FeatureExtractor(model, layers)(images)


def layer_shapes(model: nn.Module, images: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, activation shape)`` for every layer, from one pass over ``images``."""
    activations = extract(model, images, layer_names(model))
    return [(name, tuple(act.shape)) for name, act in activations.items()]
