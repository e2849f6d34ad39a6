"""Shared fixtures (a private cache folder per test, offline downloads) and the tiny networks
every test file uses: import them with ``from conftest import small_cnn`` and so on."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn


def _named(*layers, he: bool = False) -> nn.Sequential:
    net = nn.Sequential(OrderedDict(layers))
    if he:  # He initialisation: activations of a sensible size through the depth
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return net.eval().requires_grad_(False)


def small_cnn(seed: int = 0) -> nn.Sequential:
    """Three 3×3 convolutions (the last two strided), global pooling and five logits."""
    torch.manual_seed(seed)
    return _named(
        ("conv1", nn.Conv2d(3, 8, 3, padding=1)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(8, 8, 3, padding=1, stride=2)),
        ("relu2", nn.ReLU()),
        ("conv3", nn.Conv2d(8, 8, 3, padding=1, stride=2)),
        ("relu3", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)),
        ("flat", nn.Flatten()),
        ("logits", nn.Linear(8, 5)),
        he=True,
    )


def deep_cnn() -> nn.Sequential:
    """Four conv blocks with max pooling: deep enough for inversion to lose detail."""
    torch.manual_seed(0)
    layers = []
    for block, (cin, cout) in enumerate([(3, 16), (16, 16), (16, 16), (16, 8)], start=1):
        layers += [
            (f"conv{block}", nn.Conv2d(cin, cout, 3, padding=1)),
            (f"relu{block}", nn.ReLU()),
        ]
        if block < 4:
            layers.append((f"pool{block}", nn.MaxPool2d(2)))
    return _named(*layers, he=True)


def pointwise_cnn() -> nn.Sequential:
    """1×1 convolutions only: each output position sees one pixel (tiles are then exact)."""
    torch.manual_seed(1)
    return _named(
        ("conv1", nn.Conv2d(3, 5, 1)), ("relu1", nn.Tanh()), ("conv2", nn.Conv2d(5, 4, 1))
    )


def tiny_vgg(seed: int = 0) -> nn.Sequential:
    """VGG's layer names on two small blocks, for style transfer."""
    torch.manual_seed(seed)
    return _named(
        ("conv1_1", nn.Conv2d(3, 8, 3, padding=1)),
        ("relu1_1", nn.ReLU()),
        ("pool1", nn.AvgPool2d(2)),
        ("conv2_1", nn.Conv2d(8, 12, 3, padding=1)),
        ("relu2_1", nn.ReLU()),
        ("conv2_2", nn.Conv2d(12, 12, 3, padding=1)),
        ("relu2_2", nn.ReLU()),
    )


def grey_classifier(classes: int = 3) -> nn.Sequential:
    """A trainable classifier of 6×6 grey images."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, classes)
    ).eval()


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The tests' networks are tiny: one thread is faster, and steady on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _isolated_environment(tmp_path, monkeypatch):
    """Every test gets its own download caches and the default profile/weights settings."""
    monkeypatch.setenv("CNNX_CACHE", str(tmp_path / "asset-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    for name in ("CNNX_PROFILE", "CNNX_DEVICE", "CNNX_OFFLINE_NETWORK", "CNNX_CLAIMS_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    torch.manual_seed(0)


@pytest.fixture
def tiny_cnn() -> nn.Sequential:
    """A three-layer CNN with named layers, small enough for any test."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, stride=2, padding=1),
    ).eval()


@pytest.fixture
def offline(monkeypatch):
    """Make every urllib download fail at once, as on a machine without network."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing listens
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
