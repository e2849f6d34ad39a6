"""Dataset examples: the photo patches that excite a channel the most (chapter 1).

An optimised image shows what would excite a channel; the patches of real photos on which it
fires the most show where that appears in practice. :func:`top_patches` searches every position
of the channel's feature map on every photo and crops the square of the photo each one lies over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .device import device_of
from .features import FeatureExtractor
from .images import check_batch


@dataclass
class TopPatches:
    """The ``k`` strongest patches of each channel, strongest first.

    ``patches``: ``(channels, k, 3, patch_size, patch_size)`` crops of the input images;
    ``scores``: ``(channels, k)``, the channel's activation at the position each patch is
    centred on; ``sources``: for each channel, ``k`` tuples ``(image index, top, left)``, where
    each crop was taken from.
    """

    patches: torch.Tensor
    scores: torch.Tensor
    sources: list[list[tuple[int, int, int]]]


def _as_image_list(images) -> list[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        check_batch(images, "images", channels=3, pixels=True)
        return [image[None] for image in images]
    images = list(images)
    if not images:
        raise ValueError("images is empty: pass at least one image.")
    checked = []
    for index, image in enumerate(images):
        if isinstance(image, torch.Tensor) and image.ndim == 3:
            image = image[None]
        check_batch(image, f"images[{index}]", channels=3, pixels=True)
        if image.shape[0] != 1:
            raise ValueError(
                f"images[{index}] must be one image (3, H, W) or (1, 3, H, W); "
                f"got {tuple(image.shape)}."
            )
        checked.append(image)
    return checked


@torch.no_grad()
def top_patches(
    model: nn.Module,
    layer: str,
    channels: int | Sequence[int],
    images,
    k: int = 4,
    patch_size: int = 32,
) -> TopPatches:
    """The ``k`` patches of ``images`` that most excite each of ``channels`` of ``layer``.

    Every position of the layer's feature map of every image is a candidate: its score is the
    channel's activation there, and its patch is the ``patch_size`` square of the input centred
    on the pixel that position lies over (shifted inside the image at the borders). Candidates
    are taken in order of score, skipping any whose centre is less than half a patch away from
    one already taken in the same image, so that the ``k`` patches are not ``k`` copies of one
    spot; if that leaves fewer than ``k``, the best skipped ones fill the gap.

    ``images``: a ``(N, 3, H, W)`` batch or a sequence of ``(3, H, W)``/``(1, 3, H, W)``
    images of any size, pixels in [0, 1].
    """
    images = _as_image_list(images)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")
    if not isinstance(patch_size, int) or isinstance(patch_size, bool) or patch_size < 1:
        raise ValueError(f"patch_size must be a positive integer; got {patch_size!r}.")
    smallest = min(min(image.shape[-2:]) for image in images)
    if patch_size > smallest:
        raise ValueError(
            f"patch_size {patch_size} is larger than the smallest image side ({smallest} px)."
        )
    channels = [channels] if isinstance(channels, int) else list(channels)
    if not channels:
        raise ValueError("channels is empty: ask for at least one channel.")
    device = device_of(model)
    extractor = FeatureExtractor(model, layer)
    candidates = []  # (scores (C, h*w), image index, h, w, H, W) per image
    for index, image in enumerate(images):
        act = extractor(image.to(device))[layer]
        if act.ndim != 4:
            raise ValueError(f"Layer {layer!r} has no spatial maps (shape {tuple(act.shape)}).")
        bad = [c for c in channels if not 0 <= c < act.shape[1]]
        if bad:
            raise ValueError(
                f"Channel(s) {bad} out of range: {layer!r} has {act.shape[1]} channels."
            )
        height, width = act.shape[-2:]
        scores = act[0, channels].flatten(1).float().cpu()
        candidates.append((scores, index, height, width, *image.shape[-2:]))
    total = sum(c[0].shape[1] for c in candidates)
    if total < k:
        raise ValueError(f"k={k} but the feature maps have only {total} positions in all.")
    half = patch_size // 2
    result_patches, result_scores, result_sources = [], [], []
    for row in range(len(channels)):
        ranked = []  # (score, image index, centre y, centre x)
        for scores, index, height, width, rows, cols in candidates:
            for flat, score in enumerate(scores[row].tolist()):
                i, j = divmod(flat, width)
                ranked.append(
                    (score, index, int((i + 0.5) * rows / height), int((j + 0.5) * cols / width))
                )
        ranked.sort(key=lambda item: -item[0])
        chosen, skipped = [], []
        for item in ranked:
            if len(chosen) == k:
                break
            near = any(
                other[1] == item[1]
                and abs(other[2] - item[2]) < half
                and abs(other[3] - item[3]) < half
                for other in chosen
            )
            (skipped if near else chosen).append(item)
        chosen = sorted(chosen + skipped[: k - len(chosen)], key=lambda item: -item[0])
        crops, sources = [], []
        for _, index, cy, cx in chosen:
            rows, cols = images[index].shape[-2:]
            top = min(max(cy - half, 0), rows - patch_size)
            left = min(max(cx - half, 0), cols - patch_size)
            crops.append(
                images[index][0, :, top : top + patch_size, left : left + patch_size].cpu()
            )
            sources.append((index, top, left))
        result_patches.append(torch.stack(crops))
        result_scores.append(torch.tensor([item[0] for item in chosen]))
        result_sources.append(sources)
    return TopPatches(torch.stack(result_patches), torch.stack(result_scores), result_sources)
