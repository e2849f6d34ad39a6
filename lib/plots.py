"""Figures: image grids, feature-map grids and curves, language-neutral (captions are prose)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def _as_array(image) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().float().cpu()
        if image.ndim == 4:
            if image.shape[0] != 1:
                raise ValueError("Pass single images (3×H×W or 1×3×H×W), not a batch of several.")
            image = image[0]
        if image.ndim == 3:
            image = image.permute(1, 2, 0)
        image = image.numpy()
    array = np.asarray(image)
    return array.squeeze(-1) if array.ndim == 3 and array.shape[-1] == 1 else array


def show_images(
    images,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    size: float = 2.6,
    cmap: str | None = None,
    suptitle: str | None = None,
):
    """A grid of images (tensors in [0, 1], arrays or PIL images), one optional title each."""
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        images = list(images.unbind(0))
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image.")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles.")
    ncols = ncols or min(len(images), 6)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            array = _as_array(images[k])
            ax.imshow(
                array.clip(0, 1) if array.ndim == 3 and array.dtype.kind == "f" else array,
                cmap=cmap or ("gray" if array.ndim == 2 else None),
            )
            if titles is not None:
                ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _scaled_maps(activation: torch.Tensor, count: int, where: str = "") -> torch.Tensor:
    """The first ``count`` maps of one activation ``(1, C, H, W)``, each scaled to [0, 1]."""
    if activation.ndim != 4 or activation.shape[0] != 1:
        raise ValueError(
            f"Expected one activation of shape (1, C, H, W){where}; got {tuple(activation.shape)}."
        )
    maps = activation[0, :count].detach().float().cpu()
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return (maps - low) / (high - low).clamp_min(1e-8)


def show_feature_maps(
    activation: torch.Tensor,
    count: int = 16,
    ncols: int = 8,
    size: float = 1.3,
    title: str | None = None,
):
    """The first ``count`` channels of one activation ``(1, C, H, W)``, each scaled to its range."""
    maps = _scaled_maps(activation, count)
    nrows = math.ceil(len(maps) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(maps):
            ax.imshow(maps[k].numpy(), cmap="viridis")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def show_feature_map_rows(
    activations: Mapping[str, torch.Tensor], count: int = 16, size: float = 0.9
):
    """One figure, one row per layer: the first ``count`` channels of each activation
    ``(1, C, H, W)``, each scaled to its own range, with the layer's name at the row's left."""
    if not activations:
        raise ValueError("show_feature_map_rows needs at least one activation.")
    fig, axes = plt.subplots(
        len(activations), count, figsize=(size * count, size * len(activations)), squeeze=False
    )
    for row, (name, activation) in zip(axes, activations.items(), strict=True):
        maps = _scaled_maps(activation, count, f" for {name}")
        for k, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if k < len(maps):
                ax.imshow(maps[k].numpy(), cmap="viridis")
        row[0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    x: Sequence[float] | None = None,
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
    spread: Mapping[str, Sequence[float]] | None = None,
    ax=None,
):
    """Named curves on one axis; ``spread`` adds a ±band (e.g. the std over seeds)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, values in curves.items():
        xs = list(x) if x is not None else list(range(len(values)))
        ax.plot(xs, values, marker="o" if len(values) <= 12 else None, label=label)
        if spread and label in spread:
            mid, band = np.asarray(values, float), np.asarray(spread[label], float)
            ax.fill_between(xs, mid - band, mid + band, alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if len(curves) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


def show_images_and_curves(
    images,
    titles: Sequence[str],
    curves: Mapping[str, Sequence[float]],
    x: Sequence[float],
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
    size: float = 2.8,
):
    """One row: the images (one title each), then one panel of named curves (as
    :func:`plot_curves`), e.g. optimised images beside their spectra. Returns the figure."""
    images = list(images.unbind(0) if isinstance(images, torch.Tensor) else images)
    if not images:
        raise ValueError("show_images_and_curves needs at least one image.")
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles.")
    fig, axes = plt.subplots(
        1,
        len(images) + 1,
        figsize=(size * len(images) + 1.6 * size, size),
        gridspec_kw={"width_ratios": [1] * len(images) + [1.6]},
    )
    for ax, image, title in zip(axes[:-1], images, titles, strict=True):
        array = _as_array(image)
        ax.imshow(array.clip(0, 1) if array.dtype.kind == "f" else array)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    plot_curves(curves, x=x, xlabel=xlabel, ylabel=ylabel, logy=logy, ax=axes[-1])
    return fig
