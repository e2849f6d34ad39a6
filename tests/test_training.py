"""The one training loop behind the book's trained networks, and the coarse-to-fine helper."""

import pytest
import torch
from conftest import grey_classifier
from torch import nn

from lib.multiscale import scaled_sizes
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


def test_scaled_sizes():
    assert scaled_sizes(40, 60, (0.5, 1.0)) == [(20, 30), (40, 60)]
    assert scaled_sizes(20, 20, (0.25, 1.0)) == [(16, 16), (20, 20)]  # at least 16 a side
    with pytest.raises(ValueError, match="end with 1.0"):
        scaled_sizes(40, 60, (0.5,))
