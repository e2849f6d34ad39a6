"""The one training loop behind the book's trained networks."""

import math
import re

import pytest
import torch
from conftest import grey_classifier
from torch import nn

from lib.training import train


def bars(n=30):
    torch.manual_seed(0)
    base = torch.zeros(3, 1, 6, 6)
    base[0, 0, :, 1] = 1
    base[1, 0, 2, :] = 1
    base[2, 0].fill_diagonal_(1)
    x = (base.repeat(n, 1, 1, 1) * 0.8 + 0.2 * torch.rand(3 * n, 1, 6, 6)).clamp(0, 1)
    return x, torch.arange(3).repeat(n)


def test_training_lowers_the_loss_is_seeded_and_freezes_the_model():
    x, y = bars()
    model = grey_classifier().requires_grad_(False)  # a frozen model is unfrozen to train
    history = train(model, x, y, nn.functional.cross_entropy, epochs=20, lr=1e-2, batch_size=16)
    assert len(history) == 20 and history[-1] < 0.3 * history[0]
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert (model(x).argmax(1) == y).float().mean() > 0.9
    again = grey_classifier()
    assert train(again, x, y, nn.functional.cross_entropy, 20, 1e-2, batch_size=16) == history
    other = grey_classifier()
    shuffled = train(other, x, y, nn.functional.cross_entropy, 20, 1e-2, batch_size=16, seed=1)
    assert shuffled != history  # another seed shuffles the batches differently


def test_reset_makes_the_start_independent_of_the_model_given():
    x, y = bars(5)
    first, second = grey_classifier(), grey_classifier()
    with torch.no_grad():
        second[0].weight.add_(1.0)  # a different start...
    a = train(first, x, y, nn.functional.cross_entropy, 3, 1e-2, reset=True)
    b = train(second, x, y, nn.functional.cross_entropy, 3, 1e-2, reset=True)
    assert a == b  # ...erased by the seeded re-initialisation
    third = grey_classifier()
    with torch.no_grad():
        third[0].weight.add_(1.0)
    assert train(third, x, y, nn.functional.cross_entropy, 3, 1e-2) != a  # kept without reset


def test_cosine_schedule_lowers_the_learning_rate_after_the_first_epoch():
    x, y = bars(5)
    # full batch: the loss of epoch k is measured before its step, so the lowered rate of the
    # second step shows in the third epoch's loss
    plain = train(grey_classifier(), x, y, nn.functional.cross_entropy, 3, 1e-2)
    cosine = train(grey_classifier(), x, y, nn.functional.cross_entropy, 3, 1e-2, cosine=True)
    assert cosine[:2] == plain[:2] and cosine[2] != plain[2]


def test_bad_training_input():
    x, y = bars(2)
    with pytest.raises(ValueError, match="6 inputs but 5 targets"):
        train(grey_classifier(), x, y[:5], nn.functional.cross_entropy, 1, 1e-2)
    with pytest.raises(ValueError, match="epochs"):
        train(grey_classifier(), x, y, nn.functional.cross_entropy, 0, 1e-2)


# --------------------------------------------------------------------------------------------
# The recorded curve pinned by hand: a one-weight model whose loss is its weight, so that Adam
# (whose step is lr × m̂ / (√v̂ + ε), exactly lr for a constant gradient) moves it by lr a step.


def _one_weight(value: float = 1.0) -> nn.Linear:
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(value)
    return model


def _mean_output(outputs, targets):
    return outputs.mean()


def test_the_history_is_the_loss_before_each_step_and_goes_down_by_lr():
    x, y = torch.ones(4, 1), torch.zeros(4)
    history = train(_one_weight(), x, y, _mean_output, epochs=4, lr=0.1)
    assert history == pytest.approx([1.0, 0.9, 0.8, 0.7], abs=1e-6)  # a loss, not its negative
    # with mini-batches every step also moves by lr: the epoch mean of 2 steps of 2 images
    history = train(_one_weight(), x, y, _mean_output, epochs=2, lr=0.1, batch_size=2)
    assert history == pytest.approx([(1.0 + 0.9) / 2, (0.8 + 0.7) / 2], abs=1e-6)


def test_the_epoch_loss_weighs_each_batch_by_its_size():
    # batches of 2, 2 and 1 images with a tiny step: the epoch loss is the mean over the images,
    # not the mean of the three batch means
    x = torch.tensor([[1.0], [2.0], [3.0], [4.0], [10.0]])
    losses = []

    def recording(outputs, targets):
        losses.append((outputs.detach().clone(), targets.clone()))
        return outputs.mean()

    history = train(_one_weight(), x, torch.zeros(5), recording, 1, lr=1e-9, batch_size=2)
    assert [len(out) for out, _ in losses] == [2, 2, 1]
    assert sorted(torch.cat([out for out, _ in losses]).flatten().tolist()) == pytest.approx(
        [1, 2, 3, 4, 10], rel=1e-6
    )  # every image once, shuffled
    assert history == pytest.approx([20 / 5], rel=1e-6)
    full = train(_one_weight(), x, torch.zeros(5), _mean_output, 1, lr=1e-9)
    assert full == pytest.approx([4.0], rel=1e-6)  # full batch: the whole set, one step


def test_full_batch_keeps_the_order_and_pairs_inputs_with_targets():
    x, y = torch.arange(6.0).view(6, 1), torch.arange(6.0) * 10
    seen = []

    def pairs(outputs, targets):
        seen.append(targets.tolist())
        return outputs.mean()

    train(_one_weight(), x, y, pairs, epochs=2, lr=1e-3)
    assert seen == [[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]] * 2
    seen.clear()
    train(_one_weight(), x, y, lambda out, t: seen.append(t.tolist()) or out.mean(), 1, 1e-3, 4)
    assert sorted(seen[0] + seen[1]) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert [len(s) for s in seen] == [4, 2]


def test_cosine_follows_half_a_cosine_from_lr_to_zero():
    x, y = torch.ones(3, 1), torch.zeros(3)
    history = train(_one_weight(), x, y, _mean_output, epochs=4, lr=0.1, cosine=True)
    rates = [0.1 * (1 + math.cos(math.pi * k / 4)) / 2 for k in range(3)]
    expected = [1.0] + [1.0 - sum(rates[: k + 1]) for k in range(3)]
    assert history == pytest.approx(expected, abs=1e-6)


def test_weight_decay_is_passed_to_adam():
    x, y = torch.ones(2, 1), torch.zeros(2)
    model = _one_weight(2.0)
    zero = train(model, x, y, lambda out, t: 0 * out.sum(), epochs=3, lr=0.1, weight_decay=0.5)
    assert zero == [0.0, 0.0, 0.0]
    # the only gradient is the decay's, 0.5 × w: what torch's Adam does with it
    weight = nn.Parameter(torch.tensor(2.0))
    adam = torch.optim.Adam([weight], lr=0.1, weight_decay=0.5)
    for _ in range(3):
        adam.zero_grad()
        (0 * weight).backward()
        adam.step()
    assert model.weight.item() == pytest.approx(weight.item(), abs=1e-7)
    assert model.weight.item() == pytest.approx(1.7, abs=1e-3)  # about lr a step, towards 0
    still = _one_weight(2.0)
    train(still, x, y, lambda out, t: 0 * out.sum(), epochs=3, lr=0.1)
    assert still.weight.item() == 2.0  # no decay by default


def test_reset_draws_the_layers_from_the_seed():
    x, y = torch.ones(2, 1), torch.zeros(2)
    model = nn.Sequential(_one_weight(5.0))  # every layer but the model itself is reset
    history = train(model, x, y, _mean_output, 1, lr=1e-9, reset=True, seed=3)
    torch.manual_seed(3)
    fresh = nn.Linear(1, 1, bias=False)  # the same draw as reset_parameters after the seed
    assert history == pytest.approx([fresh.weight.item()], rel=1e-6)
    assert fresh.weight.item() != pytest.approx(5.0)
    model = _one_weight()
    torch.manual_seed(0)
    train(model, x, y, _mean_output, 2, lr=0.1, seed=5, batch_size=1)
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(1))  # training leaves the global generator alone


def test_an_objective_on_the_model_replaces_the_loss():
    x, y = torch.ones(2, 1), torch.zeros(2)
    calls = []

    def objective(model, inputs, targets):
        calls.append(model.training)
        return model(inputs).mean() * 2

    history = train(_one_weight(), x, y, None, 2, lr=0.1, objective=objective)
    assert history == pytest.approx([2.0, 1.8], abs=1e-6) and calls == [True, True]
    message = "Pass either loss_fn (on the outputs) or objective (on the model)."
    for loss_fn, objective_ in ((None, None), (_mean_output, objective)):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            train(_one_weight(), x, y, loss_fn, 1, 0.1, objective=objective_)
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer; got 1\.5\.$"):
        train(_one_weight(), x, y, _mean_output, 1.5, 0.1)
    assert len(train(_one_weight(), x, y, _mean_output, 1, 0.1)) == 1  # one epoch is allowed


def test_single_thread_sets_one_thread_and_restores_the_setting():
    from lib.training import single_thread

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with single_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_batches_are_shuffled_by_their_own_generator_even_after_a_reset():
    x, y = torch.arange(7.0).view(7, 1), torch.arange(7.0)
    seen = []

    def recording(outputs, targets):
        seen.extend(targets.tolist())
        return outputs.mean()

    # reset=True draws the new weights from the global generator: the order must not depend on it
    train(nn.Sequential(_one_weight()), x, y, recording, 2, 1e-3, batch_size=3, reset=True, seed=4)
    generator = torch.Generator().manual_seed(4)
    expected = [torch.randperm(7, generator=generator).tolist() for _ in range(2)]
    assert seen == [float(i) for i in expected[0] + expected[1]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: a second device")
def test_training_moves_the_data_to_the_models_device():
    model = _one_weight().cuda()
    x, y = torch.ones(4, 1), torch.zeros(4)  # on the CPU
    assert train(model, x, y, _mean_output, 2, 0.1) == pytest.approx([1.0, 0.9], abs=1e-6)
    assert train(model, x, y, _mean_output, 1, 0.1, batch_size=2) == pytest.approx([0.75])


def test_the_data_goes_to_the_models_device():
    # the meta device stands in for a GPU: the objective sees where the batches are, and returns
    # a loss of its own (a meta tensor has no value to record)
    model = _one_weight().to("meta")
    seen = []

    def objective(model, inputs, targets):
        seen.append((inputs.device.type, targets.device.type))
        return torch.zeros((), requires_grad=True) * 1.0

    train(model, torch.ones(4, 1), torch.zeros(4), None, 1, 0.1, objective=objective)
    train(model, torch.ones(4, 1), torch.zeros(4), None, 1, 0.1, 2, objective=objective)
    assert seen == [("meta", "meta")] * 3
