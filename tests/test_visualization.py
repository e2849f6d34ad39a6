"""Activation maximisation on tiny networks: objectives, ReLU pass-through, measurements."""

from collections import OrderedDict

import pytest
import torch
from conftest import small_cnn as tiny_cnn
from torch import nn

from lib.features import FeatureExtractor
from lib.objectives import Channel, Neuron
from lib.optim import make_optimizer
from lib.passthrough import relu_passthrough
from lib.visualization import (
    activation_of,
    effective_receptive_field,
    high_frequency_ratio,
    radial_power,
    randomize_weights,
    start_gradients,
    top_patches,
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


def dead_net() -> nn.Sequential:
    """Channel 0 of conv2 is negative for every image in [0, 1]: a dead ReLU."""
    net = tiny_cnn()
    with torch.no_grad():
        net.conv1.weight.abs_()
        net.conv1.bias.zero_()
        net.conv2.weight[0] = -net.conv2.weight[0].abs()
        net.conv2.bias[0] = -1.0
    return net


def test_relu_passthrough_wakes_dead_units_and_restores_the_model():
    net = dead_net()
    images = torch.rand(1, 3, 16, 16, requires_grad=True)
    objective = Channel(net, "relu2", 0)
    objective(images).backward()
    assert images.grad.abs().sum() == 0  # plain ReLU: no gradient at all
    plain_output = net(images.detach())
    with relu_passthrough(net) as count:
        assert count == 3
        images.grad = None
        objective(images).backward()
        assert images.grad.abs().sum() > 0
        assert torch.equal(net(images.detach()), plain_output)  # forward unchanged
    images.grad = None
    objective(images).backward()
    assert images.grad.abs().sum() == 0  # restored
    probe = torch.rand(2, 3, 16, 16)
    assert (start_gradients(net, "relu2", [0, 0], probe) == 0).all()
    assert (start_gradients(net, "relu2", [0, 0], probe, passthrough=True) > 0).all()
    stuck = visualize(net, "relu2", 0, steps=10, size=16, passthrough=False, generator=gen())
    woken = visualize(net, "relu2", 0, steps=10, size=16, passthrough=True, generator=gen())
    assert stuck.losses[-1] == stuck.losses[0] == 0
    assert torch.allclose(stuck.image, stuck.image.mean(), atol=0.05)  # still near grey
    assert not torch.equal(woken.image, stuck.image)


def test_relu_passthrough_handles_torchvision_conv_blocks():
    from torchvision.models.googlenet import BasicConv2d

    block = BasicConv2d(3, 4, kernel_size=3).eval().requires_grad_(False)
    with torch.no_grad():
        block.conv.weight.copy_(-block.conv.weight.abs())
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    (-block(x).mean()).backward()
    assert x.grad.abs().sum() == 0
    with relu_passthrough(block) as count:
        assert count == 1
        x.grad = None
        (-block(x).mean()).backward()
        assert x.grad.abs().sum() > 0


def test_high_frequency_ratio_separates_noise_from_smooth_images():
    noise = torch.rand(2, 3, 32, 32, generator=gen())
    wave = 0.5 + 0.4 * torch.cos(torch.arange(32) * 2 * torch.pi / 32)  # one period, smooth
    ramp = wave.expand(2, 3, 32, 32)
    assert (high_frequency_ratio(noise) > 0.6).all()
    assert (high_frequency_ratio(ramp) < 0.05).all()
    assert (high_frequency_ratio(torch.full((1, 3, 8, 8), 0.3)) == 0).all()
    with pytest.raises(ValueError):
        high_frequency_ratio(noise[0])


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
# Dataset examples: top_patches
# --------------------------------------------------------------------------------------------


def block_net() -> nn.Sequential:
    """One 8×8 convolution with stride 8: position (i, j) is the mean brightness of the block
    of rows 8i…8i+7 and columns 8j…8j+7 (channel 0) and minus it (channel 1)."""
    conv = nn.Conv2d(3, 2, 8, stride=8, bias=False)
    with torch.no_grad():
        conv.weight[0] = 1 / 192
        conv.weight[1] = -1 / 192
    return nn.Sequential(OrderedDict(conv=conv)).eval().requires_grad_(False)


def pixel_net() -> nn.Sequential:
    """A 1×1 convolution: position (i, j) is the brightness of pixel (i, j)."""
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1 / 3)
    return nn.Sequential(OrderedDict(conv=conv)).eval().requires_grad_(False)


def grey_with_squares(size=64, squares=()):
    image = torch.full((1, 3, size, size), 0.2)
    for top, left, side, value in squares:
        image[..., top : top + side, left : left + side] = value
    return image


def test_top_patch_is_the_block_that_excites_the_channel_most():
    image = grey_with_squares(squares=[(24, 40, 8, 1.0), (8, 8, 8, 0.6)])
    found = top_patches(block_net(), "conv", [0, 1], image, k=2, patch_size=8)
    assert found.patches.shape == (2, 2, 3, 8, 8)
    assert found.sources[0] == [(0, 24, 40), (0, 8, 8)]  # the bright square, then the dim one
    assert torch.equal(found.patches[0, 0], image[0, :, 24:32, 40:48])
    assert torch.allclose(found.scores[0], torch.tensor([1.0, 0.6]))
    # channel 1 is minus the brightness: a background block, never a square
    assert all((top, left) not in [(24, 40), (8, 8)] for _, top, left in found.sources[1])
    assert torch.allclose(found.scores[1], torch.tensor([-0.2, -0.2]))


def test_top_patches_search_every_image_and_keep_their_sizes():
    dim = grey_with_squares(squares=[(0, 0, 8, 0.5)])
    bright = grey_with_squares(size=48, squares=[(16, 32, 8, 0.9)])
    found = top_patches(block_net(), "conv", 0, [dim[0], bright], k=2, patch_size=8)
    assert found.sources[0] == [(1, 16, 32), (0, 0, 0)]


def test_top_patches_do_not_repeat_one_spot():
    # every pixel of the bright square ties; patches of 16 px around them would all overlap
    image = grey_with_squares(squares=[(30, 30, 4, 1.0), (4, 44, 4, 0.7)])
    found = top_patches(pixel_net(), "conv", [0], image, k=2, patch_size=16)
    (first, top1, left1), (second, top2, left2) = found.sources[0]
    assert abs(top1 - top2) >= 8 or abs(left1 - left2) >= 8
    assert torch.allclose(found.scores[0], torch.tensor([1.0, 0.7]))
    # a patch centred near the border is shifted inside the image, at full size
    assert 0 <= top2 and left2 + 16 <= 64 and found.patches.shape[-2:] == (16, 16)


def test_top_patches_are_sorted_and_scored_by_the_activation():
    net = tiny_cnn()
    images = torch.rand(3, 3, 32, 32, generator=gen())
    found = top_patches(net, "relu2", [0, 5], images, k=5, patch_size=12)
    assert found.patches.shape == (2, 5, 3, 12, 12)
    assert (found.scores[:, :-1] >= found.scores[:, 1:]).all()
    acts = FeatureExtractor(net, "relu2")(images)["relu2"][:, [0, 5]]
    assert torch.allclose(found.scores[:, 0], acts.amax(dim=(0, 2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"patch_size": 40}, "larger than the smallest"),
        ({"patch_size": 0}, "patch_size must be"),
        ({"channels": [8]}, "out of range"),
        ({"channels": []}, "channels is empty"),
        ({"layer": "logits"}, "no spatial maps"),
        ({"images": []}, "images is empty"),
        ({"images": torch.full((1, 3, 32, 32), 2.0)}, r"\[0, 1\]"),
        ({"images": torch.rand(2, 3, 32)}, "shape"),
    ],
)
def test_top_patches_reject_bad_input_clearly(kwargs, message):
    arguments = {
        "layer": "relu2",
        "channels": [0],
        "images": torch.rand(1, 3, 32, 32),
        "k": 2,
        "patch_size": 8,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        top_patches(tiny_cnn(), **arguments)


# --------------------------------------------------------------------------------------------
# radial_power
# --------------------------------------------------------------------------------------------


def test_radial_power_is_flat_for_white_noise_and_falls_for_a_smooth_image():
    noise = torch.rand(8, 3, 64, 64, generator=gen())
    centres, spectra = radial_power(noise, bins=8)
    assert centres.shape == (8,) and spectra.shape == (8, 8)
    mean = spectra.mean(dim=0)
    assert mean.max() / mean.min() < 1.5
    smooth = torch.nn.functional.avg_pool2d(noise, 9, stride=1, padding=4)
    _, smooth_spectra = radial_power(smooth, bins=8)
    assert (smooth_spectra[:, 0] > 20 * smooth_spectra[:, -1]).all()
    with pytest.raises(ValueError, match="bins"):
        radial_power(noise, bins=1)
