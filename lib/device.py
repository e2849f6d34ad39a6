"""Where the book runs (device), how much it computes (profile), and reproducible seeds.

Environment variables (all optional):

- ``CNNX_DEVICE``: force a device (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
- ``CNNX_PROFILE``: ``quick`` (sizes at which the effects show, for a reader on a CPU),
  ``full`` (literature sizes) or ``smoke`` (smallest sizes that run every cell: the test build).
  Without it the profile is ``full`` on a GPU and ``quick`` otherwise.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch
from torch import nn

PROFILES = ("smoke", "quick", "full")
T = TypeVar("T")


def get_device() -> torch.device:
    """The device to compute on: ``CNNX_DEVICE`` if set, else CUDA, then MPS, then the CPU."""
    forced = os.environ.get("CNNX_DEVICE", "").strip()
    if forced:
        try:
            device = torch.device(forced)
        except RuntimeError as err:
            raise ValueError(
                f"CNNX_DEVICE={forced!r} is not a device torch knows; "
                "use cpu, cuda, cuda:N or mps, or unset it."
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"CNNX_DEVICE={forced!r} but this machine has no usable CUDA GPU.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's parameters (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def get_profile() -> str:
    """A name from ``PROFILES``: ``CNNX_PROFILE``, else ``full`` on a GPU, ``quick`` otherwise."""
    chosen = os.environ.get("CNNX_PROFILE", "").strip().lower()
    if chosen:
        if chosen not in PROFILES:
            raise ValueError(
                f"CNNX_PROFILE={chosen!r} is not a profile; use one of {', '.join(PROFILES)}."
            )
        return chosen
    return "full" if get_device().type == "cuda" else "quick"


def by_profile(*, quick: T, full: T, smoke: T | None = None) -> T:
    """Pick a setting by profile, so that chapters state every value where they use it.

    ``smoke`` defaults to ``quick``: a setting that is already small needs no third value.
    """
    profile = get_profile()
    if profile == "full":
        return full
    if profile == "smoke" and smoke is not None:
        return smoke
    return quick


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (every device); return a torch generator seeded the same."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe() -> str:
    """One line for the top of a chapter: device, profile and torch version."""
    device = get_device()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return f"device: {name} · profile: {get_profile()} · torch {torch.__version__}"
