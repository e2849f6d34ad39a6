import re

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


def _accelerators(monkeypatch, cuda: bool = False, mps: bool = False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda where: f"Test GPU on {where}")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected", "profile"),
    [
        (False, False, "cpu", "quick"),
        (False, True, "mps", "quick"),
        (True, True, "cuda", "full"),
        (True, False, "cuda", "full"),
    ],
)
def test_without_the_variable_cuda_comes_first_then_mps_then_the_cpu(
    monkeypatch, cuda, mps, expected, profile
):
    _accelerators(monkeypatch, cuda=cuda, mps=mps)
    assert device.get_device() == torch.device(expected)
    assert device.get_profile() == profile  # full sizes only on a CUDA GPU
    assert device.by_profile(quick="q", full="f") == profile[0]


def test_describe_is_one_exact_line(monkeypatch):
    _accelerators(monkeypatch)
    assert device.describe() == f"device: cpu · profile: quick · torch {torch.__version__}"
    _accelerators(monkeypatch, cuda=True)
    monkeypatch.setenv("CNNX_PROFILE", "smoke")
    assert device.describe() == (
        f"device: Test GPU on cuda · profile: smoke · torch {torch.__version__}"
    )


def test_device_errors_say_exactly_what_to_do(monkeypatch):
    monkeypatch.setenv("CNNX_DEVICE", "gpu9")
    message = (
        "CNNX_DEVICE='gpu9' is not a device torch knows; use cpu, cuda, cuda:N or mps, or unset it."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        device.get_device()
    _accelerators(monkeypatch)
    monkeypatch.setenv("CNNX_DEVICE", " cuda:1 ")
    message = "CNNX_DEVICE='cuda:1' but this machine has no usable CUDA GPU."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        device.get_device()
    monkeypatch.setenv("CNNX_DEVICE", " MPS ")  # spaces are stripped, the name is torch's
    with pytest.raises(ValueError, match="not a device torch knows"):
        device.get_device()
    monkeypatch.setenv("CNNX_DEVICE", "mps")
    assert device.get_device() == torch.device("mps")  # forced, whatever is available
    monkeypatch.setenv("CNNX_PROFILE", " Full ")
    assert device.get_profile() == "full"
    monkeypatch.setenv("CNNX_PROFILE", "fast")
    message = "CNNX_PROFILE='fast' is not a profile; use one of smoke, quick, full."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        device.get_profile()
    assert device.PROFILES == ("smoke", "quick", "full")


def test_device_of_reads_the_parameters():
    assert device.device_of(torch.nn.ReLU()) == torch.device("cpu")  # no parameters
    assert device.device_of(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")


def test_seeding_seeds_python_numpy_and_torch_with_the_same_number():
    import random

    import numpy as np

    generator = device.seed_everything()  # the default seed is 0
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    assert torch.equal(torch.rand(3, generator=generator), torch.rand(3, generator=_torch(0)))
    random.seed(0), np.random.seed(0), torch.manual_seed(0)
    assert drawn == (random.random(), np.random.rand(), torch.rand(1).item())
    device.seed_everything(7)
    drawn = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(7), np.random.seed(7), torch.manual_seed(7)
    assert drawn == (random.random(), np.random.rand(), torch.rand(1).item())
    device.seed_everything(2**32 + 5)  # NumPy takes seeds below 2**32: it gets the remainder
    value = np.random.rand()
    np.random.seed(5)
    assert value == np.random.rand()
    message = "seed must be a non-negative integer, got -1."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        device.seed_everything(-1)
    with pytest.raises(ValueError, match="non-negative integer, got 1.5"):
        device.seed_everything(1.5)


def _torch(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
