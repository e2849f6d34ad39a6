import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from lib import models


def test_random_weights_are_an_explicit_visible_control(capsys):
    model = models.load_model("googlenet", pretrained=False, device="cpu")
    assert model.pretrained is False and model.network.name == "googlenet"
    assert "Network: GoogLeNet, random weights (an untrained control)." in capsys.readouterr().out
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert len(model.categories) == 1000 and model.categories[0] == "tench"


def test_the_offline_switch_runs_the_trained_offline_network(monkeypatch, capsys):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "1")
    model = models.load_model("vgg19", device="cpu")
    assert model.network.name == "efficientnet_lite0" and model.pretrained is True
    assert model.stands_in_for == "VGG19"
    line = capsys.readouterr().out
    assert "Network: EfficientNet-Lite0, trained on ImageNet" in line
    assert "stands in for VGG19" in line and "CNNX_OFFLINE_NETWORK" in line
    # an untrained control stays the network asked for
    control = models.load_model("vgg19", pretrained=False, device="cpu")
    assert control.network.name == "vgg19"


def test_bad_switch_value(monkeypatch):
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "maybe")
    with pytest.raises(ValueError, match="CNNX_OFFLINE_NETWORK='maybe'"):
        models.load_model("vgg16")


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown network 'resnet'; the book describes .*vgg19"):
        models.load_model("resnet", pretrained=False)
    with pytest.raises(TypeError, match="pretrained must be True or False"):
        models.load_model("vgg19", pretrained=None)


def test_random_weights_are_seeded():
    first = models.load_model("googlenet", pretrained=False, device="cpu", seed=1)
    second = models.load_model("googlenet", pretrained=False, device="cpu", seed=1)
    assert torch.equal(first.conv1.conv.weight, second.conv1.conv.weight)


def test_vgg_relus_are_not_in_place():
    model = models.load_model("vgg19", pretrained=False, device="cpu")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)


def _seed_hub_cache(name: str) -> None:
    """Write a random state dict under the file name torchvision expects: no network needed."""
    reference = getattr(torchvision.models, name)(
        weights=None, transform_input=True, aux_logits=True, init_weights=True
    )
    path = Path(models.weights_path(name))
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)


def test_pretrained_path_loads_from_the_hub_cache(offline):
    _seed_hub_cache("googlenet")
    pretrained = models.load_model("googlenet", pretrained=True, device="cpu")
    random = models.load_model("googlenet", pretrained=False, device="cpu")
    assert pretrained.pretrained is True
    assert pretrained.transform_input and random.transform_input
    # the same modules with and without weights (the auxiliary heads are gone from both)
    assert [n for n, _ in pretrained.named_modules()] == [n for n, _ in random.named_modules()]
    assert pretrained(torch.rand(1, 3, 64, 64)).shape == (1, 1000)


def test_missing_weights_offline_give_a_clear_error(offline):
    with pytest.raises(models.WeightsUnavailableError) as caught:
        models.load_model("googlenet", pretrained=True, device="cpu")
    message = str(caught.value)
    path = Path(models.weights_path("googlenet"))
    assert path.name in message and str(path.parent) in message
    assert "CNNX_OFFLINE_NETWORK=1" in message


def test_prefetch_command_fails_without_a_traceback(offline):
    done = subprocess.run(
        [sys.executable, "-m", "lib.models", "googlenet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "error: The trained weights of GoogLeNet" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
