import pytest
import torch
from torch import nn

from lib import deferred, features, models


def _normal_linear(module, generator):
    if isinstance(module, nn.Linear):
        module.weight.normal_(0.0, 1.0, generator=generator)
        module.bias.fill_(0.5)


def _block(seed=3):
    with torch.device("meta"):
        block = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    return deferred.DrawnOnFirstUse(block, _normal_linear, seed=seed)


def test_weights_are_drawn_at_the_first_real_input_only():
    block = _block()
    assert not block.drawn and block[0].weight.is_meta
    assert block(torch.zeros(5, 4, device="meta")).shape == (5, 2)  # shapes only: no draw
    assert not block.drawn
    out = block(torch.rand(5, 4))
    assert block.drawn and not block[0].weight.is_meta and out.shape == (5, 2)
    assert torch.equal(block[0].bias, torch.full((8,), 0.5))  # the initializer ran


def test_the_seed_decides_the_weights():
    x = torch.rand(3, 4)
    assert torch.equal(_block(3)(x), _block(3)(x))
    assert not torch.equal(_block(3)(x), _block(4)(x))
    generator = torch.Generator().manual_seed(3)
    expected = torch.empty(8, 4).normal_(0.0, 1.0, generator=generator)
    block = _block(3)
    block(x)
    assert torch.equal(block[0].weight, expected)  # drawn in module order from the seed


def test_moving_and_freezing_before_the_draw():
    block = _block().to("cpu").requires_grad_(False)
    block(torch.rand(1, 4))
    assert block[0].weight.device.type == "cpu" and not block[0].weight.requires_grad
    assert block.to(torch.float64)[0].weight.dtype == torch.float64  # after the draw, as usual


def test_hooks_on_the_layers_see_the_drawn_weights():
    block, seen = _block(), []
    block[0].register_forward_hook(lambda module, inputs, output: seen.append(output))
    out = block(torch.ones(1, 4))
    assert len(seen) == 1 and torch.allclose(seen[0], block[0](torch.ones(1, 4)))
    assert out.shape == (1, 2)


@pytest.fixture(scope="module")
def untrained_vgg19():
    return models.load_model("vgg19", pretrained=False, device="cpu")


def test_an_untrained_vgg_draws_its_classifier_only_when_it_runs(untrained_vgg19):
    model = untrained_vgg19
    image = torch.rand(1, 3, 64, 64)
    features.extract(model, image, ["relu5_1"])
    features.layer_shapes(model, image)
    assert all(p.is_meta for p in model.classifier.parameters())  # never reached
    conv = model.features[0]
    he_std = (2 / (conv.out_channels * 9)) ** 0.5  # torchvision's: He normal, fan out
    assert abs(conv.weight.std().item() - he_std) < 0.1 * he_std
    assert torch.all(conv.bias == 0)
    logits = model(image)
    fc6 = model.classifier[0]
    assert logits.shape == (1, 1000) and not fc6.weight.is_meta and not fc6.weight.requires_grad
    assert abs(fc6.weight.std().item() - 0.01) < 1e-4 and torch.all(fc6.bias == 0)


def test_untrained_vgg_copies_follow_their_seed(untrained_vgg19):
    image = torch.rand(1, 3, 32, 32)
    same = models.load_model("vgg19", pretrained=False, device="cpu")
    other = models.load_model("vgg19", pretrained=False, device="cpu", seed=1)
    assert torch.equal(untrained_vgg19(image), same(image))
    assert not torch.equal(same(image), other(image))


def test_a_block_built_with_weights_is_left_as_it_is():
    block = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    before = [p.clone() for p in block.parameters()]
    wrapped = deferred.DrawnOnFirstUse(block, _normal_linear, seed=3)
    assert wrapped.drawn
    wrapped(torch.rand(2, 4))
    assert all(torch.equal(p, q) for p, q in zip(wrapped.parameters(), before, strict=True))


def test_a_move_of_the_block_alone_leaves_its_layers_alone():
    block = _block()
    block(torch.rand(1, 4))
    weight = block[0].weight.clone()
    block.to_empty(device="cpu", recurse=False)  # the block itself holds no tensor
    assert torch.equal(block[0].weight, weight)
