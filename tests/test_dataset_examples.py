"""Dataset examples: the patches of photos that excite a channel the most."""

from collections import OrderedDict

import pytest
import torch
from conftest import small_cnn as tiny_cnn
from torch import nn

from lib.dataset_examples import top_patches
from lib.features import FeatureExtractor


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def block_net() -> nn.Sequential:
    """One 8×8 convolution with stride 8: position (i, j) is the mean brightness of the block
    of rows 8i…8i+7 and columns 8j…8j+7 (channel 0) and minus it (channel 1)."""
    conv = nn.Conv2d(3, 2, 8, stride=8, bias=False)
    with torch.no_grad():
        conv.weight[0] = 1 / 192
        conv.weight[1] = -1 / 192
    return nn.Sequential(OrderedDict(conv=conv)).eval().requires_grad_(False)


def pixel_net() -> nn.Sequential:
    """A 1×1 convolution: position (i, j) is the brightness of pixel (i, j)."""
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1 / 3)
    return nn.Sequential(OrderedDict(conv=conv)).eval().requires_grad_(False)


def grey_with_squares(size=64, squares=()):
    image = torch.full((1, 3, size, size), 0.2)
    for top, left, side, value in squares:
        image[..., top : top + side, left : left + side] = value
    return image


def test_top_patch_is_the_block_that_excites_the_channel_most():
    image = grey_with_squares(squares=[(24, 40, 8, 1.0), (8, 8, 8, 0.6)])
    found = top_patches(block_net(), "conv", [0, 1], image, k=2, patch_size=8)
    assert found.patches.shape == (2, 2, 3, 8, 8)
    assert found.sources[0] == [(0, 24, 40), (0, 8, 8)]  # the bright square, then the dim one
    assert torch.equal(found.patches[0, 0], image[0, :, 24:32, 40:48])
    assert torch.allclose(found.scores[0], torch.tensor([1.0, 0.6]))
    # channel 1 is minus the brightness: a background block, never a square
    assert all((top, left) not in [(24, 40), (8, 8)] for _, top, left in found.sources[1])
    assert torch.allclose(found.scores[1], torch.tensor([-0.2, -0.2]))


def test_top_patches_search_every_image_and_keep_their_sizes():
    dim = grey_with_squares(squares=[(0, 0, 8, 0.5)])
    bright = grey_with_squares(size=48, squares=[(16, 32, 8, 0.9)])
    found = top_patches(block_net(), "conv", 0, [dim[0], bright], k=2, patch_size=8)
    assert found.sources[0] == [(1, 16, 32), (0, 0, 0)]


def test_top_patches_do_not_repeat_one_spot():
    # every pixel of the bright square ties; patches of 16 px around them would all overlap
    image = grey_with_squares(squares=[(30, 30, 4, 1.0), (4, 44, 4, 0.7)])
    found = top_patches(pixel_net(), "conv", [0], image, k=2, patch_size=16)
    (first, top1, left1), (second, top2, left2) = found.sources[0]
    assert abs(top1 - top2) >= 8 or abs(left1 - left2) >= 8
    assert torch.allclose(found.scores[0], torch.tensor([1.0, 0.7]))
    # a patch centred near the border is shifted inside the image, at full size
    assert 0 <= top2 and left2 + 16 <= 64 and found.patches.shape[-2:] == (16, 16)


def test_top_patches_are_sorted_and_scored_by_the_activation():
    net = tiny_cnn()
    images = torch.rand(3, 3, 32, 32, generator=gen())
    found = top_patches(net, "relu2", [0, 5], images, k=5, patch_size=12)
    assert found.patches.shape == (2, 5, 3, 12, 12)
    assert (found.scores[:, :-1] >= found.scores[:, 1:]).all()
    acts = FeatureExtractor(net, "relu2")(images)["relu2"][:, [0, 5]]
    assert torch.allclose(found.scores[:, 0], acts.amax(dim=(0, 2, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"patch_size": 40}, "larger than the smallest"),
        ({"patch_size": 0}, "patch_size must be"),
        ({"channels": [8]}, "out of range"),
        ({"channels": []}, "channels is empty"),
        ({"layer": "logits"}, "no spatial maps"),
        ({"images": []}, "images is empty"),
        ({"images": torch.full((1, 3, 32, 32), 2.0)}, r"\[0, 1\]"),
        ({"images": torch.rand(2, 3, 32)}, "shape"),
    ],
)
def test_top_patches_reject_bad_input_clearly(kwargs, message):
    arguments = {
        "layer": "relu2",
        "channels": [0],
        "images": torch.rand(1, 3, 32, 32),
        "k": 2,
        "patch_size": 8,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        top_patches(tiny_cnn(), **arguments)


def test_the_images_are_checked_by_name_as_rgb_pixels():
    from lib.dataset_examples import _as_image_list

    batch = torch.rand(2, 3, 8, 8, generator=gen())
    listed = _as_image_list(batch)
    assert len(listed) == 2 and all(
        torch.equal(a, b[None]) for a, b in zip(listed, batch, strict=True)
    )
    assert [x.shape for x in _as_image_list([batch[0], batch[1:]])] == [(1, 3, 8, 8)] * 2
    grey = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"^images must be a batch of shape \(B, 3, H, W\)"):
        _as_image_list(grey)
    with pytest.raises(ValueError, match=r"^images must be pixels in \[0, 1\]"):
        _as_image_list(batch + 1)
    with pytest.raises(ValueError, match=r"^images\[1\] must be a batch of shape \(B, 3, H, W\)"):
        _as_image_list([batch[0], grey[0]])
    with pytest.raises(ValueError, match=r"^images\[0\] must be pixels in \[0, 1\]"):
        _as_image_list([batch[0] + 1])
    with pytest.raises(ValueError, match="^images is empty: pass at least one image.$"):
        _as_image_list([])
    with pytest.raises(
        ValueError,
        match=r"^images\[1\] must be one image \(3, H, W\) or \(1, 3, H, W\); got \(2, 3, 8, 8\).$",
    ):
        _as_image_list([batch[0], batch])
