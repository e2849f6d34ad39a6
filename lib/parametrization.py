"""How the optimised image is represented. Every parametrisation is an ``nn.Module`` whose
``forward()`` returns a batch ``(B, 3, H, W)`` in [0, 1]; ``project()`` is called after each
optimiser step to keep the parameters valid."""

from __future__ import annotations

import torch
from torch import nn

from .images import check_batch, radial_frequency


class PixelImage(nn.Module):
    """The pixels themselves, kept in [0, 1] by clamping after every step."""

    def __init__(self, init: torch.Tensor):
        super().__init__()
        check_batch(init, "init", channels=3)
        self.pixels = nn.Parameter(init.detach().clone().float().clamp(0, 1).contiguous())

    @classmethod
    def noise(
        cls,
        batch: int,
        height: int,
        width: int,
        std: float = 0.05,
        generator: torch.Generator | None = None,
        device=None,
    ) -> PixelImage:
        """Grey plus a little Gaussian noise: a neutral start that still breaks symmetry."""
        noise = torch.randn(batch, 3, height, width, generator=generator) * std
        return cls((0.5 + noise).to(device or "cpu"))

    def forward(self) -> torch.Tensor:
        return self.pixels

    @torch.no_grad()
    def project(self) -> None:
        self.pixels.clamp_(0, 1)


# Colour correlation of natural images: the square root of the covariance of ImageNet's RGB
# values (the matrix used by Olah et al., 2017). Optimising in these decorrelated coordinates
# and mixing them back gives every colour direction a similar scale.
_COLOUR_SQRT_COV = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
_COLOUR_MIX = _COLOUR_SQRT_COV / _COLOUR_SQRT_COV.norm(dim=0).max()
# irfft2 of a 1/f-scaled spectrum gives values of a few units; this gain keeps the start in the
# linear range of the sigmoid that maps to [0, 1].
_FFT_GAIN = 0.25


def spectrum_scale(height: int, width: int, decay: float = 1.0) -> torch.Tensor:
    """``1 / f**decay`` on the ``rfft2`` grid of an ``height × width`` image (f in cycles/pixel),
    with the lowest frequencies capped at ``1 / max(height, width)`` so that the DC term stays
    finite. Natural images have about this amplitude spectrum."""
    frequency = radial_frequency(height, width, half=True).clamp_min(1.0 / max(height, width))
    return frequency.pow(-decay)


class FourierImage(nn.Module):
    """An image parametrised by its Fourier spectrum, in decorrelated colour coordinates.

    The parameters are the real and imaginary parts of ``rfft2`` coefficients, multiplied by
    ``spectrum_scale`` before the inverse transform: a gradient step then changes low
    frequencies as easily as high ones, whereas in pixel space high frequencies dominate
    (Olah et al., 2017). With ``decorrelate=True`` the three channels are mixed by the colour
    correlation matrix of natural images. A sigmoid maps the result into (0, 1).
    ``forward()`` returns a ``(B, 3, H, W)`` batch like :class:`PixelImage`.
    """

    def __init__(
        self,
        batch: int,
        height: int,
        width: int,
        std: float = 0.01,
        decay: float = 1.0,
        decorrelate: bool = True,
        generator: torch.Generator | None = None,
        device=None,
    ):
        super().__init__()
        for name, value in (("batch", batch), ("height", height), ("width", width)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if std < 0 or decay < 0:
            raise ValueError(f"std and decay must be non-negative; got std={std}, decay={decay}.")
        self.height, self.width, self.decorrelate = height, width, decorrelate
        shape = (batch, 3, height, width // 2 + 1, 2)
        init = torch.randn(shape, generator=generator) * std
        self.spectrum = nn.Parameter(init.to(device or "cpu"))
        self.register_buffer("scale", spectrum_scale(height, width, decay).to(device or "cpu"))
        self.register_buffer("colour", _COLOUR_MIX.clone().to(device or "cpu"))

    @classmethod
    def noise(
        cls,
        batch: int,
        height: int,
        width: int,
        std: float = 0.01,
        generator: torch.Generator | None = None,
        device=None,
        **options,
    ) -> FourierImage:
        """Same call as :meth:`PixelImage.noise`: a random start of the given size."""
        return cls(batch, height, width, std=std, generator=generator, device=device, **options)

    def forward(self) -> torch.Tensor:
        coefficients = torch.view_as_complex(self.spectrum) * self.scale
        signal = torch.fft.irfft2(coefficients, s=(self.height, self.width), norm="ortho")
        signal = signal * _FFT_GAIN
        if self.decorrelate:
            signal = torch.einsum("ij,bjhw->bihw", self.colour, signal)
        return torch.sigmoid(signal)

    def project(self) -> None:
        """Nothing to do: the sigmoid keeps every pixel in (0, 1)."""
