"""The networks as described parts: every description's layers and roles, the offline network's
weights, and the errors a teacher meets when describing a network of their own."""

from __future__ import annotations

import pytest
import torch
from skimage import data
from torch import nn

from lib import features, images, models, networks, zoo


def _layers_in_roles(value) -> list[str]:
    """Every layer name a role mentions (roles hold names, lists, {name: weight}, (name, c))."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, tuple | list):
        return [name for item in value for name in _layers_in_roles(item)]
    return []


@pytest.fixture(scope="module", params=networks.names())
def untrained(request):
    return models.load_model(request.param, pretrained=False, device="cpu")


def test_every_description_names_real_modules_in_order(untrained):
    modules = networks.layer_modules(untrained)
    names = list(modules)
    assert names[-1] == "logits" and len(set(names)) == len(names)
    shapes = dict(features.layer_shapes(untrained, torch.rand(1, 3, 64, 64)))
    assert list(shapes) == names and shapes["logits"] == (1, 1000)


def test_every_role_names_layers_the_network_has(untrained):
    network = networks.describe(untrained)
    known = set(networks.layer_names(untrained))
    for key, value in network.roles.items():
        missing = [n for n in _layers_in_roles(value) if n not in known]
        assert not missing, f"{network.name} role {key!r} names unknown layers {missing}"


def test_a_missing_role_is_a_clear_error(untrained):
    with pytest.raises(KeyError, match="has no role 'nothing' \\(its roles: .*lib/zoo.py"):
        networks.role(untrained, "nothing")


def test_every_network_says_how_to_normalise_its_input(untrained):
    stats = networks.normalization(untrained)
    assert stats is not None
    x = torch.rand(1, 3, 4, 4)
    mean, std = stats
    assert torch.allclose(networks.normalize_input(untrained, x), (x - mean) / std)


def test_the_offline_network_is_normalised_to_minus_one_one():
    network = networks.get("efficientnet_lite0")
    assert network.mean == (0.5, 0.5, 0.5) and network.std == (0.5, 0.5, 0.5)
    model = nn.Identity()
    networks.attach(model, network)
    ends = networks.normalize_input(
        model, torch.tensor([0.0, 1.0]).view(1, 1, 1, 2).repeat(1, 3, 1, 1)
    )
    assert ends.flatten().tolist() == [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0]


def test_the_offline_weights_map_onto_the_architecture_shape_by_shape():
    import timm

    source = zoo._efficientnet_weights()
    target = timm.create_model("tf_efficientnet_lite0", pretrained=False).state_dict()
    mapped = zoo.map_efficientnet_keys(source, target)
    assert list(mapped) == list(target) and len(mapped) == 296
    for (name, tensor), original in zip(mapped.items(), source.values(), strict=True):
        assert tensor.shape == target[name].shape and tensor is original
    assert next(iter(source)) == "_conv_stem.weight" and next(iter(mapped)) == "conv_stem.weight"


def test_a_mismatched_weights_file_is_refused_with_the_culprit():
    target = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    with pytest.raises(ValueError, match="Weight _a.bias has shape \\(3,\\), but a.bias"):
        zoo.map_efficientnet_keys(
            {"_a.weight": torch.zeros(2, 3), "_a.bias": torch.zeros(3)}, target
        )
    with pytest.raises(ValueError, match="1 tensors, the architecture 2"):
        zoo.map_efficientnet_keys({"_a.weight": torch.zeros(2, 3)}, target)


def test_the_offline_network_is_trained_a_bundled_cat_is_a_cat():
    model = models.load_model("efficientnet_lite0", device="cpu")
    photo = images.resize_to(images.load_image(data.chelsea()), (224, 224))
    logits = features.extract(model, photo, "logits")["logits"]
    top3 = [model.categories[i] for i in logits.topk(3).indices[0]]
    assert any(
        name in ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
        for name in top3
    ), top3
    control = models.load_model("efficientnet_lite0", pretrained=False, device="cpu")
    shuffled = features.extract(control, photo, "logits")["logits"]
    assert not torch.allclose(shuffled, logits)  # the weights, not the architecture, say "cat"


def test_a_network_of_ones_own_is_one_description_away():
    def build(pretrained: bool) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 4, 3),
            nn.ReLU6(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 1000),
        )

    mine = networks.Network(
        name="teachers_net",
        title="Teacher's net",
        weights="none",
        build=build,
        layers=lambda model: {"conv": "0", "act": "1", "logits": "4"},
        rectifiers=networks.activation_rectifiers,
        categories=zoo.imagenet_categories,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        roles={"unit": ("act", 0)},
    )
    networks.register(mine)
    try:
        model = models.load_model("teachers_net", device="cpu")
        assert networks.role(model, "unit") == ("act", 0)
        assert networks.layer_names(model) == ["conv", "act", "logits"]
        (rectifier,) = networks.describe(model).rectifiers(model)
        assert rectifier.upper == 6.0
    finally:
        networks._REGISTRY.pop("teachers_net")


def test_a_description_that_names_a_missing_module_says_so():
    broken = networks.sequential()
    broken = networks.Network(**{**broken.__dict__, "layers": lambda model: {"x": "nowhere"}})
    model = networks.attach(nn.Sequential(nn.Identity()), broken)
    with pytest.raises(KeyError, match="names the module 'nowhere' for layer 'x'"):
        networks.layer_modules(model)
