import pytest
import torch
from torch import nn

from lib import features, models, networks


@pytest.fixture(scope="module")
def vgg19():
    return models.load_model("vgg19", pretrained=False, device="cpu")


@pytest.fixture(scope="module")
def googlenet():
    return models.load_model("googlenet", pretrained=False, device="cpu")


def test_vgg19_layer_names(vgg19):
    names = features.layer_names(vgg19)
    convs = [n for n in names if n.startswith("conv")]
    assert len(convs) == 16 and convs[0] == "conv1_1" and convs[-1] == "conv5_4"
    assert names.index("relu4_2") == names.index("conv4_2") + 1
    assert names[-1] == "logits" and "pool5" in names


def test_vgg16_has_thirteen_convolutions():
    vgg16 = models.load_model("vgg16", pretrained=False, device="cpu")
    assert sum(n.startswith("conv") for n in features.layer_names(vgg16)) == 13


def test_googlenet_layer_names(googlenet):
    names = features.layer_names(googlenet)
    assert (
        names[0] == "conv1" and "inception4c" in names and names[-2:] == ["inception5b", "logits"]
    )


def test_unknown_layer_lists_valid_names(vgg19):
    with pytest.raises(KeyError, match="Unknown layer.*'conv6_1'.*valid names: conv1_1, relu1_1"):
        features.FeatureExtractor(vgg19, ["conv1_1", "conv6_1"])
    with pytest.raises(ValueError, match="at least one layer"):
        features.FeatureExtractor(vgg19, [])


def _imagenet(x):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return (x - mean) / std


def test_activations_match_the_plain_forward_pass(vgg19, googlenet):
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(
            features.extract(vgg19, x, "logits")["logits"], vgg19(_imagenet(x)), atol=1e-5
        )
        assert torch.allclose(
            features.extract(googlenet, x, "logits")["logits"], googlenet(_imagenet(x)), atol=1e-5
        )
        conv = features.extract(vgg19, x, "conv1_1")["conv1_1"]
        assert torch.allclose(conv, vgg19.features[0](_imagenet(x)), atol=1e-6)
        assert conv.min() < 0  # recorded before its ReLU, not overwritten in place
        fc6 = features.extract(vgg19, x, "fc6")["fc6"]
        pooled = torch.flatten(vgg19.avgpool(vgg19.features(_imagenet(x))), 1)
        assert torch.allclose(fc6, vgg19.classifier[0](pooled), atol=1e-5)


def test_googlenet_keeps_its_own_input_transform(googlenet):
    # torchvision's GoogLeNet rescales its input inside forward(): conv1 must see that
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        conv1 = features.extract(googlenet, x, "conv1")["conv1"]
        expected = googlenet.conv1(googlenet._transform_input(_imagenet(x)))
    assert torch.allclose(conv1, expected, atol=1e-6)


def test_forward_stops_at_the_deepest_layer_requested(vgg19):
    called = []
    handle = vgg19.features[5].register_forward_hook(lambda *_: called.append(True))  # conv2_1
    try:
        features.extract(vgg19, torch.rand(1, 3, 32, 32), ["relu1_1", "conv1_2"])
        assert not called
        features.extract(vgg19, torch.rand(1, 3, 32, 32), ["conv2_1"])
        assert called
    finally:
        handle.remove()


def test_a_described_network_is_normalised_as_its_description_says(tiny_cnn):
    networks.attach(tiny_cnn, networks.sequential(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)))
    x = torch.rand(1, 3, 8, 8)
    got = features.extract(tiny_cnn, x, "0")["0"]
    assert torch.allclose(got, tiny_cnn[0]((x - 0.5) / 0.25), atol=1e-6)
    raw = features.FeatureExtractor(tiny_cnn, "0", normalize_input=False)(x)["0"]
    assert torch.allclose(raw, tiny_cnn[0](x), atol=1e-6)


def test_sequential_models_use_child_names(tiny_cnn):
    result = features.extract(tiny_cnn, torch.rand(2, 3, 16, 16), ["3", "1"])
    assert list(result) == ["3", "1"]  # in the order asked for
    assert result["3"].shape == (2, 16, 8, 8)
    with pytest.raises(TypeError, match="no description of this Linear.*networks.attach"):
        features.layer_names(nn.Linear(2, 2))


def test_gradients_flow_to_the_image(tiny_cnn):
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    features.FeatureExtractor(tiny_cnn, "4")(x)["4"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_layer_shapes_halve_per_block(vgg19):
    shapes = dict(features.layer_shapes(vgg19, torch.rand(1, 3, 64, 64)))
    assert shapes["conv1_1"] == (1, 64, 64, 64) and shapes["conv5_1"] == (1, 512, 4, 4)


@pytest.mark.parametrize("name", ["vgg19", "googlenet", "efficientnet_lite0"])
def test_layer_shapes_are_those_of_a_real_pass(name, vgg19, googlenet):
    model = {"vgg19": vgg19, "googlenet": googlenet}.get(name) or models.load_model(
        name, pretrained=False, device="cpu"
    )
    image = torch.rand(2, 3, 72, 88)
    before = {key: t.clone() for key, t in model.state_dict().items()}
    shapes = features.layer_shapes(model, image)  # a pass on the meta device
    real = features.extract(model, image, features.layer_names(model))
    assert shapes == [(layer, tuple(act.shape)) for layer, act in real.items()]
    after = model.state_dict()  # untouched; weights not yet drawn stay so (lib.deferred)
    assert [k for k in after if after[k].is_meta] == [k for k in before if before[k].is_meta]
    assert all(torch.equal(after[k], before[k]) for k in before if not before[k].is_meta)


# --------------------------------------------------------------------------------------------
# Chapter 0: its roles on every network that plays them
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vgg19", "efficientnet_lite0"])
def test_chapter_0_reads_every_role_of_its_networks(name):
    model = models.load_model(name, pretrained=False, device="cpu")
    image = torch.rand(1, 3, 96, 128)
    shapes = dict(features.layer_shapes(model, image))
    starts, relus, table = (
        networks.role(model, key) for key in ("block_starts", "block_relus", "shape_table")
    )
    heights = [shapes[layer][2] for layer in starts]  # one layer per resolution: halving
    assert all(
        abs(after - before / 2) <= 0.5 for before, after in zip(heights, heights[1:], strict=False)
    )
    rectified = features.extract(model, image, relus)
    assert all((rectified[layer] >= 0).all() for layer in relus)  # after a rectifier
    assert all(len(shapes[layer]) == 4 for layer in table)
    assert shapes[table[0]][1] < shapes[table[-1]][1]  # more channels at the end


def test_chapter_0_runs_on_a_tiny_described_network(tiny_cnn):
    roles = {"block_starts": ["0", "2"], "block_relus": ["1", "3"], "shape_table": ["0", "2", "4"]}
    net = networks.attach(tiny_cnn, networks.sequential(roles=roles))
    found = features.extract(net, torch.rand(1, 3, 16, 16), networks.role(net, "block_relus"))
    assert [a.shape[-1] for a in found.values()] == [16, 8]


def test_the_extractor_pins_its_layers_its_deepest_and_its_messages():
    from conftest import small_cnn

    model = small_cnn()
    extractor = features.FeatureExtractor(model, "relu1")
    assert extractor.layers == ["relu1"] and extractor.deepest == "relu1"
    several = features.FeatureExtractor(model, ["relu2", "conv1", "conv3"])
    assert several.layers == ["relu2", "conv1", "conv3"] and several.deepest == "conv3"
    assert several.normalize_input  # by default, as the description says
    with pytest.raises(ValueError, match="^Ask for at least one layer.$"):
        features.FeatureExtractor(model, [])
    with pytest.raises(
        KeyError, match=r"Unknown layer\(s\) 'a', 'b' for .*; valid names: conv1, relu1, conv2"
    ):
        features.FeatureExtractor(model, ["a", "conv1", "b"])
    with pytest.raises(ValueError, match="declares no input normalisation.$"):
        features.FeatureExtractor(model, "conv1", normalize_input=True)


def test_activations_are_the_layers_outputs_and_the_run_stops_at_the_deepest():
    from conftest import small_cnn

    model = small_cnn()
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    found = features.FeatureExtractor(model, ["conv2", "relu1"])(x)
    assert list(found) == ["conv2", "relu1"]
    torch.testing.assert_close(found["relu1"], model[:2](x))
    torch.testing.assert_close(found["conv2"], model[:3](x))
    reached = []
    model.conv3.register_forward_hook(lambda *args: reached.append(1))
    features.FeatureExtractor(model, "conv2")(x)
    assert reached == []  # stopped after conv2
    features.FeatureExtractor(model, "conv3")(x)
    assert reached == [1]
    assert not model.conv1._forward_hooks  # the extractor's hooks are removed
    out = features.extract(model, x, "logits")["logits"]
    torch.testing.assert_close(out, model(x))
    assert not out.requires_grad
    assert features.layer_shapes(model, x)[:3] == [
        ("conv1", (2, 8, 8, 8)),
        ("relu1", (2, 8, 8, 8)),
        ("conv2", (2, 8, 4, 4)),
    ]
