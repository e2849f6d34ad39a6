"""scikit-learn's handwritten digits as tensors, a small CNN that classifies them, and
out-of-distribution controls. Shared by the chapters on data manifolds and autoencoders.

The digits (Alpaydin and Kaynak, 1998) ship inside scikit-learn, so everything here works
offline: 1797 images of 8×8 pixels, each pixel the number of "on" pixels (0–16) in a 4×4 block
of a 32×32 binary bitmap. Here they are divided by 16, so images are ``(N, 1, 8, 8)`` floats in
[0, 1] on 17 grey levels, like every image in the book lives in [0, 1].

The controls keep the same format: ``shuffled_pixels`` (the same pixels in random places: the
same histogram, no shape), ``letters`` (drawn with Pillow's default font and reduced exactly
like the digits were), ``uniform_noise`` (on the digits' 17 levels or on any number of levels).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from .device import device_of
from .images import check_batch
from .networks import attach, sequential
from .training import train

LEVELS = 17  # grey levels of the digits: 0, 1/16, ..., 1
SIDE = 8


@dataclass
class Digits:
    """A fixed train/test split of the digits: images ``(N, 1, 8, 8)`` in [0, 1], labels 0–9."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self) -> str:
        return f"Digits(train={len(self.x_train)}, test={len(self.x_test)}, shape=1×8×8, levels=17)"


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """The digits split once, stratified by class, with a seeded shuffle (always the same split)."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise ValueError(
            f"test_fraction must be between 0 and 1 (exclusive); got {test_fraction!r}."
        )
    bunch = sk_load_digits()
    x = bunch.images.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )

    def images(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).unsqueeze(1).contiguous()

    return Digits(images(x_tr), torch.from_numpy(y_tr), images(x_te), torch.from_numpy(y_te))


# --------------------------------------------------------------------------- classifier
def digit_cnn(width: int = 16, num_classes: int = 10, seed: int | None = None) -> nn.Sequential:
    """A small CNN for 8×8 digits: three conv blocks and a linear layer (about 25k parameters).

    An ``nn.Sequential`` with named children, described as "digit CNN" (``lib.networks``), so
    ``lib.features`` reads its layers (``conv1`` … ``logits``) and the claims name it. It takes
    images in [0, 1] and returns logits. ``seed`` draws its initial weights from that seed
    (an untrained control that does not depend on what ran before); without it they come
    from torch's global generator.
    """
    if width < 1:
        raise ValueError(f"width must be a positive number of channels; got {width!r}.")
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return digit_cnn(width, num_classes)
    w = width
    model = nn.Sequential(
        _named(
            ("conv1", nn.Conv2d(1, w, 3, padding=1)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(w, 2 * w, 3, padding=1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),  # 8×8 -> 4×4
            ("conv3", nn.Conv2d(2 * w, 4 * w, 3, padding=1)),
            ("relu3", nn.ReLU()),
            ("pool3", nn.MaxPool2d(2)),  # 4×4 -> 2×2
            ("flatten", nn.Flatten()),
            ("logits", nn.Linear(4 * w * 4, num_classes)),
        )
    )
    return attach(model, sequential("digit CNN"))


def _named(*pairs):
    from collections import OrderedDict

    return OrderedDict(pairs)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 30,
    lr: float = 3e-3,
    batch_size: int = 64,
    weight_decay: float = 1e-4,
    seed: int = 0,
    objective=None,
) -> list[float]:
    """Train ``model`` with Adam and cross-entropy (``lib.training.train``); return the mean
    loss of each epoch. Seeded, so the chapter gets the same network every time; the model is
    left in eval mode with its parameters frozen, ready for attacks on its input.
    ``objective(model, x, y)``: a loss computed from the model itself, in place of the
    cross-entropy of its outputs (adversarial training, ``lib.attacks``)."""
    check_batch(x, "x")
    return train(
        model,
        x,
        y,
        None if objective else nn.functional.cross_entropy,
        epochs,
        lr,
        batch_size=batch_size,
        weight_decay=weight_decay,
        seed=seed,
        objective=objective,
    )


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` of a classifier that maps images to logits."""
    check_batch(x, "x")
    device = device_of(model)
    out = [
        model(x[i : i + batch_size].to(device)).softmax(1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(out)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images whose most probable class is the label."""
    return (predict_proba(model, x).argmax(1) == y.cpu()).float().mean().item()


# --------------------------------------------------------------------------- controls
def shuffled_pixels(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Every image with its own pixels put in random places: same histogram, no structure."""
    check_batch(x, "x")
    generator = torch.Generator().manual_seed(seed)
    flat = x.reshape(len(x), -1)
    keys = torch.rand(flat.shape, generator=generator)
    order = keys.argsort(dim=1).to(x.device)
    return flat.gather(1, order).reshape(x.shape)


def quantize(x: torch.Tensor, levels: int = LEVELS) -> torch.Tensor:
    """Round images in [0, 1] to ``levels`` evenly spaced grey levels (17 = the digits' scale)."""
    if levels < 2:
        raise ValueError(f"levels must be at least 2; got {levels!r}.")
    return (x.clamp(0, 1) * (levels - 1)).round() / (levels - 1)


def uniform_noise(n: int, levels: int | None = LEVELS, seed: int = 0) -> torch.Tensor:
    """``n`` images of independent uniform pixels, on ``levels`` grey levels (None: continuous)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of images; got {n!r}.")
    generator = torch.Generator().manual_seed(seed)
    if levels is None:
        return torch.rand(n, 1, SIDE, SIDE, generator=generator)
    if levels < 2:
        raise ValueError(
            f"levels must be at least 2 (or None for continuous noise); got {levels!r}."
        )
    steps = torch.randint(0, levels, (n, 1, SIDE, SIDE), generator=generator)
    return steps.float() / (levels - 1)


def render_glyph(char: str, stroke: int = 0) -> torch.Tensor:
    """One character drawn as the digits were made: a 32×32 binary bitmap of the glyph scaled to
    fill the box (as in the digits' preprocessing), then the number of "on" pixels in each 4×4
    block (0–16), divided by 16. ``stroke`` (pixels at 48 px) thickens the lines; 0 already
    gives about as much ink as the digits have. Returns ``(1, 8, 8)`` in [0, 1]."""
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"render_glyph draws one character; got {char!r}.")
    font = ImageFont.load_default(size=48)
    image = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(image).text(
        (16, 8), char, fill=255, font=font, stroke_width=stroke, stroke_fill=255
    )
    box = image.getbbox()
    if box is None:
        raise ValueError(f"The character {char!r} draws nothing with the default font.")
    glyph = image.crop(box)
    scale = 32 / max(glyph.size)
    size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
    glyph = glyph.resize(size, Image.Resampling.BILINEAR)
    canvas = Image.new("L", (32, 32), 0)
    canvas.paste(glyph, ((32 - size[0]) // 2, (32 - size[1]) // 2))
    bitmap = torch.from_numpy((np.asarray(canvas) > 127).astype(np.float32))
    counts = bitmap.reshape(SIDE, 4, SIDE, 4).sum(dim=(1, 3))
    return (counts / 16).unsqueeze(0)


def letters(chars: str = string.ascii_uppercase) -> torch.Tensor:
    """Letters in the digits' format, ``(len(chars), 1, 8, 8)`` on 17 grey levels."""
    if not chars:
        raise ValueError("letters needs at least one character.")
    return quantize(torch.stack([render_glyph(c) for c in chars]))


def nearest_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """For each image of ``x``, the root mean square difference per pixel to the closest image
    of ``reference`` (e.g. the training digits): ``(N,)``, 0 for an image that is in it. A judge of
    "looks like the data" that involves no trained network."""
    check_batch(x, "x")
    check_batch(reference, "reference")
    a, b = x.detach().cpu().flatten(1).double(), reference.detach().cpu().flatten(1).double()
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x has {a.shape[1]} pixels per image, reference {b.shape[1]}.")
    squared = (a.pow(2).sum(1, keepdim=True) - 2 * a @ b.T + b.pow(2).sum(1)).clamp_min(0)
    return (squared.amin(1) / a.shape[1]).sqrt().float()
