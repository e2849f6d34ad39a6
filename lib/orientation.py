"""How strongly oriented the local structure of an image is (chapter 1).

An optimised image of a trained network draws shapes: stripes, edges, the outline of an eye,
fibres of fur. The same method on an untrained network gives clouds of colour with no preferred
direction. :func:`orientation_coherence` puts a number on the difference: at every pixel the
*structure tensor* (the brightness gradient's outer product with itself, averaged over a small
window) has two eigenvalues :math:`\\lambda_1 \\ge \\lambda_2`, and their coherence
:math:`(\\lambda_1 - \\lambda_2) / (\\lambda_1 + \\lambda_2)` is 1 where all the gradients of
the window point the same way (parallel stripes, an edge) and 0 where they point every way
(isotropic blobs, noise).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .images import check_batch


def orientation_coherence(images: torch.Tensor, window: int = 9) -> torch.Tensor:
    """The mean coherence of the structure tensor of each image, in [0, 1]: ``(B,)``.

    The brightness (the mean of the colour channels) is differentiated by central differences;
    the tensor is averaged over ``window × window`` squares that lie inside the image. A flat
    window has no direction and counts as 0.
    """
    check_batch(images)
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer; got {window!r}.")
    if min(images.shape[-2:]) < window + 2:
        raise ValueError(
            f"The images ({tuple(images.shape[-2:])} px) are too small for a {window}-pixel "
            "window and the gradient around it."
        )
    brightness = images.detach().float().mean(dim=1, keepdim=True)
    gx = (brightness[..., 1:-1, 2:] - brightness[..., 1:-1, :-2]) / 2
    gy = (brightness[..., 2:, 1:-1] - brightness[..., :-2, 1:-1]) / 2
    xx, yy, xy = (
        F.avg_pool2d(product, window, stride=1) for product in (gx * gx, gy * gy, gx * gy)
    )
    spread = ((xx - yy) ** 2 + 4 * xy**2).sqrt()  # λ1 − λ2
    energy = xx + yy  # λ1 + λ2
    coherence = torch.where(energy > 1e-12, spread / energy.clamp_min(1e-12), 0.0)
    return coherence.mean(dim=(1, 2, 3))
