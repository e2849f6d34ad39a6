"""The networks as described parts: every description's layers and roles, the offline network's
weights, and the errors a teacher meets when describing a network of their own."""

from __future__ import annotations

import re

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


# --------------------------------------------------------------------------------------------
# Values pinned by hand: normalisation, the rectifiers found, the plain-Sequential description


def test_each_networks_input_normalisation_is_that_of_its_weights():
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    for name in ("vgg16", "vgg19", "googlenet"):
        network = networks.get(name)
        assert (network.mean, network.std) == imagenet, name
    assert networks.names() == sorted(networks.names())
    assert {"vgg16", "vgg19", "googlenet", "efficientnet_lite0"} <= set(networks.names())


def test_normalize_input_by_hand_and_in_the_images_precision():
    own = networks.Network(
        **{**networks.sequential().__dict__, "mean": (0.5, 0.25, 0.0), "std": (0.5, 0.25, 2.0)}
    )
    model = networks.attach(nn.Sequential(nn.Identity()), own)
    mean, std = networks.normalization(model)
    assert mean.shape == std.shape == (1, 3, 1, 1)
    assert mean.flatten().tolist() == [0.5, 0.25, 0.0] and std.flatten().tolist() == [0.5, 0.25, 2]
    x = torch.tensor([1.0, 0.5, 0.5], dtype=torch.float64).view(1, 3, 1, 1)
    out = networks.normalize_input(model, x)
    assert out.dtype == torch.float64 and out.flatten().tolist() == [1.0, 1.0, 0.25]
    imagenet = networks.attach(nn.Sequential(nn.Identity()), networks.get("vgg19"))
    out = networks.normalize_input(imagenet, x)
    expected = [(1.0 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]
    assert out.flatten().tolist() == pytest.approx(expected, rel=1e-6)
    # the images keep their own precision: bfloat16 stays bfloat16
    assert networks.normalize_input(imagenet, x.bfloat16()).dtype == torch.bfloat16
    # and on the images' device (the meta device stands in for a GPU)
    meta = torch.zeros(1, 3, 2, 2, device="meta")
    assert networks.normalize_input(imagenet, meta).device.type == "meta"
    plain = nn.Sequential(nn.Identity())  # no description of its own: pixels as they are
    assert networks.normalization(plain) is None
    assert networks.normalize_input(plain, x) is x


def test_activation_rectifiers_find_relu_and_relu6_exactly():
    class Leaky(nn.ReLU):  # a subclass is not a plain ReLU: it may compute something else
        pass

    model = nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 1), nn.ReLU6(), nn.LeakyReLU(), Leaky())
    found = networks.activation_rectifiers(model)
    assert [(r.module, r.upper, r.before) for r in found] == [
        (model[0], None, None),
        (model[2], 6.0, None),
    ]


def test_a_plain_sequential_is_described_by_its_children():
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU())
    described = networks.describe(model)
    assert (described.name, described.title, described.weights) == (
        "sequential",
        "sequential",
        "built in code",
    )
    assert described.layers(model) == {"0": "0", "1": "1"}
    assert described.mean is None and described.std is None and described.roles == {}
    assert described.categories() == [] and not described.downloads
    assert [r.module for r in described.rectifiers(model)] == [model[1]]
    assert networks.layer_names(model) == ["0", "1"] and networks.title(model) == "sequential"
    assert networks.layer_modules(model) == {"0": model[0], "1": model[1]}
    with pytest.raises(RuntimeError, match=r"^mine is a module built in code: it has no weights"):
        networks.sequential("mine").build(True)
    roles = {"unit": ("1", 0)}
    given = networks.sequential("mine", mean=(0.1, 0.2, 0.3), std=(1, 2, 3), roles=roles)
    assert given.roles == roles and given.roles is not roles  # a copy
    assert (given.name, given.title, given.mean, given.std) == (
        "mine",
        "mine",
        (0.1, 0.2, 0.3),
        (1, 2, 3),
    )


def test_a_module_without_a_description_is_a_clear_error():
    message = (
        "lib has no description of this Conv2d: load it with lib.models.load_model, or describe "
        "it with lib.networks.Network and give it to the model with "
        "lib.networks.attach(model, description)."
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        networks.describe(nn.Conv2d(3, 3, 1))
    model = nn.Conv2d(3, 3, 1)
    assert networks.attach(model, networks.sequential("x")) is model
    assert networks.describe(model).name == "x"
    model.network = "not a description"
    with pytest.raises(TypeError, match="no description of this Conv2d"):
        networks.describe(model)


def test_roles_and_names_errors_are_exact():
    model = networks.attach(nn.Sequential(nn.Identity()), networks.sequential("bare"))
    message = (
        "bare has no role 'x' (its roles: none). Add it to the network's description "
        "(lib/zoo.py for the book's networks)."
    )
    with pytest.raises(KeyError, match=re.escape(message)):
        networks.role(model, "x")
    roles = networks.sequential("two", roles={"b": 1, "a": 2})
    model = networks.attach(nn.Sequential(nn.Identity()), roles)
    with pytest.raises(KeyError, match=re.escape("(its roles: a, b)")):
        networks.role(model, "c")
    assert networks.role(model, "b") == 1
    message = f"Unknown network 'nope'; the book describes {', '.join(networks.names())}. "
    with pytest.raises(ValueError, match=f"^{re.escape(message)}Describe your own"):
        networks.get("nope")
    mine = networks.sequential("registered_here")
    try:
        assert networks.register(mine) is mine and networks.get("registered_here") is mine
        assert "registered_here" in networks.names()
    finally:
        networks._REGISTRY.pop("registered_here")
