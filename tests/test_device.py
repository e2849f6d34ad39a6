import pytest
import torch

from lib import device


def test_cpu_machine_defaults_to_quick_profile(monkeypatch):
    monkeypatch.setenv("CNNX_DEVICE", "cpu")
    assert device.get_device() == torch.device("cpu")
    assert device.get_profile() == "quick"
    assert device.by_profile(quick=1, full=2) == 1


def test_profile_override(monkeypatch):
    monkeypatch.setenv("CNNX_PROFILE", "full")
    assert device.get_profile() == "full"
    assert device.by_profile(quick=1, full=2) == 2


@pytest.mark.parametrize(
    ("profile", "expected", "expected_without_smoke"),
    [("smoke", 0, 1), ("quick", 1, 1), ("full", 2, 2)],
)
def test_smoke_profile_has_its_own_value_and_falls_back_to_quick(
    monkeypatch, profile, expected, expected_without_smoke
):
    monkeypatch.setenv("CNNX_PROFILE", profile)
    assert device.by_profile(smoke=0, quick=1, full=2) == expected
    assert device.by_profile(quick=1, full=2) == expected_without_smoke


def test_bad_profile_is_named(monkeypatch):
    monkeypatch.setenv("CNNX_PROFILE", "fast")
    with pytest.raises(ValueError, match="CNNX_PROFILE='fast'.*smoke, quick, full"):
        device.get_profile()


def test_bad_device_is_named(monkeypatch):
    monkeypatch.setenv("CNNX_DEVICE", "gpu9")
    with pytest.raises(ValueError, match="CNNX_DEVICE='gpu9'"):
        device.get_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_gpu(monkeypatch):
    monkeypatch.setenv("CNNX_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no usable CUDA GPU"):
        device.get_device()


def test_seeding_makes_runs_repeat():
    generator = device.seed_everything(3)
    first = torch.rand(4), torch.rand(2, generator=generator)
    generator = device.seed_everything(3)
    second = torch.rand(4), torch.rand(2, generator=generator)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    with pytest.raises(ValueError, match="non-negative integer"):
        device.seed_everything(-1)


def test_describe_names_device_and_profile(monkeypatch):
    monkeypatch.setenv("CNNX_DEVICE", "cpu")
    assert "device: cpu" in device.describe() and "profile: quick" in device.describe()
