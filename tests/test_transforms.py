"""Random transformations, checked at their output: each against the torch operation it stands
for, with the random draws replayed from the same seed."""

import re
import warnings

import pytest
import torch
import torch.nn.functional as F

from lib import transforms


def _draw(low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,)).item())


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


@pytest.mark.parametrize("seed", range(4))
def test_jitter_is_a_roll_by_the_drawn_shifts(seed):
    x = torch.rand(2, 3, 9, 11)
    torch.manual_seed(seed)
    rolled = transforms.jitter(3)(x)
    torch.manual_seed(seed)
    dy, dx = _draw(-3, 3), _draw(-3, 3)  # rows first, then columns
    assert torch.equal(rolled, torch.roll(x, shifts=(dy, dx), dims=(-2, -1)))


def test_jitter_reaches_every_shift_up_to_its_bound_and_no_further():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0  # one bright pixel in the centre: where it lands is the shift
    torch.manual_seed(0)
    seen = set()
    for _ in range(200):
        row, col = divmod(int(transforms.jitter(2)(x).flatten().argmax()), 9)
        seen.add((row - 4, col - 4))
    assert seen == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert torch.equal(transforms.jitter(0)(x), x)  # no jitter: no move
    message = "jitter needs a non-negative number of pixels, got -1."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        transforms.jitter(-1)


def test_pad_adds_a_grey_border_of_the_given_width():
    x = torch.rand(1, 3, 4, 5)
    padded = transforms.pad(2)(x)
    assert padded.shape == (1, 3, 8, 9)
    assert torch.equal(padded[..., 2:6, 2:7], x)
    border = torch.ones(8, 9, dtype=torch.bool)
    border[2:6, 2:7] = False
    assert (padded[..., border] == 0.5).all()  # grey by default
    assert (transforms.pad(1, value=0.0)(x)[..., 0, :] == 0).all()


def test_random_scale_resizes_bilinearly_by_a_drawn_factor():
    x = torch.rand(1, 3, 10, 14)
    scales = [0.5, 0.8, 1.3]
    for seed in range(6):
        torch.manual_seed(seed)
        out = transforms.random_scale(scales)(x)
        torch.manual_seed(seed)
        factor = scales[_draw(0, 2)]
        size = [round(10 * factor), round(14 * factor)]
        expected = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        assert torch.equal(out, expected), factor
    assert transforms.random_scale([1])(x) is x  # factor 1: the images themselves
    assert transforms.random_scale([0.01])(x).shape == (1, 3, 1, 1)  # at least one pixel
    assert transforms.random_scale([0.25])(torch.rand(1, 3, 10, 14)).shape == (1, 3, 2, 4)
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        seen.add(transforms.random_scale([0.5, 1.5])(x).shape[-1])
    assert seen == {7, 21}  # both ends of the list are drawn
    message = "random_scale needs a list of positive factors."
    for bad in ([], [0.5, 0.0], [-1.0]):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            transforms.random_scale(bad)


def test_random_rotate_turns_counter_clockwise_about_the_centre():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(2, 3, 1, 1)
    quarter = transforms.random_rotate([90])(x)
    assert torch.allclose(quarter, torch.rot90(x, 1, dims=(-2, -1)), atol=1e-5)
    assert torch.allclose(
        transforms.random_rotate([-90])(x), torch.rot90(x, -1, dims=(-2, -1)), atol=1e-5
    )
    # the corners that a rotation brings in repeat the border, they are not black
    ones = torch.ones(1, 3, 8, 8)
    assert torch.allclose(transforms.random_rotate([45])(ones), ones)
    seen = set()
    for seed in range(30):
        torch.manual_seed(seed)
        seen.add(int(transforms.random_rotate([0, 180])(x)[0, 0, 0, 0]))
    assert seen == {0, 15}  # both angles of the list are drawn


def test_compose_applies_in_order():
    x = torch.rand(1, 3, 6, 6)
    both = transforms.compose(transforms.pad(1), transforms.random_scale([0.5]))
    expected = F.interpolate(F.pad(x, (1,) * 4, value=0.5), size=[4, 4], mode="bilinear")
    assert torch.equal(both(x), expected)
    assert transforms.compose()(x) is x


def test_standard_robustness_is_the_mix_of_olah_et_al(monkeypatch):
    made = []
    for name in ("pad", "jitter", "random_scale", "random_rotate"):
        monkeypatch.setattr(transforms, name, lambda *args, name=name: made.append((name, args)))
    monkeypatch.setattr(transforms, "compose", lambda *parts: parts)
    transforms.standard_robustness()
    scales = [0.9, 0.92, 0.94, 0.96, 0.98, 1.0, 1.02, 1.04, 1.06, 1.08, 1.1]
    assert made[0] == ("pad", (12,)) and made[1] == ("jitter", (8,))
    assert made[2][0] == "random_scale" and made[2][1][0] == pytest.approx(scales)
    assert made[3] == ("random_rotate", (list(range(-10, 11)),)) and made[4] == ("jitter", (4,))
    assert len(made) == 5


def test_standard_robustness_draws_as_its_parts_do():
    x = torch.rand(1, 3, 16, 16)
    torch.manual_seed(3)
    out = transforms.standard_robustness()(x)
    torch.manual_seed(3)
    parts = transforms.compose(
        transforms.pad(12),
        transforms.jitter(8),
        transforms.random_scale([1 + (k - 5) / 50 for k in range(11)]),
        transforms.random_rotate(list(range(-10, 11))),
        transforms.jitter(4),
    )
    assert torch.equal(out, parts(x))


def test_rotation_follows_the_images_precision_and_device_without_warnings():
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch warns when align_corners is left unset
        out = transforms.random_rotate([30])(x)
    assert out.dtype == torch.float64 and out.shape == x.shape
    meta = torch.zeros(1, 3, 6, 6, device="meta")  # a stand-in for a GPU
    assert transforms.random_rotate([30])(meta).device.type == "meta"
