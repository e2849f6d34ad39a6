import pytest
import torch

from lib import transforms
from lib.optim import OptimizationError, optimize
from lib.parametrization import PixelImage


def _towards(target):
    return lambda images: ((images - target) ** 2).mean()


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "lbfgs"])
def test_the_loop_lowers_the_loss(optimizer):
    target = torch.rand(1, 3, 12, 12)
    image = PixelImage.noise(1, 12, 12)
    lr = {"adam": 0.05, "sgd": 20.0, "lbfgs": 1.0}[optimizer]
    result = optimize(image, _towards(target), steps=30, optimizer=optimizer, lr=lr)
    assert len(result.losses) == 30
    assert result.losses[-1] < 0.2 * result.losses[0]
    assert result.image.shape == (1, 3, 12, 12)


def test_lbfgs_counts_evaluations():
    calls = []

    def objective(images):
        calls.append(1)
        return images.square().sum()

    optimize(PixelImage.noise(1, 8, 8), objective, steps=37, optimizer="lbfgs")
    assert len(calls) == 37


def test_pixels_stay_in_range_and_snapshots_are_taken():
    image = PixelImage.noise(2, 10, 10)
    result = optimize(image, lambda x: -x.sum(), steps=12, lr=0.5, snapshot_every=5)
    assert [step for step, _ in result.snapshots] == [5, 10, 12]
    assert result.image.min() >= 0 and result.image.max() <= 1
    assert torch.allclose(result.image, torch.ones_like(result.image))


def test_transform_and_grad_fn_are_applied():
    seen, rewritten = [], []
    transform = lambda x: seen.append(x.shape) or x.flip(-1)  # noqa: E731
    grad_fn = lambda g: rewritten.append(1) or g / g.abs().mean()  # noqa: E731
    optimize(
        PixelImage.noise(1, 8, 8),
        lambda x: x[..., 0].sum(),
        steps=3,
        transform=transform,
        grad_fn=grad_fn,
    )
    assert len(seen) == 3 and len(rewritten) == 3


def test_nan_loss_stops_with_a_clear_error():
    with pytest.raises(
        OptimizationError, match="loss became nan at step 0.*Lower the learning rate"
    ):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x.sum() * float("nan"), steps=5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": 3, "lr": -1.0}, "lr must be a positive number"),
        ({"steps": 3, "optimizer": "rmsprop"}, "Unknown optimizer 'rmsprop'"),
        ({"steps": 3, "snapshot_every": 0}, "snapshot_every must be positive"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x.sum(), **kwargs)


def test_objective_must_return_one_number():
    with pytest.raises(ValueError, match="must return one number"):
        optimize(PixelImage.noise(1, 8, 8), lambda x: x, steps=1)


def test_pixel_image_validates_its_start():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) batch"):
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
        image, _towards(target), steps=9, optimizer=optimizer, lr=0.1, snapshot_every=3
    )
    first, second, last = (snap for _, snap in result.snapshots)
    assert not torch.equal(first, second)
    assert not torch.equal(first, result.image)
    assert torch.equal(last, result.image)
    with torch.no_grad():
        image.pixels.fill_(0.5)  # later changes to the image leave the results alone
    assert not torch.equal(result.image, image())
