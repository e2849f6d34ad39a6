"""The redirected rectifiers of lib.passthrough (Lucid's redirected ReLU/ReLU6).

Forward values never change. Backward, an image whose true gradient through a rectifier is zero
everywhere gets the gradient let through where it moves a unit back into the active range (up
from below 0, down from above 6), and only there; any other image gets the true gradient; and
after ``steps`` optimisation steps every image gets the true gradient.
"""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from lib.models import load_model
from lib.networks import attach, describe, sequential
from lib.passthrough import relu_passthrough

# The loop minimises: a negative gradient asks to raise the unit, a positive one to lower it.
UP, DOWN = -1.0, 1.0


def rectifier(kind: str) -> nn.Sequential:
    """One rectifier as a network, so that its input is the pre-activation itself."""
    module = nn.ReLU() if kind == "relu" else nn.ReLU6()
    return nn.Sequential(OrderedDict(act=module)).eval()


def gradient(net: nn.Module, x: torch.Tensor, upstream: torch.Tensor) -> torch.Tensor:
    """The gradient reaching ``x`` when the loss's gradient at the output is ``upstream``."""
    x = x.clone().requires_grad_(True)
    net(x).backward(upstream)
    return x.grad


@pytest.mark.parametrize("kind", ["relu", "relu6"])
def test_an_image_with_a_true_gradient_keeps_it_exactly(kind):
    net = rectifier(kind)
    x = torch.tensor([[-2.0, -0.5, 1.0, 3.0, 7.0, 9.0]])  # off, off, on, on, (ReLU6: over 6)
    upstream = torch.tensor([[UP, DOWN, UP, DOWN, DOWN, UP]])
    true = gradient(net, x, upstream)
    with relu_passthrough(net):
        assert torch.equal(gradient(net, x, upstream), true)
    active = (x > 0) & ((x < 6) if kind == "relu6" else True)
    assert torch.equal(true, torch.where(active, upstream, 0.0))  # nothing leaks anywhere


def test_a_dead_relu_passes_the_gradient_only_towards_the_active_range():
    net = rectifier("relu")
    x = torch.tensor([[-2.0, -1.0, -0.5, 0.0]])  # off everywhere: the true gradient is zero
    upstream = torch.tensor([[UP, DOWN, UP, DOWN]])
    assert not gradient(net, x, upstream).any()
    with relu_passthrough(net):
        passed = gradient(net, x, upstream)
    # raised where asked to rise (all of it, not a fraction); never pushed further below zero
    assert torch.equal(passed, torch.tensor([[UP, 0.0, UP, 0.0]]))


def test_a_saturated_relu6_passes_the_gradient_back_down_into_its_range():
    net = rectifier("relu6")
    x = torch.tensor([[6.0, 7.5, 9.0, 12.0]])  # saturated everywhere: the true gradient is zero
    upstream = torch.tensor([[UP, DOWN, DOWN, UP]])
    assert not gradient(net, x, upstream).any()
    with relu_passthrough(net):
        passed = gradient(net, x, upstream)
    assert torch.equal(passed, torch.tensor([[0.0, DOWN, DOWN, 0.0]]))


def test_the_rule_is_decided_image_by_image():
    net = rectifier("relu6")
    x = torch.tensor([[-1.0, 2.0, -3.0], [-1.0, -2.0, 8.0]])  # image 0 alive, image 1 dead
    upstream = torch.full_like(x, UP)
    upstream[1, 2] = DOWN
    with relu_passthrough(net):
        passed = gradient(net, x, upstream)
    assert torch.equal(passed[0], torch.tensor([0.0, UP, 0.0]))  # the true gradient
    assert torch.equal(passed[1], torch.tensor([UP, UP, DOWN]))  # redirected


def test_the_redirection_ends_after_its_steps():
    net = rectifier("relu")
    x = torch.full((1, 4), -1.0)
    upstream = torch.full_like(x, UP)
    with relu_passthrough(net, steps=2) as redirection:
        assert redirection.count == 1
        redirection.on_step(1, 0.0)  # the loop calls it after each step, counting from 1
        assert torch.equal(gradient(net, x, upstream), upstream)
        redirection.on_step(2, 0.0)
        assert not gradient(net, x, upstream).any()  # from now on, the true gradient
        assert torch.equal(net(x), torch.zeros_like(x))
    with relu_passthrough(net, steps=None) as forever:
        for step in range(1, 100):
            forever.on_step(step, 0.0)
        assert torch.equal(gradient(net, x, upstream), upstream)


def test_steps_must_be_a_positive_integer():
    for steps in (0, -3, 2.5):
        with pytest.raises(ValueError, match="steps"), relu_passthrough(rectifier("relu"), steps):
            pass


def test_forward_unchanged_and_model_restored_also_after_an_error():
    torch.manual_seed(0)
    net = nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 6, 3, padding=1),
            relu1=nn.ReLU(),
            conv2=nn.Conv2d(6, 4, 3, padding=1),
            relu2=nn.ReLU6(),
        )
    ).eval()
    x = torch.randn(2, 3, 8, 8) * 4
    before = net(x)
    with relu_passthrough(net) as redirection:
        assert redirection.count == 2
        assert torch.equal(net(x), before)
    with pytest.raises(RuntimeError, match="boom"), relu_passthrough(net):
        raise RuntimeError("boom")
    assert all("forward" not in vars(module) for module in net.modules())  # the class's own
    assert torch.equal(net(x), before)


def basic_conv_block():
    from torchvision.models.googlenet import BasicConv2d

    torch.manual_seed(0)
    block = BasicConv2d(3, 4, kernel_size=3).eval().requires_grad_(False)
    with torch.no_grad():
        block.conv.weight.copy_(-block.conv.weight.abs())  # positive inputs: negative outputs
    return attach(block, describe(load_model("googlenet", pretrained=False, device="cpu")))


def test_torchvision_conv_blocks_redirect_their_functional_relu():
    block = basic_conv_block()
    alive = torch.rand(1, 3, 8, 8) - 0.5  # some positions on, some off
    dead = torch.rand(1, 3, 8, 8)  # off everywhere
    x = torch.cat([alive, dead])
    upstream = torch.full((2, 4, 6, 6), UP)
    true = gradient(block, x, upstream)
    assert true[0].any() and not true[1].any()
    pre = nn.Sequential(block.conv, block.bn)  # the pre-activation, without the ReLU
    with relu_passthrough(block) as redirection:
        assert redirection.count == 1
        assert torch.equal(block(x), torch.relu(pre(x)))  # forward unchanged
        passed = gradient(block, x, upstream)
    assert torch.equal(passed[0], true[0])  # the alive image: the true gradient, no leak
    assert torch.allclose(passed[1], gradient(pre, x, upstream)[1])  # dead: all of it passes
    assert "forward" not in vars(block)


def test_googlenet_and_a_relu6_network_have_all_their_rectifiers_redirected():
    googlenet = load_model("googlenet", pretrained=False, device="cpu")
    blocks = sum(type(m).__name__ == "BasicConv2d" for m in googlenet.modules())
    with relu_passthrough(googlenet) as redirection:
        assert redirection.count == blocks > 50
    tiny = nn.Sequential(
        OrderedDict(conv=nn.Conv2d(3, 2, 1), act=nn.ReLU6(), pool=nn.AdaptiveAvgPool2d(1))
    ).eval()
    attach(tiny, sequential(roles={}))
    with torch.no_grad():
        tiny.conv.weight.fill_(1.0)
        tiny.conv.bias.fill_(10.0)  # saturated above 6 for every image in [0, 1]
    x = torch.rand(1, 3, 4, 4, requires_grad=True)
    tiny(x).sum().backward()  # minimising the sum asks to lower the units: back into range
    assert not x.grad.any()
    x.grad = None
    with relu_passthrough(tiny) as redirection:
        assert redirection.count == 1
        tiny(x).sum().backward()
    assert (x.grad > 0).all()


# --- defaults, values and messages pinned one by one ----------------------------------------


def test_the_redirection_lasts_16_steps_by_default_and_the_message_in_full():
    net = rectifier("relu")
    with relu_passthrough(net) as redirection:
        assert redirection.steps == 16 and redirection.active
        redirection.on_step(15)
        assert redirection.active
        redirection.on_step(16)
        assert not redirection.active
    for bad in (0, 2.5, "3"):
        with (
            pytest.raises(
                ValueError, match=f"^steps must be a positive integer or None; got {bad!r}.$"
            ),
            relu_passthrough(net, bad),
        ):
            pass


def test_the_redirected_rectifier_by_hand():
    from lib.passthrough import Redirection, redirected_rectifier

    x = torch.tensor([[-1.0, 0.0, 3.0, 6.0, 7.0]])
    assert torch.equal(redirected_rectifier(x), torch.tensor([[0.0, 0.0, 3.0, 6.0, 7.0]]))
    assert torch.equal(redirected_rectifier(x, 6.0), torch.tensor([[0.0, 0.0, 3.0, 6.0, 6.0]]))

    def grad(x, upper, upstream, state=None):
        x = x.clone().requires_grad_(True)
        redirected_rectifier(x, upper, state).backward(upstream)
        return x.grad

    # one image with a true gradient (through 3.0): exactly the true gradient
    up = torch.full_like(x, UP)
    assert torch.equal(grad(x, 6.0, up), torch.tensor([[0.0, 0.0, UP, 0.0, 0.0]]))
    # no unit inside: let through where it moves back in (up at or below 0, down at or above 6)
    dead = torch.tensor([[-1.0, 0.0, 6.0, 7.0]])
    mixed = torch.tensor([[UP, DOWN, DOWN, UP]])
    assert torch.equal(grad(dead, 6.0, mixed), torch.tensor([[UP, 0.0, DOWN, 0.0]]))
    # a ReLU without an upper bound: 6 and 7 are inside, the true gradient goes through them
    assert torch.equal(grad(dead, None, mixed), torch.tensor([[0.0, 0.0, DOWN, UP]]))
    below = torch.tensor([[-1.0, 0.0]])
    assert torch.equal(grad(below, None, mixed[:, :2]), torch.tensor([[UP, 0.0]]))
    # a redirection switched off gives the true gradient: none here
    off = Redirection(count=1, steps=None, active=False)
    assert not grad(dead, 6.0, mixed, off).any()


def test_the_redirection_at_the_edges_of_the_range():
    from lib.passthrough import redirected_rectifier

    def grad(x, upper, upstream):
        x = x.clone().requires_grad_(True)
        redirected_rectifier(x, upper).backward(upstream)
        return x.grad

    # a unit exactly at 0 is off: asked to rise, it is let through
    assert torch.equal(grad(torch.tensor([[0.0]]), 6.0, torch.tensor([[UP]])), torch.tensor([[UP]]))
    # a small push down below 0 is stopped, whatever its size
    assert not grad(torch.tensor([[-1.0]]), 6.0, torch.tensor([[0.5 * DOWN]])).any()
    # with a bound below 1, a unit above it asked to rise further is stopped
    assert not grad(torch.tensor([[0.8]]), 0.5, torch.tensor([[UP]])).any()
