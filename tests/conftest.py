"""Shared fixtures: a private cache folder, tiny images and a tiny network."""

from __future__ import annotations

import pytest
import torch
from torch import nn


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
    for name in ("CNNX_PROFILE", "CNNX_DEVICE", "CNNX_RANDOM_WEIGHTS"):
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
