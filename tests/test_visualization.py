"""Activation maximisation: objectives, the pass-through in the loop, measurements, and the
chapter's roles on every network that plays them."""

import pytest
import torch
from conftest import small_cnn as tiny_cnn
from torch import nn

from lib import models, networks
from lib.models import load_model
from lib.networks import attach, role, sequential
from lib.objectives import Channel, Neuron
from lib.optim import make_optimizer
from lib.visualization import (
    activation_of,
    channel_count,
    distinct_networks,
    effective_receptive_field,
    random_channels,
    randomize_weights,
    start_gradients,
    visualize,
)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("parametrization", ["fft", "pixel"])
def test_visualize_raises_the_chosen_activation(parametrization):
    net = tiny_cnn()
    result = visualize(
        net,
        "relu2",
        [0, 3],
        steps=30,
        size=32,
        parametrization=parametrization,
        transform=False,
        generator=gen(),
    )
    assert result.image.shape == (2, 3, 32, 32)
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert result.losses[-1] < result.losses[0]
    start = activation_of(net, "relu2", [0, 3], torch.full((2, 3, 32, 32), 0.5))
    assert (activation_of(net, "relu2", [0, 3], result.image) > start).all()


def test_batch_of_channels_gives_one_distinct_image_per_channel():
    net = tiny_cnn()
    result = visualize(net, "conv3", [0, 1, 2], steps=20, size=32, transform=False, generator=gen())
    images = result.image
    assert not torch.allclose(images[0], images[1]) and not torch.allclose(images[1], images[2])
    # each image excites its own channel more than the others' images do
    acts = torch.stack(
        [activation_of(net, "conv3", c, images) for c in range(3)]
    )  # (channel, image)
    assert (acts.argmax(dim=1) == torch.arange(3)).sum() >= 2


def test_transforms_keep_the_image_size_and_still_raise_the_activation():
    net = tiny_cnn()
    result = visualize(net, "relu2", [0, 1], steps=40, size=32, transform=True, generator=gen())
    assert result.image.shape == (2, 3, 32, 32)
    start = activation_of(net, "relu2", [0, 1], torch.full((2, 3, 32, 32), 0.5))
    assert (activation_of(net, "relu2", [0, 1], result.image) > start).all()


def test_neuron_and_class_objectives():
    net = tiny_cnn()
    images = torch.rand(2, 3, 16, 16, requires_grad=True)
    loss = Neuron(net, "conv2", [1, 2], position=(2, 3))(images)
    loss.backward()
    grad = images.grad.abs().sum(dim=(0, 1))
    assert grad[10:, 12:].sum() == 0  # a neuron only sees its receptive field
    result = visualize(net, "logits", 4, steps=15, size=16, generator=gen())
    before = Channel(net, "logits", 4).activations(torch.full((1, 3, 16, 16), 0.5))
    assert Channel(net, "logits", 4).activations(result.image) > before


def test_clear_errors_for_bad_requests():
    net = tiny_cnn()
    with pytest.raises(KeyError, match="Unknown layer"):
        visualize(net, "conv9", 0, steps=2, size=16)
    with pytest.raises(ValueError, match="out of range.*8 channels"):
        visualize(net, "conv2", 8, steps=2, size=16)
    with pytest.raises(ValueError, match="steps"):
        visualize(net, "conv2", 0, steps=0, size=16)
    with pytest.raises(ValueError, match="non-negative"):
        Channel(net, "conv2", -1)
    with pytest.raises(ValueError, match="kind"):
        visualize(net, "conv2", 0, steps=2, size=16, kind="layer")
    with pytest.raises(ValueError, match="parametrization"):
        visualize(net, "conv2", 0, steps=2, size=16, parametrization="cppn")
    with pytest.raises(ValueError, match="outside"):
        visualize(net, "conv2", 0, steps=2, size=16, kind="neuron", position=(20, 0))
    with pytest.raises(ValueError, match="one per image"):
        Channel(net, "conv2", [0, 1])(torch.rand(3, 3, 16, 16))


def test_effective_receptive_field_grows_with_depth():
    net = tiny_cnn()
    sizes = [
        effective_receptive_field(net, layer, size=32, generator=gen())
        for layer in ("conv1", "conv2", "conv3")
    ]
    assert sizes[0] < sizes[1] < sizes[2]
    assert sizes[0] <= 3  # one 3×3 convolution


def test_randomize_weights_copies_and_changes_the_network():
    net = tiny_cnn()
    before = [p.clone() for p in net.parameters()]
    clone = randomize_weights(net, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert not torch.equal(clone.conv1.weight, net.conv1.weight)
    x = torch.rand(1, 3, 16, 16)
    assert not torch.allclose(clone(x), net(x))
    assert torch.equal(randomize_weights(net, seed=3)(x), clone(x))  # seeded


def test_randomize_weights_calibrates_batch_norm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).eval()
    images = torch.rand(4, 3, 16, 16) * 5 + 2
    clone = randomize_weights(net, calibration=images)
    assert not clone.training
    out = clone[1](clone[0](images))
    assert out.mean().abs() < 0.1 and (out.std() - 1).abs() < 0.1


def test_the_optimiser_is_one_argument():
    net = tiny_cnn()

    def run(**optimizer):
        return visualize(
            net, "relu2", 0, steps=5, size=16, transform=False, generator=gen(), **optimizer
        )

    adam, sgd = run(), run(optimizer="sgd")
    slow = run(optimizer=make_optimizer("adam", lr=1e-4))
    assert adam.losses[0] == slow.losses[0] == sgd.losses[0]  # the same start
    gained = adam.losses[0] - adam.losses[-1]
    assert 0 < slow.losses[0] - slow.losses[-1] < gained / 10  # a much smaller step
    assert not torch.equal(adam.image, sgd.image)
    with pytest.raises(ValueError, match="L-BFGS needs the same function"):
        visualize(net, "relu2", 0, optimizer="lbfgs", steps=2, size=16, transform=True)


# --------------------------------------------------------------------------------------------
# The pass-through inside the visualisation
# --------------------------------------------------------------------------------------------


def dead_net() -> nn.Sequential:
    """Channel 0 of conv2 is negative for every image in [0, 1]: a dead ReLU."""
    net = tiny_cnn()
    with torch.no_grad():
        net.conv1.weight.abs_()
        net.conv1.bias.zero_()
        net.conv2.weight[0] = -net.conv2.weight[0].abs()
        net.conv2.bias[0] = -1.0
    return net


def test_a_dead_channel_starts_only_with_the_pass_through():
    net = dead_net()
    probe = torch.rand(2, 3, 16, 16, generator=gen())
    assert (start_gradients(net, "relu2", [0, 0], probe) == 0).all()
    assert (start_gradients(net, "relu2", [0, 0], probe, passthrough=True) > 0).all()
    stuck = visualize(net, "relu2", 0, steps=10, size=16, passthrough=False, generator=gen())
    woken = visualize(net, "relu2", 0, steps=10, size=16, redirect_steps=3, generator=gen())
    assert stuck.losses[-1] == stuck.losses[0] == 0
    assert torch.allclose(stuck.image, stuck.image.mean(), atol=0.05)  # still near grey
    assert not torch.equal(woken.image, stuck.image)
    assert all("forward" not in vars(module) for module in net.modules())  # restored


# --------------------------------------------------------------------------------------------
# The chapter's roles, on every network that plays them
# --------------------------------------------------------------------------------------------

PAGE_ROLES = ("unit", "gallery", "gallery_full", "sanity", "compare", "probe", "receptive_field")
ROLES_OF = {"googlenet": PAGE_ROLES, "efficientnet_lite0": PAGE_ROLES, "vgg19": ("compare",)}


def role_layers(model, key):
    value = role(model, key)
    if key == "unit":
        return [value]
    if key == "receptive_field":
        return [(value, 0)]
    return [(layer, 0) for layer in value]


@pytest.mark.parametrize("name", list(ROLES_OF))
def test_the_chapter_runs_through_every_role_of_every_network(name):
    model = load_model(name, pretrained=False, device="cpu")
    for key in ROLES_OF[name]:
        for layer, channel in role_layers(model, key):
            assert 0 <= channel < channel_count(model, layer, size=32), (key, layer)
            result = visualize(model, layer, [channel], steps=1, size=32, generator=gen())
            assert result.image.shape == (1, 3, 32, 32), (name, key, layer)


def test_the_compared_networks_are_compared_at_as_many_depths():
    depths = {name: len(networks.get(name).roles["compare"]) for name in ROLES_OF}
    assert len(set(depths.values())) == 1, depths


def test_a_tiny_described_network_plays_the_chapter():
    net = attach(
        tiny_cnn(),
        sequential(roles={"unit": ("relu2", 3), "gallery": ["relu1", "relu3"], "compare": []}),
    )
    layer, channel = role(net, "unit")
    result = visualize(net, layer, [channel], steps=3, size=16, generator=gen())
    assert result.image.shape == (1, 3, 16, 16)
    fields = [effective_receptive_field(net, lay, size=32) for lay in role(net, "gallery")]
    assert fields[0] < fields[1]
    with pytest.raises(KeyError, match="no role 'sanity'"):
        role(net, "sanity")


def test_distinct_networks_load_each_network_once(monkeypatch):
    loaded = []

    def fake_load(name, pretrained=True, device=None):
        loaded.append(name)
        asked = networks.get(name)
        offline = asked.downloads and models.offline_network_requested()
        return attach(tiny_cnn(), networks.get("efficientnet_lite0" if offline else name))

    monkeypatch.setattr(models, "load_model", fake_load)
    names = ["efficientnet_lite0", "googlenet", "vgg19"]
    found = distinct_networks(names)
    assert list(found) == ["EfficientNet-Lite0", "GoogLeNet", "VGG19"] and loaded == names
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "1")
    loaded.clear()
    already = fake_load("googlenet")
    loaded.clear()
    found = distinct_networks(names, loaded=[already])
    assert list(found) == ["EfficientNet-Lite0"] and found["EfficientNet-Lite0"] is already
    assert loaded == []  # every name stands for the offline network, already loaded


def test_random_channels_skip_the_channels_no_optimisation_can_start():
    net = tiny_cnn()
    with torch.no_grad():  # channel 0 of conv2: a constant below zero, whatever the image
        net.conv2.weight[0] = 0.0
        net.conv2.bias[0] = -1.0
    for seed in range(5):
        chosen = random_channels(net, "relu2", 7, size=16, generator=gen(seed))
        assert sorted(chosen) == list(range(1, 8))
    first = random_channels(net, "relu2", 3, size=16, generator=gen(1))
    assert first == random_channels(net, "relu2", 3, size=16, generator=gen(1))  # seeded
    assert first != random_channels(net, "relu2", 3, size=16, generator=gen(2))
    with pytest.raises(ValueError, match="only 7 channels"):
        random_channels(net, "relu2", 8, size=16, generator=gen())


# --- defaults, values and messages pinned one by one ----------------------------------------


def _record_optimize(monkeypatch):
    import lib.visualization as visualization
    from lib.optim import OptimResult

    calls = []

    def fake(image, objective, steps, **kw):
        calls.append({"image": image, "objective": objective, "steps": steps, **kw})
        pixels = image().detach()
        return OptimResult(image=pixels, best_image=pixels)

    monkeypatch.setattr(visualization, "optimize", fake)
    return calls


def test_the_visualisations_defaults(monkeypatch):
    from lib.parametrization import FourierImage
    from lib.passthrough import Redirection

    calls = _record_optimize(monkeypatch)
    model = tiny_cnn()
    visualize(model, "relu2", [1, 2], steps=5)
    call = calls[0]
    assert call["steps"] == 5 and call["optimizer"] == "adam"
    assert isinstance(call["image"], FourierImage)
    assert call["image"]().shape == (2, 3, 128, 128)  # 128 pixels, one image per channel
    assert isinstance(call["objective"], Channel) and call["objective"].channels == [1, 2]
    assert call["transform"] is not None  # the standard robustness transforms
    assert call["desc"] == "relu2" and call["progress"] is False
    assert call["snapshot_every"] is None
    redirection = call["on_step"].__self__
    assert isinstance(redirection, Redirection) and redirection.steps == 16
    visualize(
        model,
        "relu2",
        0,
        steps=2,
        size=16,
        parametrization="pixel",
        transform=False,
        passthrough=False,
        kind="neuron",
        position=(1, 1),
        desc="d",
        snapshot_every=1,
        optimizer="sgd",
        progress=True,
    )
    call = calls[1]
    assert call["transform"] is None and call["on_step"] is None
    assert isinstance(call["objective"], Neuron) and call["image"]().shape == (1, 3, 16, 16)
    assert call["desc"] == "d" and call["optimizer"] == "sgd" and call["progress"] is True
    assert call["snapshot_every"] == 1
    visualize(model, "relu2", 0, steps=1, size=16, redirect_steps=3)
    assert calls[2]["on_step"].__self__.steps == 3
    photo = torch.rand(1, 3, 20, 20)
    visualize(model, "relu2", [0, 1], steps=1, start=photo)
    assert torch.equal(calls[3]["image"](), photo.repeat(2, 1, 1, 1))


def test_the_visualisations_messages_in_full():
    model = tiny_cnn()
    for bad in (0, 1.0):
        with pytest.raises(ValueError, match=f"^steps must be a positive integer; got {bad!r}.$"):
            visualize(model, "relu2", 0, steps=bad)
    for bad in (15, 16.0):
        with pytest.raises(
            ValueError, match=f"^size must be an integer of at least 16 pixels; got {bad!r}.$"
        ):
            visualize(model, "relu2", 0, steps=1, size=bad)
    visualize(model, "relu2", 0, steps=1, size=16)
    with pytest.raises(ValueError, match="^Unknown kind 'pixel'; use one of channel, neuron.$"):
        visualize(model, "relu2", 0, steps=1, kind="pixel")
    with pytest.raises(ValueError, match="^Unknown parametrization 'x'; use one of fft, pixel.$"):
        visualize(model, "relu2", 0, steps=1, parametrization="x")
    with pytest.raises(
        ValueError, match=r"^start must be one \(1, 3, H, W\) image; got \(2, 3, 8, 8\).$"
    ):
        visualize(model, "relu2", 0, steps=1, start=torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"^start must be a batch of shape \(B, 3, H, W\)"):
        visualize(model, "relu2", 0, steps=1, start=torch.rand(1, 1, 8, 8))


def test_activation_and_channel_count_by_hand():
    model = tiny_cnn()
    images = torch.rand(2, 3, 16, 16, generator=gen(1))
    maps = model[:4](images)  # relu2
    torch.testing.assert_close(
        activation_of(model, "relu2", [3, 5], images), maps[[0, 1], [3, 5]].mean((1, 2))
    )
    torch.testing.assert_close(activation_of(model, "relu2", 3, images), maps[:, 3].mean((1, 2)))
    sizes = []
    model.conv1.register_forward_hook(lambda m, i, o: sizes.append(tuple(i[0].shape)))
    assert channel_count(model, "relu2") == 8 and sizes[-1] == (1, 3, 128, 128)
    assert channel_count(model, "logits", size=32) == 5 and sizes[-1] == (1, 3, 32, 32)


def test_start_gradients_are_the_norms_of_each_images_gradient():
    model = tiny_cnn()
    images = torch.rand(2, 3, 16, 16, generator=gen(2))
    x = images.clone().requires_grad_(True)
    Channel(model, "relu2", [1, 4])(x).backward()
    expected = x.grad.flatten(1).norm(dim=1)
    torch.testing.assert_close(start_gradients(model, "relu2", [1, 4], images), expected)
    # a black image and channels that are off: no gradient, unless redirected
    dark = torch.zeros(1, 3, 16, 16)
    off = [c for c in range(8) if start_gradients(model, "relu2", [c], dark).item() == 0]
    assert off, "some channel of relu2 is off on a black image"
    redirected = start_gradients(model, "relu2", off[:1], dark, passthrough=True)
    assert redirected.item() > 0


def _box_net(kernel: int) -> nn.Sequential:
    conv = nn.Conv2d(3, 1, kernel, padding=kernel // 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    return attach(nn.Sequential(conv).eval(), sequential("box"))


def test_the_effective_receptive_field_of_box_filters_by_hand():
    assert effective_receptive_field(_box_net(1), "0", size=16) == 1.0
    # a 3×3 box: nine equal gradients; 0.9 of them need the whole 3×3 square
    assert effective_receptive_field(_box_net(3), "0", size=16) == 3.0
    assert effective_receptive_field(_box_net(3), "0", size=16, mass=0.1) == 1.0  # 1/9 ≥ 0.1
    assert effective_receptive_field(_box_net(5), "0", size=16, mass=0.5) == 5.0  # 9/25 < 0.5
    zero = _box_net(3)
    with torch.no_grad():
        zero[0].weight.zero_()
    assert effective_receptive_field(zero, "0", size=16) == 0.0
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match=f"^mass must be between 0 and 1; got {bad}.$"):
            effective_receptive_field(_box_net(3), "0", mass=bad)
    flat = attach(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)).eval(), sequential("flat"))
    with pytest.raises(ValueError, match=r"^Layer '1' has no spatial maps \(shape \(4, 2\)\).$"):
        effective_receptive_field(flat, "1", size=16)


def test_random_channels_are_seeded_and_refuse_too_many():
    model = tiny_cnn()
    picked = random_channels(model, "relu2", 3, size=16, generator=gen(5))
    assert picked == random_channels(model, "relu2", 3, size=16, generator=gen(5))
    assert len(set(picked)) == 3 and all(0 <= c < 8 for c in picked)
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match=f"^count must be a positive integer; got {bad!r}.$"):
            random_channels(model, "relu2", bad)
    with pytest.raises(
        ValueError,
        match=r"^'relu2' has only \d channels that an optimisation can start; asked for 9.$",
    ):
        random_channels(model, "relu2", 9, size=16, generator=gen(5))


def test_randomize_weights_by_hand():
    model = tiny_cnn()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copy = randomize_weights(model, seed=3)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    torch.manual_seed(3)
    expected = torch.empty(8, 3, 3, 3)
    nn.init.kaiming_normal_(expected, nonlinearity="relu")
    torch.testing.assert_close(copy.conv1.weight, expected)  # the first layer drawn first
    assert (copy.conv1.bias == 0).all() and (copy.logits.bias == 0).all()
    assert not copy.training and not any(p.requires_grad for p in copy.parameters())
    assert copy.pretrained is False
    assert torch.equal(
        randomize_weights(model).conv1.weight, randomize_weights(model, 0).conv1.weight
    )
    state = torch.get_rng_state()
    randomize_weights(model, seed=4)
    assert torch.equal(torch.get_rng_state(), state)


def test_the_receptive_field_reads_128_pixels_and_small_gradients():
    sizes = []
    net = _box_net(3)
    net[0].register_forward_hook(lambda m, i, o: sizes.append(tuple(i[0].shape)))
    effective_receptive_field(net, "0")
    assert sizes == [(4, 3, 128, 128)]  # four noisy grey images of 128 pixels by default
    faint = _box_net(3)
    with torch.no_grad():
        faint[0].weight.fill_(1e-3)  # a gradient summing to about 0.1: still measured
    assert effective_receptive_field(faint, "0", size=16) == 3.0


def test_random_channels_read_64_pixel_images_and_accept_one():
    model = tiny_cnn()
    sizes = []
    model.conv1.register_forward_hook(lambda m, i, o: sizes.append(tuple(i[0].shape[-2:])))
    assert len(random_channels(model, "relu2", 1, generator=gen(0))) == 1
    assert set(sizes) == {(64, 64)}


def test_a_pixel_image_is_drawn_from_the_generator_given():
    from lib.parametrization import PixelImage
    from lib.visualization import make_image

    torch.manual_seed(1)  # the global generator elsewhere: the image must not read it
    image = make_image("pixel", 2, 16, generator=gen(3))
    expected = PixelImage.noise(2, 16, 16, generator=gen(3))
    assert torch.equal(image(), expected())
