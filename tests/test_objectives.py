"""Objectives: one convention (a loss to minimise), composition, reductions, one forward pass."""

import pytest
import torch
from conftest import small_cnn

from lib import objectives
from lib.features import FeatureExtractor
from lib.objectives import AlphaNorm, Channel, LayerEnergy, Neuron, TotalVariation


def relu2(model, images):
    return FeatureExtractor(model, "relu2")(images)["relu2"]


def test_activation_objectives_are_minus_the_activation():
    model, images = small_cnn(), torch.rand(2, 3, 16, 16)
    act = relu2(model, images)
    mean = Channel(model, "relu2", [1, 4])
    assert torch.allclose(
        mean.per_image(images), -torch.stack([act[0, 1].mean(), act[1, 4].mean()])
    )
    summed = Channel(model, "relu2", 3, reduction="sum")
    assert torch.allclose(summed.per_image(images), -act[:, 3].sum((-2, -1)))
    assert summed(images).item() == pytest.approx(-act[:, 3].sum().item(), rel=1e-5)
    neuron = Neuron(model, "relu2", 2, position=(1, 5))
    assert torch.allclose(neuron.per_image(images), -act[:, 2, 1, 5])
    energy = LayerEnergy(model, "relu2")
    assert torch.allclose(energy.per_image(images), -0.5 * act.pow(2).flatten(1).sum(1))
    with pytest.raises(ValueError, match="reduction"):
        Channel(model, "relu2", 0, reduction="max")


def test_objectives_add_and_scale():
    model, images = small_cnn(), torch.rand(2, 3, 16, 16)
    a, b = Channel(model, "relu2", 0), TotalVariation()
    total = a + 3.0 * b
    assert torch.allclose(total.per_image(images), a.per_image(images) + 3 * b.per_image(images))
    assert total(images).item() == pytest.approx(total.per_image(images).sum().item(), rel=1e-6)
    assert torch.allclose((-a).per_image(images), -a.per_image(images))
    assert torch.allclose((a - a).per_image(images), torch.zeros(2))
    assert torch.allclose((2 * (a + b)).per_image(images), 2 * (a + b).per_image(images))
    per_image = torch.tensor([1.0, 10.0]) * b  # one weight per image
    assert torch.allclose(per_image.per_image(images), b.per_image(images) * torch.tensor([1, 10]))
    terms = (a + 2.0 * b + b).terms(images)  # terms with one name add up
    assert set(terms) == {"activation", "tv"}
    assert torch.allclose(terms["tv"], 3 * b.per_image(images))


def test_a_sum_runs_each_network_once(monkeypatch):
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    calls = []
    forward = FeatureExtractor.forward
    monkeypatch.setattr(
        FeatureExtractor, "forward", lambda self, x: calls.append(1) or forward(self, x)
    )
    total = (
        Channel(model, "relu1", 0)
        + Channel(model, "relu2", 1)
        + LayerEnergy(model, "conv3")
        + AlphaNorm()
    )
    total(images)
    assert len(calls) == 1
    separate = sum(
        term(images) for term in (Channel(model, "relu1", 0), Channel(model, "relu2", 1))
    )
    assert len(calls) == 3
    assert separate.item() == pytest.approx(
        (Channel(model, "relu1", 0) + Channel(model, "relu2", 1))(images).item(), rel=1e-6
    )


def test_mixed_precision_runs_the_network_in_bfloat16():
    model, images = small_cnn(), torch.rand(1, 3, 16, 16)
    exact = LayerEnergy(model, "relu2")
    mixed = exact.with_mixed_precision()
    assert mixed(images).dtype == torch.float32
    assert mixed(images).item() != exact(images).item()
    assert mixed(images).item() == pytest.approx(exact(images).item(), rel=0.05)


def test_clear_errors():
    model = small_cnn()
    with pytest.raises(KeyError, match="valid names"):
        Channel(model, "conv9", 0)
    with pytest.raises(ValueError, match="2 weights for 3 images"):
        (torch.tensor([1.0, 2.0]) * TotalVariation()).per_image(torch.rand(3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        AlphaNorm().per_image(torch.rand(1, 1, 8, 8))
    with pytest.raises(TypeError):
        Channel(model, "relu2", 0) + 1.0
    assert objectives.REDUCTIONS == ("mean", "sum")
