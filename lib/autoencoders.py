"""Autoencoders on the 8×8 digits: compress the data manifold, and measure what that means.

- ``ConvAutoencoder``: a small convolutional encoder to a ``latent``-dimensional code and a
  decoder back to 8×8 pixels in [0, 1] (Hinton and Salakhutdinov, 2006, with convolutions).
- ``train_autoencoder``, ``reconstruction_error`` (mean squared error per image),
  ``error_vs_latent`` (one model per code size).
- ``interpolate``: decode points on the segment between two codes ("walking the manifold"), and
  the pixel-space cross-fade to compare with.
- ``auroc``: how well a score (e.g. reconstruction error) separates two sets.
- ``layer_sizes`` / ``draw_autoencoder``: the shapes an image takes through the encoder, the code
  and the decoder, read from the model, and a diagram of them.
- ``pca_reconstruct`` / ``pca_error_vs_latent``: principal component analysis, the best linear
  autoencoder, as a baseline with the same code sizes.
- ``path_confidence``: what an independent classifier says along the latent path and along the
  pixel cross-fade between pairs of images (``lib.digits.nearest_distance`` says how far images
  are from the closest training digit, with no network involved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from torch import nn

from .device import device_of
from .digits import predict_proba
from .images import check_batch
from .training import train

SIDE = 8


def _check_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    check_batch(x, name, channels=1)
    if tuple(x.shape[2:]) != (SIDE, SIDE):
        raise ValueError(f"{name} must have shape (N, 1, 8, 8); got {tuple(x.shape)}.")
    return x


class ConvAutoencoder(nn.Module):
    """8×8×1 → conv (16) → strided conv (32, 4×4) → linear → code of size ``latent``, and back
    with a linear layer, a transposed convolution to 8×8 (16 channels), a 3×3 convolution to
    one channel and a sigmoid (pixels in [0, 1]). ``seed`` draws the initial weights from that
    seed: the autoencoder that ``train_autoencoder(..., seed=seed)`` starts from, an untrained
    control."""

    def __init__(self, latent: int = 10, width: int = 16, seed: int | None = None):
        super().__init__()
        if not isinstance(latent, int) or latent < 1:
            raise ValueError(f"latent must be a positive integer (the code size); got {latent!r}.")
        self.latent = latent
        if seed is not None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                self._build(width)
        else:
            self._build(width)

    def _build(self, width: int) -> None:
        w = width
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),  # 8×8 -> 4×4
            nn.Flatten(), nn.Linear(2 * w * 16, self.latent),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(self.latent, 2 * w * 16), nn.ReLU(), nn.Unflatten(1, (2 * w, 4, 4)),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),  # 4×4 -> 8×8
            nn.Conv2d(w, 1, 3, padding=1), nn.Sigmoid(),
        )  # fmt: skip

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent:
            raise ValueError(f"codes must have shape (N, {self.latent}); got {tuple(z.shape)}.")
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def train_autoencoder(
    model: ConvAutoencoder,
    x: torch.Tensor,
    epochs: int = 60,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
) -> list[float]:
    """Adam on the mean squared error between images and reconstructions, with a cosine
    learning rate (``lib.training.train``); returns the mean loss of each epoch and leaves the
    model in eval mode, frozen."""
    _check_images(x)
    return train(
        model, x, x, F.mse_loss, epochs, lr, batch_size, cosine=True, reset=True, seed=seed
    )


@torch.no_grad()
def reconstruct(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's reconstructions of ``x`` (on the CPU)."""
    _check_images(x)
    return model(x.to(device_of(model))).cpu()


def reconstruction_error(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, ``(N,)``, in squared pixel units of [0, 1]."""
    return (reconstruct(model, x) - x.cpu()).pow(2).flatten(1).mean(1)


@dataclass
class LatentSweep:
    sizes: list[int]
    train_error: list[float]
    test_error: list[float]
    models: dict[int, ConvAutoencoder]


def error_vs_latent(
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    sizes: Sequence[int],
    epochs: int = 60,
    seed: int = 0,
    width: int = 16,
    **kw,
) -> LatentSweep:
    """Train one autoencoder per code size (same seed, same ``width``, ``kw`` passed on to
    ``train_autoencoder``); mean reconstruction error on train and test."""
    if len(sizes) == 0:
        raise ValueError("sizes is empty: pass code sizes, e.g. [2, 4, 8, 16, 32].")
    out = LatentSweep([], [], [], {})
    for size in sizes:
        model = ConvAutoencoder(latent=int(size), width=width)
        train_autoencoder(model, x_train, epochs=epochs, seed=seed, **kw)
        out.sizes.append(int(size))
        out.train_error.append(reconstruction_error(model, x_train).mean().item())
        out.test_error.append(reconstruction_error(model, x_test).mean().item())
        out.models[int(size)] = model
    return out


@torch.no_grad()
def interpolate(model: ConvAutoencoder, a: torch.Tensor, b: torch.Tensor, steps: int = 8):
    """Decoded images at evenly spaced points between the codes of ``a`` and ``b`` (each
    ``(1, 1, 8, 8)``), and the pixel-space cross-fade ``(1-t)·a + t·b`` at the same t."""
    _check_images(a, "a")
    _check_images(b, "b")
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends); got {steps!r}.")
    device = device_of(model)
    t = torch.linspace(0, 1, steps).view(-1, 1)
    za, zb = model.encode(a[:1].to(device)).cpu(), model.encode(b[:1].to(device)).cpu()
    codes = (1 - t) * za + t * zb
    decoded = model.decode(codes.to(device)).cpu()
    fade = (1 - t.view(-1, 1, 1, 1)) * a[:1].cpu() + t.view(-1, 1, 1, 1) * b[:1].cpu()
    return decoded, fade


@torch.no_grad()
def encode(model: ConvAutoencoder, x: torch.Tensor) -> torch.Tensor:
    """Codes ``(N, latent)`` of images (on the CPU)."""
    _check_images(x)
    return model.encode(x.to(device_of(model))).cpu()


# --------------------------------------------------------------------------- detection


def auroc(negatives: torch.Tensor, positives: torch.Tensor) -> float:
    """Area under the ROC curve of a score meant to be higher on ``positives``: the probability
    that a random positive scores above a random negative (ties count one half)."""
    neg = torch.as_tensor(negatives, dtype=torch.float64).reshape(-1).numpy()
    pos = torch.as_tensor(positives, dtype=torch.float64).reshape(-1).numpy()
    if neg.size == 0 or pos.size == 0:
        raise ValueError("auroc needs at least one negative and one positive score.")
    labels = np.concatenate([np.zeros(neg.size), np.ones(pos.size)])
    return float(roc_auc_score(labels, np.concatenate([neg, pos])))


# --------------------------------------------------------------------------- architecture

_WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def layer_sizes(model: nn.Module) -> list[tuple[int, ...]]:
    """The shape of one image after each stage: the input, every convolution or linear layer of
    ``model.encoder`` (the last one gives the code) and of ``model.decoder`` (the last one gives
    the reconstruction). Read by passing a blank 8×8 image through the model's two
    ``nn.Sequential`` parts, so it follows the model, not a copy of its sizes."""
    parts = [getattr(model, name, None) for name in ("encoder", "decoder")]
    if not all(isinstance(part, nn.Sequential) for part in parts):
        raise ValueError(
            "layer_sizes reads a model with `encoder` and `decoder` nn.Sequential parts, like "
            f"ConvAutoencoder; got {type(model).__name__}, which has no such parts."
        )
    x = torch.zeros(1, 1, SIDE, SIDE, device=device_of(model))
    shapes = [tuple(x.shape[1:])]
    with torch.no_grad():
        for part in parts:
            if not any(isinstance(layer, _WEIGHTED) for layer in part):
                raise ValueError(
                    f"{type(model).__name__} has an encoder or decoder without convolution or "
                    "linear layers: there are no sizes to read."
                )
            for layer in part:
                x = layer(x)
                if isinstance(layer, _WEIGHTED):
                    shapes.append(tuple(x.shape[1:]))
    if len(shapes[-1]) != 3 or shapes[-1] != shapes[0]:
        raise ValueError(
            f"The decoder gives {shapes[-1]}, not an image like the input {shapes[0]}."
        )
    return shapes


def _size_label(shape: tuple[int, ...]) -> str:
    count = int(np.prod(shape))
    if len(shape) == 1:
        return str(count)
    return "×".join(str(s) for s in shape) + f"\n= {count}"


def draw_autoencoder(model: nn.Module, image: torch.Tensor, ax=None):
    """A diagram of ``model``: the input ``image`` ``(1, 1, 8, 8)``, one bar per stage of
    ``layer_sizes`` (height growing with the number of values, labelled with shape and count)
    inside an encoder and a decoder trapezoid, the code in the middle, and the reconstruction.
    Labels are symbols and numbers only, so the figure serves both editions. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Polygon, Rectangle

    _check_images(image, "image")
    shapes = layer_sizes(model)
    code = len(shapes) // 2
    if shapes[code] != (getattr(model, "latent", shapes[code][0]),):
        raise ValueError(f"The middle stage {shapes[code]} is not the model's code.")
    rebuilt = reconstruct(model, image[:1])
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 2.9))
    counts = [int(np.prod(s)) for s in shapes]
    top = np.sqrt(max(counts))
    heights = [0.25 + 0.75 * np.sqrt(c) / top for c in counts]  # area-like, never vanishing
    xs = 2.0 + 1.1 * np.arange(len(shapes))
    for k in (0, 1):  # the encoder and decoder trapezoids
        first, last = (0, code) if k == 0 else (code, len(shapes) - 1)
        wide = max(heights[first : last + 1]) / 2 + 0.08  # a funnel to the code and back
        narrow = heights[code] / 2 + 0.08
        left, right = (wide, narrow) if k == 0 else (narrow, wide)
        corners = [
            (xs[first] - 0.35, -left), (xs[last] + 0.35, -right),
            (xs[last] + 0.35, right), (xs[first] - 0.35, left),
        ]  # fmt: skip
        ax.add_patch(Polygon(corners, closed=True, alpha=0.15, color=f"C{k}", lw=0))
        name = ("encoder  $E$", "decoder  $D$")[k]
        ax.text((xs[first] + xs[last]) / 2, 0.72, name, ha="center", fontsize=11, color=f"C{k}")
    for k, (x, h, shape) in enumerate(zip(xs, heights, shapes, strict=True)):
        colour = "C3" if k == code else "0.35"
        ax.add_patch(Rectangle((x - 0.12, -h / 2), 0.24, h, color=colour))
        label = _size_label(shape)
        if k == code:
            label = f"$z$\n$d$ = {shape[0]}"
        ax.text(x, -0.62, label, ha="center", va="top", fontsize=8.5)
    for x, picture, name in ((0.6, image[0, 0], "$x$"), (xs[-1] + 1.4, rebuilt[0, 0], r"$\hat x$")):
        ax.imshow(picture.numpy(), cmap="gray", vmin=0, vmax=1,
                  extent=(x - 0.5, x + 0.5, -0.5, 0.5))  # fmt: skip
        ax.text(x, 0.62, name, ha="center", fontsize=12)
    for x0, x1 in ((1.15, xs[0] - 0.45), (xs[-1] + 0.45, xs[-1] + 0.85)):
        ax.annotate("", (x1, 0), (x0, 0), arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.set_xlim(0, xs[-1] + 2.1)
    ax.set_ylim(-1.05, 0.95)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.figure.tight_layout()
    return ax.figure


# --------------------------------------------------------------------------- linear baseline


def _flat(x: torch.Tensor, name: str) -> np.ndarray:
    _check_images(x, name)
    return x.detach().cpu().flatten(1).double().numpy()


def pca_reconstruct(x_train: torch.Tensor, x: torch.Tensor, components: int) -> torch.Tensor:
    """``x`` projected on the first ``components`` principal directions of ``x_train`` and mapped
    back: the reconstruction of the best linear autoencoder with a code of that size. Not
    clamped to [0, 1] (the linear map knows nothing of the pixel range)."""
    train = _flat(x_train, "x_train")
    if not isinstance(components, int) or not 1 <= components <= min(train.shape):
        raise ValueError(
            f"components must be an integer from 1 to {min(train.shape)}; got {components!r}."
        )
    pca = PCA(n_components=components, svd_solver="full").fit(train)
    rebuilt = pca.inverse_transform(pca.transform(_flat(x, "x")))
    return torch.from_numpy(rebuilt).float().reshape(x.shape)


def pca_error_vs_latent(
    x_train: torch.Tensor, x_test: torch.Tensor, sizes: Sequence[int]
) -> list[float]:
    """Mean squared error per pixel of PCA on ``x_test``, one value per code size in ``sizes``
    (fitted on ``x_train``): the linear baseline of ``error_vs_latent``."""
    if len(sizes) == 0:
        raise ValueError("sizes is empty: pass code sizes, e.g. [2, 4, 8, 16, 32].")
    return [
        (pca_reconstruct(x_train, x_test, int(d)) - x_test.cpu()).pow(2).mean().item()
        for d in sizes
    ]


# --------------------------------------------------------------------------- an outside judge


def path_confidence(
    classifier: nn.Module,
    model: ConvAutoencoder,
    a: torch.Tensor,
    b: torch.Tensor,
    steps: int = 9,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The classifier's confidence (largest softmax probability) along ``interpolate``'s two
    paths from each ``a[i]`` to ``b[i]``: ``(latent, pixel)``, each ``(pairs, steps)``. The
    classifier was not trained with the autoencoder: it judges the decoded images from outside."""
    _check_images(a, "a")
    _check_images(b, "b")
    if len(a) != len(b):
        raise ValueError(f"a and b must hold the same number of images; got {len(a)} and {len(b)}.")
    latent, pixel = [], []
    for x0, x1 in zip(a, b, strict=True):
        walk, fade = interpolate(model, x0[None], x1[None], steps=steps)
        latent.append(predict_proba(classifier, walk).amax(1))
        pixel.append(predict_proba(classifier, fade).amax(1))
    return torch.stack(latent), torch.stack(pixel)
