"""The one small training loop behind the book's trained networks: the digit classifier
(``lib.digits``), the autoencoders (``lib.autoencoders``) and the 2-D toy (``lib.manifolds``).

Seeded (the shuffling and the initialisation), on one CPU thread for these tiny models
(``single_thread``), and the model is left in eval mode with its parameters frozen, ready for
methods that differentiate with respect to the input only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .device import device_of


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread inside the block, then restore the setting.

    The digit models are so small (8×8 inputs, batches of 64) that every operation lasts
    microseconds: splitting it over threads costs more in synchronisation than it gains, and
    on a busy machine a second thread that waits for a core can make training many times slower
    (measured here: 20× on a shared 2-core CPU). GPUs are not affected.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None,
    epochs: int,
    lr: float,
    batch_size: int | None = None,
    weight_decay: float = 0.0,
    cosine: bool = False,
    reset: bool = False,
    seed: int = 0,
    objective: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> list[float]:
    """Adam on ``loss_fn(model(inputs), targets)``; returns the mean loss of each epoch.

    ``batch_size=None``: the whole set in every step, in order (full-batch training); otherwise
    shuffled mini-batches. ``cosine``: the learning rate follows a cosine from ``lr`` to 0 over
    the epochs. ``reset``: re-initialise every layer first (seeded), so that a model trains the
    same however it was built. ``objective(model, inputs, targets)``: a loss that needs the model
    itself, not only its outputs (adversarial training attacks the current model in every
    step); it replaces ``loss_fn``, which is then ``None``.
    """
    if (loss_fn is None) == (objective is None):
        raise ValueError("Pass either loss_fn (on the outputs) or objective (on the model).")
    if objective is None:

        def objective(model, x, y):
            return loss_fn(model(x), y)

    if len(inputs) != len(targets):
        raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer; got {epochs!r}.")
    device = device_of(model)
    inputs, targets = inputs.to(device), targets.to(device)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(seed)
        if reset:
            for layer in model.modules():
                if layer is not model and hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()
        model.requires_grad_(True).train()
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs) if cosine else None
        history = []
        for _ in range(epochs):
            if batch_size is None:
                batches = [torch.arange(len(inputs), device=device)]
            else:
                order = torch.randperm(len(inputs), generator=generator).to(device)
                batches = order.split(batch_size)
            total = 0.0
            for idx in batches:
                loss = objective(model, inputs[idx], targets[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            if sched is not None:
                sched.step()
            history.append(total / len(inputs))
    model.eval().requires_grad_(False)
    return history
