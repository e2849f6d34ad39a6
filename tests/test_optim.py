import copy

import pytest
import torch

from lib import transforms
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


def test_transforms_keep_batch_and_channels():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert transforms.jitter(4)(x).shape == x.shape
    assert transforms.pad(5)(x).shape == (2, 3, 42, 42)
    assert transforms.random_scale([0.5])(x).shape == (2, 3, 16, 16)
    assert transforms.random_rotate([0])(x).shape == x.shape
    assert torch.allclose(transforms.random_rotate([0])(x), x, atol=1e-5)
    robust = transforms.standard_robustness()(x)
    assert robust.shape[:2] == (2, 3)
    rolled = transforms.jitter(3)(x)
    assert torch.allclose(rolled.sum(), x.sum())  # a roll moves pixels, it makes none
    with pytest.raises(ValueError, match="non-negative"):
        transforms.jitter(-1)
    with pytest.raises(ValueError, match="positive factors"):
        transforms.random_scale([])


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
