"""Coarse to fine: the sizes of each octave pinned by hand, and the carried detail checked
against the formula of the module's docstring computed with torch's own resampling."""

import re

import pytest
import torch
import torch.nn.functional as F

from lib.images import resize_to
from lib.multiscale import coarse_to_fine, octave_sizes, scaled_sizes


def test_octave_sizes_divide_by_scale_per_octave_smallest_first():
    # the defaults: four octaves, 1.4 apart (the original DeepDream's)
    assert octave_sizes(100, 50) == [(36, 18), (51, 26), (71, 36), (100, 50)]
    assert octave_sizes(224, 300, octaves=3, scale=1.5) == [(100, 133), (149, 200), (224, 300)]
    assert octave_sizes(64, 64, octaves=1) == [(64, 64)]  # one octave: the image itself


def test_octaves_below_min_side_are_dropped_by_the_shorter_side():
    # 400×230: the second octave, 286×164, has a shorter side below 224
    assert octave_sizes(400, 230, octaves=4, min_side=224) == [(400, 230)]
    assert octave_sizes(400, 230, octaves=4, min_side=164) == [(286, 164), (400, 230)]
    assert octave_sizes(230, 400, octaves=4, min_side=165) == [(230, 400)]
    message = "The image is 100×300, smaller than min_side=101: load it larger or lower min_side."
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        octave_sizes(100, 300, min_side=101)
    assert octave_sizes(100, 300, octaves=1, min_side=100) == [(100, 300)]  # equal is enough


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"octaves": 0}, "octaves must be a positive integer; got 0."),
        ({"octaves": 2.0}, "octaves must be a positive integer; got 2.0."),
        ({"scale": 1.0}, "scale must be larger than 1 (the original uses 1.4); got 1.0."),
    ],
)
def test_octave_settings_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        octave_sizes(64, 64, **kwargs)


def test_scaled_sizes():
    assert scaled_sizes(40, 60, (0.5, 1.0)) == [(20, 30), (40, 60)]
    assert scaled_sizes(20, 20, (0.25, 1.0)) == [(16, 16), (20, 20)]  # at least 16 a side
    assert scaled_sizes(100, 10, (0.25, 1.0), min_side=2) == [(25, 2), (100, 10)]
    assert scaled_sizes(30, 30, [1.0]) == [(30, 30)]  # a list will do, and 1 alone
    message = "scales must lie in (0, 1] and end with 1.0; got "
    for scales in ((0.5,), (), (0.0, 1.0), (1.5, 1.0)):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
            scaled_sizes(40, 60, scales)


def test_coarse_to_fine_carries_only_the_added_detail():
    torch.manual_seed(0)
    base = torch.rand(1, 3, 8, 12) * 0.6 + 0.2
    sizes = [(4, 6), (8, 12)]
    added = [torch.rand(1, 3, 4, 6) * 0.2 - 0.1, torch.rand(1, 3, 8, 12) * 0.2 - 0.1]
    starts = []

    def refine(start, index):
        starts.append(start.clone())
        return start + added[index]

    result = coarse_to_fine(base, sizes, refine)
    small = resize_to(base, (4, 6))
    assert torch.equal(starts[0], small.clamp(0, 1))  # no detail yet: the resized base
    detail = F.interpolate(added[0], size=(8, 12), mode="bilinear", align_corners=False)
    # the last size starts from the base itself, untouched, plus the upsampled detail
    assert torch.allclose(starts[1], (base + detail).clamp(0, 1), atol=1e-6)
    assert torch.allclose(result, starts[1] + added[1], atol=1e-6)
    assert not torch.allclose(
        starts[1],
        (base + F.interpolate(added[0], size=(8, 12), mode="nearest")).clamp(0, 1),
        atol=1e-3,
    )


def test_coarse_to_fine_detail_is_measured_from_the_resized_base_and_clamped():
    base = torch.full((1, 3, 8, 8), 0.5)
    starts = []

    def brighten(start, index):
        starts.append(start.clone())
        return start + 0.3

    coarse_to_fine(base, [(2, 2), (4, 4), (8, 8)], brighten)
    # each level adds 0.3 to what it got: 0.5, 0.8, then 1.1 clamped to 1
    for start, value in zip(starts, (0.5, 0.8, 1.0), strict=True):
        assert torch.allclose(start, torch.full_like(start, value), atol=1e-6)
    starts.clear()
    # a refine that returns its start adds nothing: every level starts from the base
    coarse_to_fine(base, [(4, 4), (8, 8)], lambda start, index: starts.append(start) or start)
    assert all(torch.allclose(s, torch.full_like(s, 0.5), atol=1e-6) for s in starts)
    indices = []
    coarse_to_fine(base, [(4, 4), (8, 8)], lambda s, index: indices.append(index) or s)
    assert indices == [0, 1]
    with pytest.raises(ValueError, match=r"^coarse_to_fine needs at least one size\.$"):
        coarse_to_fine(base, [], brighten)


def test_coarse_to_fine_keeps_a_detail_of_the_right_size():
    base = torch.full((1, 3, 6, 6), 0.5)
    starts = []

    def refine(start, index):
        starts.append(start.clone())
        return start + 0.1

    # two levels of the same size: the detail is carried as it is, not resampled
    coarse_to_fine(base, [(6, 6), (6, 6)], refine)
    assert torch.allclose(starts[1], torch.full_like(base, 0.6))


def test_one_size_refines_the_base_itself_and_starts_are_clamped_below_too():
    base = torch.full((1, 3, 4, 4), 0.5)
    assert torch.equal(coarse_to_fine(base, [(4, 4)], lambda start, index: start * 2), base * 2)
    starts = []

    def darken(start, index):
        starts.append(start.clone())
        return start - 0.8

    coarse_to_fine(base, [(2, 2), (4, 4)], darken)
    assert torch.equal(starts[1], torch.zeros(1, 3, 4, 4))  # 0.5 - 0.8 clamped to 0
