import copy
import re

import pytest
import torch

from lib import optim, transforms
from lib.optim import DEFAULTS, OptimizationError, make_optimizer, optimize
from lib.parametrization import PixelImage


def _towards(target):
    return lambda images: ((images - target) ** 2).mean()


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
def test_the_loop_lowers_the_loss(optimizer):
    target = torch.rand(1, 3, 12, 12)
    image = PixelImage.noise(1, 12, 12)
    lr = {"adam": 0.05, "sgd": 20.0, "lbfgs": 1.0}[optimizer]
    result = optimize(image, _towards(target), 30, optimizer=make_optimizer(optimizer, lr=lr))
    assert len(result.losses) == 30
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert result.image.shape == (1, 3, 12, 12)


def test_a_name_takes_the_settings_of_the_one_table(monkeypatch):
    seen = []
    monkeypatch.setitem(
        DEFAULTS,
        "adam",
        (lambda params, **kw: seen.append(kw) or torch.optim.Adam(params, **kw), {"lr": 0.123}),
    )
    optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), 1, optimizer="adam")
    assert seen == [{"lr": 0.123}]
    make_optimizer("adam", lr=0.5)(PixelImage.noise(1, 4, 4).parameters())
    assert seen[-1] == {"lr": 0.5}


def test_lbfgs_counts_evaluations_and_follows_one_long_call():
    calls = []

    def objective(images):
        calls.append(1)
        return (images - 0.3).pow(4).sum() + images.mean()

    start = PixelImage.noise(1, 6, 6)
    mine = optimize(copy.deepcopy(start), objective, 37, optimizer="lbfgs")
    assert len(calls) == 37 and len(mine.losses) == 37
    # torch's L-BFGS in one call of 37 iterations, clamped before each evaluation as the loop does
    reference = copy.deepcopy(start)
    opt = make_optimizer("lbfgs", max_iter=37, max_eval=37)(list(reference.parameters()))
    losses = []

    def closure():
        reference.project()
        opt.zero_grad()
        loss = objective(reference())
        loss.backward()
        losses.append(loss.item())
        return loss

    opt.step(closure)
    assert losses == pytest.approx(mine.losses, rel=1e-5)


def test_grad_fn_result_is_what_the_optimiser_steps_on():
    start = PixelImage.noise(1, 6, 6)
    frozen = optimize(copy.deepcopy(start), lambda x: x.sum(), 5, "sgd", grad_fn=torch.zeros_like)
    assert torch.equal(frozen.image, start())  # a zero gradient moves nothing
    uphill = optimize(copy.deepcopy(start), lambda x: x.sum(), 5, "sgd", grad_fn=lambda g: -g)
    assert uphill.losses[-1] > uphill.losses[0]  # the flipped gradient climbs


def test_transform_is_applied_before_the_objective():
    start = PixelImage(torch.full((1, 3, 6, 6), 0.5))
    # the objective reads the first column; the flip makes it the image's last column
    result = optimize(start, lambda x: x[..., 0].sum(), 3, "sgd", transform=lambda x: x.flip(-1))
    changed = (result.image != 0.5).any(dim=(0, 1, 2))
    assert changed.tolist() == [False] * 5 + [True]


def test_best_and_last_image_are_both_kept():
    offsets = iter([300.0, 100.0, 200.0, 500.0])
    start = PixelImage(torch.full((1, 3, 2, 2), 0.5))
    opt = make_optimizer("sgd", lr=0.01)
    result = optimize(start, lambda x: x.sum() + next(offsets), 4, opt)
    assert result.best_loss == pytest.approx(100.0 + 12 * 0.49)
    assert torch.allclose(result.best_image, torch.full((1, 3, 2, 2), 0.49))  # second evaluated
    assert torch.allclose(result.image, torch.full((1, 3, 2, 2), 0.46))  # after the fourth step


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_stop_below_ends_the_loop_at_the_first_step_under_the_target(optimizer):
    target = torch.rand(1, 3, 8, 8)
    seen = []
    result = optimize(
        PixelImage.noise(1, 8, 8),
        _towards(target),
        200,
        optimizer,
        stop_below=0.01,
        on_step=lambda step, loss: seen.append((step, loss)),
    )
    assert result.reached_target
    assert result.losses[-1] <= 0.01 < min(result.losses[:-1])
    assert len(result.losses) < 200
    assert seen == list(enumerate(result.losses, start=1))  # the hook saw every step


def test_an_objective_can_give_its_own_gradient():
    class Constant:
        def __call__(self, images):
            raise AssertionError("the loop must use value_and_grad")

        def value_and_grad(self, images):
            return images.sum().detach(), torch.ones_like(images)

    start = PixelImage(torch.full((1, 3, 4, 4), 0.5))
    result = optimize(start, Constant(), 2, make_optimizer("sgd", lr=0.1))
    assert torch.allclose(result.image, torch.full_like(result.image, 0.3))


def test_lbfgs_refuses_a_random_transform():
    with pytest.raises(ValueError, match="L-BFGS needs the same function"):
        optimize(
            PixelImage.noise(1, 8, 8), lambda x: x.sum(), 3, "lbfgs", transform=transforms.jitter(2)
        )


def test_nan_loss_stops_with_a_clear_error():
    calls = iter([1.0, 1.0, float("nan")])
    with pytest.raises(
        OptimizationError, match="loss became nan at step 2.*Lower the learning rate"
    ):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x.sum() * next(calls), steps=5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 3, "optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'"),
        ({"steps": 3, "snapshot_every": 0}, "snapshot_every must be positive"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x.sum(), **kwargs)
    with pytest.raises(ValueError, match="lr must be a positive number"):
        make_optimizer("adam", lr=-1.0)


def test_objective_must_return_one_number():
    with pytest.raises(ValueError, match="must return one number"):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x, steps=1)


def test_pixel_image_validates_its_start():
    with pytest.raises(ValueError, match=r"init must be a batch of shape \(B, 3, H, W\)"):
        PixelImage(torch.rand(3, 8, 8))


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_snapshots_are_copies_not_the_live_image(optimizer):
    # On the CPU, image().detach().cpu() of a PixelImage is the optimised parameter itself:
    # snapshots taken that way all change with it and end up equal to the final image.
    target = torch.rand(1, 3, 8, 8)
    image = PixelImage.noise(1, 8, 8)
    result = optimize(
        image, _towards(target), 9, make_optimizer(optimizer, lr=0.1), snapshot_every=3
    )
    first, second, last = (snap for _, snap in result.snapshots)
    assert not torch.equal(first, second)
    assert not torch.equal(first, result.image)
    assert torch.equal(last, result.image)
    with torch.no_grad():
        image.pixels.fill_(0.5)  # later changes to the image leave the results alone
    assert not torch.equal(result.image, image())


# --------------------------------------------------------------------------------------------
# Values pinned: the book's optimiser settings, the recorded curve, the schedule of snapshots


def test_the_one_table_of_optimiser_settings():
    assert DEFAULTS["adam"] == (torch.optim.Adam, {"lr": 0.05})
    assert DEFAULTS["sgd"] == (torch.optim.SGD, {"lr": 1.5 / 255})
    assert DEFAULTS["lbfgs"] == (
        torch.optim.LBFGS,
        {"lr": 1.0, "history_size": 100, "tolerance_grad": -1, "tolerance_change": -1},
    )
    adam = make_optimizer("adam")([torch.nn.Parameter(torch.zeros(1))])
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["lr"] == 0.05
    lbfgs = make_optimizer("lbfgs", lr=0.5)([torch.nn.Parameter(torch.zeros(1))])
    group = lbfgs.param_groups[0]
    assert (group["lr"], group["history_size"], group["tolerance_grad"]) == (0.5, 100, -1)
    assert group["tolerance_change"] == -1 and group["line_search_fn"] is None
    sgd = make_optimizer("sgd", lr=1)([torch.nn.Parameter(torch.zeros(1))])  # an int will do
    assert sgd.param_groups[0]["lr"] == 1 and sgd.param_groups[0]["momentum"] == 0


@pytest.mark.parametrize("lr", [0, 0.0, -1.0, float("inf"), float("nan"), True, "0.1", None])
def test_a_learning_rate_must_be_a_positive_finite_number(lr):
    message = f"lr must be a positive number; got {lr!r}."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        make_optimizer("sgd", lr=lr)


def test_the_recorded_loss_is_the_objective_of_each_evaluated_image_before_its_step():
    start = PixelImage(torch.full((1, 3, 2, 2), 0.5))
    result = optimize(start, lambda x: x.sum(), 3, make_optimizer("sgd", lr=0.01))
    # the sum of 12 pixels, each lowered by lr = 0.01 a step: the loss to minimise goes down
    assert result.losses == pytest.approx([6.0, 5.88, 5.76])
    assert torch.allclose(result.image, torch.full((1, 3, 2, 2), 0.47))
    assert result.best_loss == pytest.approx(5.76) and not result.reached_target
    assert torch.allclose(result.best_image, torch.full((1, 3, 2, 2), 0.48))
    assert result.snapshots == []  # none unless asked for
    doubled = optimize(
        PixelImage(torch.full((1, 3, 2, 2), 0.5)),
        lambda x: x.sum(),
        1,
        make_optimizer("sgd", lr=0.01),
        grad_fn=lambda g: 2 * g,
    )
    assert torch.allclose(doubled.image, torch.full((1, 3, 2, 2), 0.48))  # grad_fn's gradient


def test_the_image_is_projected_after_every_step_and_the_result_is_a_copy():
    image = PixelImage(torch.full((1, 3, 2, 2), 0.5))
    # a step of 0.3 a pixel: 0.5, 0.2, then -0.1 clamped to 0, and 0 again
    result = optimize(image, lambda x: x.sum(), 4, make_optimizer("sgd", lr=0.3))
    assert result.losses == pytest.approx([6.0, 2.4, 0.0, 0.0])
    assert torch.equal(result.image, torch.zeros(1, 3, 2, 2))
    assert result.image is not image.pixels and not result.image.requires_grad
    with torch.no_grad():
        image.pixels.fill_(0.7)
    assert torch.equal(result.image, torch.zeros(1, 3, 2, 2))
    assert torch.equal(result.best_image, torch.zeros(1, 3, 2, 2))


def test_the_best_image_is_the_first_of_equal_losses():
    def flat(x):  # always 1.0, with a gradient of ones: the image moves, the loss stays
        return x.sum() - x.sum().detach() + 1.0

    start = PixelImage(torch.full((1, 3, 2, 2), 0.5))
    result = optimize(start, flat, 3, make_optimizer("sgd", lr=0.1))
    assert result.losses == [1.0, 1.0, 1.0] and result.best_loss == 1.0
    assert torch.equal(result.best_image, torch.full((1, 3, 2, 2), 0.5))
    assert torch.allclose(result.image, torch.full((1, 3, 2, 2), 0.2))
    single = optimize(PixelImage(torch.full((1, 3, 2, 2), 0.5)), lambda x: x.sum(), 1, "sgd")
    assert single.best_loss == pytest.approx(6.0)
    assert torch.equal(single.best_image, torch.full((1, 3, 2, 2), 0.5))  # the start, evaluated


def test_stop_below_includes_the_target_itself():
    result = optimize(PixelImage.noise(1, 4, 4), lambda x: 0 * x.sum() + 2.0, 5, stop_below=2.0)
    assert result.reached_target and result.losses == [2.0]
    result = optimize(PixelImage.noise(1, 4, 4), lambda x: 0 * x.sum() + 2.0, 3, stop_below=1.9)
    assert not result.reached_target and result.losses == [2.0, 2.0, 2.0]


def test_snapshots_every_n_steps_and_at_the_last_step():
    result = optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), 7, snapshot_every=3)
    assert [step for step, _ in result.snapshots] == [3, 6, 7]
    result = optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), 3, snapshot_every=1)
    assert [step for step, _ in result.snapshots] == [1, 2, 3]
    assert all(snap.device.type == "cpu" for _, snap in result.snapshots)


def test_the_progress_bar_counts_steps_and_shows_the_loss(monkeypatch):
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.updates, self.postfix, self.closed = kwargs, 0, [], False
            bars.append(self)

        def update(self, n):
            self.updates += n

        def set_postfix(self, **kwargs):
            self.postfix.append(kwargs)

        def close(self):
            self.closed = True

    monkeypatch.setattr(optim, "tqdm", Bar)
    start = PixelImage(torch.full((1, 3, 2, 2), 0.5))
    optimize(start, lambda x: x.sum(), 2, make_optimizer("sgd", lr=0.01))
    optimize(start, lambda x: x.sum(), 1, progress=False, desc="inversion")
    first, second = bars
    assert first.kwargs == {"total": 2, "desc": "optimize", "disable": False, "leave": False}
    assert first.updates == 2 and first.closed
    assert first.postfix == [{"loss": "6", "refresh": False}, {"loss": "5.88", "refresh": False}]
    assert second.kwargs["desc"] == "inversion" and second.kwargs["disable"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer; got 0."),
        ({"steps": 2.0}, "steps must be a positive integer; got 2.0."),
        ({"steps": 3, "optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'; use one of "),
        ({"steps": 3, "snapshot_every": 0}, "snapshot_every must be positive or None; got 0."),
    ],
)
def test_bad_settings_are_named_exactly(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), **kwargs)
    with pytest.raises(ValueError, match="use one of adam, sgd, lbfgs.$"):
        make_optimizer("rmsprop")


def test_an_image_without_free_parameters_is_refused():
    image = PixelImage.noise(1, 4, 4).requires_grad_(False)
    with pytest.raises(ValueError, match=r"^The image has no parameters to optimise\.$"):
        optimize(image, lambda x: x.sum(), 1)


def test_lbfgs_settings_that_the_loop_cannot_honour_are_refused():
    message = (
        "L-BFGS needs the same function at every evaluation: drop the random transform, or use "
        "Adam or SGD."
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), 1, "lbfgs", transform=lambda x: x)
    factory = make_optimizer("lbfgs", line_search_fn="strong_wolfe")
    message = "The loop counts evaluations: use L-BFGS without a line search."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum(), 1, factory)


def test_an_infinite_loss_stops_with_the_step_it_happened_at():
    values = iter([1.0, float("inf")])
    message = (
        "The loss became inf at step 1. Lower the learning rate or check the objective for "
        "divisions by zero."
    )
    with pytest.raises(OptimizationError, match=f"^{re.escape(message)}$"):
        optimize(PixelImage.noise(1, 4, 4), lambda x: x.sum() * next(values), steps=3)
    message = "The objective must return one number; got a tensor of shape (1, 3, 4, 4)."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        optimize(PixelImage.noise(1, 4, 4), lambda x: x, steps=1)

    class Infinite:
        def value_and_grad(self, images):
            return torch.tensor(float("inf")), torch.ones_like(images)

    with pytest.raises(OptimizationError, match="^The loss became inf at step 0"):
        optimize(PixelImage.noise(1, 4, 4), Infinite(), steps=1)


def test_an_image_without_a_projection_is_optimised_as_it_is():
    class Free(torch.nn.Module):  # no project(): nothing keeps it in range
        def __init__(self):
            super().__init__()
            self.x = torch.nn.Parameter(torch.zeros(1, 3, 2, 2))

        def forward(self):
            return self.x

    result = optimize(Free(), lambda x: x.sum(), 2, make_optimizer("sgd", lr=0.5))
    assert torch.allclose(result.image, torch.full((1, 3, 2, 2), -1.0))
    assert result.losses == [0.0, -6.0]
