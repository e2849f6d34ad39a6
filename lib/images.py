"""Images in, images out: loading, validation, resizing, ImageNet normalisation.

Inside the book an image is a float tensor of shape ``(1, 3, H, W)`` (or a batch ``(B, 3, H, W)``)
with values in ``[0, 1]``. Normalisation for the networks happens in one place, ``normalize``.
"""

from __future__ import annotations

import io
import math
import os
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import PIL
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

MIN_SIDE = 8  # smaller images carry too little to look at, and break strided networks
# An image held whole as a float tensor: 40 megapixels are already 480 MB. A larger photo (a
# phone's 48 or 50 MP) loads with ``max_side``: it is decoded at reduced size and shrunk before it
# becomes a tensor. Absurd sizes (decompression bombs) are refused by Pillow's own guard.
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """An image that cannot be used, with a message saying why and what to do."""


def load_image(source, max_side: int | None = None) -> torch.Tensor:
    """Load an image as a ``(1, 3, H, W)`` float tensor in ``[0, 1]``.

    ``source`` may be a path, an ``http(s)://`` or ``file://`` URL, a PIL image, a NumPy array
    (``H×W``, ``H×W×3`` or ``H×W×4``; uint8, uint16 or float in [0, 1]) or a tensor (``3×H×W``
    or ``1×3×H×W`` in [0, 1]). Files may be PNG, JPEG, WebP, AVIF, HEIC (iPhones' format, with
    the ``pillow-heif`` plugin), TIFF, …; grey, RGBA, palette and 16-bit images are converted to
    RGB. Photos are turned the way their EXIF orientation says (phones store them sideways).
    ``max_side`` resizes so that the longest side has that many pixels; a large file is then
    decoded at reduced size (JPEG) and shrunk before it becomes a tensor, so a 48-megapixel
    phone photo costs a fraction of a second and little memory.
    """
    if max_side is not None:
        _check_max_side(max_side)
    if isinstance(source, torch.Tensor):
        image = _check_tensor(source)
    elif isinstance(source, np.ndarray):
        image = _from_array(source)
    elif isinstance(source, Image.Image):
        return _from_pil(source, max_side)
    elif isinstance(source, (str, os.PathLike)):
        text = str(source)
        data = _read_url(text) if text.startswith(("http://", "https://", "file://")) else None
        if data is None:
            data = _read_path(Path(source))
        return _from_pil(_open_pil(data, text, max_side), max_side)
    else:
        raise ImageError(
            f"Cannot load an image from a {type(source).__name__}; pass a path, a URL, "
            "a PIL image, a NumPy array or a tensor."
        )
    return resize(image, max_side) if max_side is not None else image


def _read_path(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(
            f"No file at {path}: check the path (relative paths start at {Path.cwd()})."
        )
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image file.")
    return path.read_bytes()


def _read_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except OSError as err:
        raise ImageError(
            f"Could not download {url} ({err}). Check the address and the network, or download "
            "the file yourself and pass its path."
        ) from err


def _open_pil(data: bytes, name: str, max_side: int | None = None) -> Image.Image:
    """The decoded image, at reduced size when ``max_side`` allows it (JPEG's draft mode)."""
    _register_plugins()
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 megapixels on and refuses twice that; the size is checked
            # here, and large JPEGs are decoded reduced, so its warning would only be noise
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            _check_size(*image.size, name, whole=max_side is None)  # before decoding
            if max_side is not None and max(image.size) > max_side:
                # JPEG: decode at 1/2, 1/4 or 1/8 of the size, never below the size asked for
                image.draft(None, _fit(image.size, max_side, round_up=True))
            image.load()
    except UnidentifiedImageError as err:
        raise ImageError(_unreadable(data, name)) from err
    except Image.DecompressionBombError as err:
        raise ImageError(f"{name} is absurdly large for this book: {err}") from err
    except OSError as err:
        raise ImageError(
            f"{name} is damaged or truncated ({err}); download or export it again."
        ) from err
    return image


_plugins_registered = False


def _register_plugins() -> None:
    """Let Pillow open HEIC/HEIF (iPhones' photos) when the pillow-heif plugin is installed.

    AVIF needs no plugin: Pillow reads it itself from version 11.3 on."""
    global _plugins_registered
    if _plugins_registered:
        return
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return  # tried again at the next load: the reader may install it meanwhile
    register_heif_opener()
    _plugins_registered = True


HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1"}
AVIF_BRANDS = {b"avif", b"avis"}


def _unreadable(data: bytes, name: str) -> str:
    """Why Pillow could not identify the file, naming the format and the fix when it knows."""
    if data[4:8] == b"ftyp":  # an ISO media file: its brands say which format
        size = int.from_bytes(data[:4], "big")
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, min(size, 64), 4)}
        if brands & AVIF_BRANDS:
            return (
                f"{name} is an AVIF image, which this Pillow ({PIL.__version__}) cannot read: "
                "Pillow's own wheels read AVIF from version 11.3 on. Run `pip install --upgrade "
                "pillow` and restart the kernel, or export the picture as JPEG or PNG."
            )
        if brands & HEIF_BRANDS:
            return (
                f"{name} is a HEIC/HEIF photo (the format of iPhones), which Pillow reads only "
                "with the pillow-heif plugin: run `pip install pillow-heif` and load it again, "
                "or export the picture as JPEG or PNG."
            )
    return f"{name} is not an image file that Pillow can read (PNG, JPEG, ...)."


def _check_max_side(max_side) -> None:
    if not isinstance(max_side, int) or max_side < MIN_SIDE:
        raise ImageError(f"max_side must be an integer of at least {MIN_SIDE}; got {max_side!r}.")


def _check_size(width: int, height: int, name: str = "The image", whole: bool = True) -> None:
    """Refuse images too small to use, and (``whole``: kept at full size) too large to hold."""
    if min(width, height) < MIN_SIDE:
        raise ImageError(
            f"{name} is {width}×{height} pixels; images need at least {MIN_SIDE} pixels a side."
        )
    if whole and width * height > MAX_PIXELS:
        raise ImageError(
            f"{name} is {width}×{height} pixels, over the {MAX_PIXELS:,} allowed at full size: "
            "load it with max_side (the book works at a few hundred pixels), or shrink it first."
        )


def _fit(size: tuple[int, int], max_side: int, round_up: bool = False) -> tuple[int, int]:
    """``size`` (either order of sides) scaled so that its longest side is ``max_side``."""
    scale = max_side / max(size)
    rounding = math.ceil if round_up else round
    return tuple(max(MIN_SIDE, rounding(side * scale)) for side in size)


REDUCIBLE_MODES = ("L", "LA", "RGB", "RGBA")


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` reduced by an integer factor (box filter) to between one and two times
    ``max_side`` on its longest side, so that the float tensor stays small; the exact size is
    reached later, by the same antialiased resize as any other image."""
    # never below MIN_SIDE on the shorter side: a long thin picture keeps its MIN_SIDE pixels
    factor = min(max(image.size) // max_side, min(image.size) // MIN_SIDE)
    if factor < 2 or image.mode.startswith(("I", "F")):  # high bit depth: resized as a tensor
        return image
    if image.mode not in REDUCIBLE_MODES:  # palette, CMYK, …: reduced colours, not indices
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    return image.reduce(factor)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info)


def _from_pil(image: Image.Image, max_side: int | None = None) -> torch.Tensor:
    _check_size(*image.size, whole=max_side is None)
    stored = image.size  # before any reduction: the size asked for is computed from it
    if max_side is not None:
        image = _shrink(image, max_side)
    reduced = image.size
    image = ImageOps.exif_transpose(image)
    if image.size != reduced:  # turned a quarter: so is the size asked for
        stored = stored[::-1]
    tensor = _to_tensor(image)
    if max_side is None:
        return tensor
    width, height = _fit(stored, max_side)
    return resize_to(tensor, (height, width))


def _to_tensor(image: Image.Image) -> torch.Tensor:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16- and 32-bit greyscale
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        return _from_array((array / top).clip(0, 1).astype(np.float32))
    if image.mode == "F":
        return _from_array(np.asarray(image, dtype=np.float32))
    if _has_alpha(image):
        # composite on white: transparent pixels would otherwise turn black
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return _from_array(np.asarray(image.convert("RGB")))


def _from_array(array: np.ndarray) -> torch.Tensor:
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise ImageError(
            f"An array image must be H×W, H×W×3 or H×W×4; got shape {tuple(array.shape)}."
        )
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    if array.shape[2] == 4:
        array = array[..., :3]
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("The array holds NaN or infinite values.")
        if array.min() < 0 or array.max() > 1:
            raise ImageError(
                f"A float array image must lie in [0, 1]; got [{array.min():.3g}, "
                f"{array.max():.3g}]. Divide by 255 if it holds 0-255 values."
            )
        array = array.astype(np.float32)
    else:
        raise ImageError(f"Unsupported array dtype {array.dtype}; use uint8, uint16 or float.")
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)
    # permute gives channels-last strides, which L-BFGS cannot handle: make it contiguous
    return _check_tensor(tensor.unsqueeze(0).contiguous())


def _check_tensor(tensor: torch.Tensor) -> torch.Tensor:
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4 or tensor.shape[1] != 3:
        raise ImageError(
            f"An image tensor must be 3×H×W or B×3×H×W (RGB); got shape {tuple(tensor.shape)}."
        )
    if not tensor.is_floating_point():
        raise ImageError(f"An image tensor must be float in [0, 1]; got {tensor.dtype}.")
    _check_size(tensor.shape[-1], tensor.shape[-2])
    if not torch.isfinite(tensor).all():
        raise ImageError("The image tensor holds NaN or infinite values.")
    low, high = tensor.min().item(), tensor.max().item()
    if low < -1e-6 or high > 1 + 1e-6:
        raise ImageError(f"An image tensor must lie in [0, 1]; got [{low:.3g}, {high:.3g}].")
    return tensor.float().contiguous()


def resize_to(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a ``(B, 3, H, W)`` image to exactly ``size = (H, W)``, antialiased, in [0, 1]."""
    size = tuple(int(side) for side in size)
    if tuple(image.shape[-2:]) == size:
        return image
    resized = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
    return resized.clamp(0, 1)


def resize(image: torch.Tensor, max_side: int) -> torch.Tensor:
    """Resize a ``(B, 3, H, W)`` image so that its longest side is ``max_side`` pixels."""
    _check_max_side(max_side)
    return resize_to(image, _fit(tuple(image.shape[-2:]), max_side))


def check_batch(
    images, name: str = "images", channels: int | None = None, pixels: bool = False
) -> torch.Tensor:
    """``images`` if it is a non-empty ``(B, C, H, W)`` tensor (with ``channels`` channels, and
    values in [0, 1] when ``pixels``), else a clear error naming ``name``."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (B, C, H, W); got {type(images).__name__}.")
    shape = tuple(images.shape)
    if images.ndim != 4 or (channels is not None and shape[1] != channels):
        wanted = f"(B, {channels}, H, W)" if channels is not None else "(B, C, H, W)"
        raise ValueError(f"{name} must be a batch of shape {wanted}; got {shape}.")
    if shape[0] == 0:
        raise ValueError(f"{name} is empty: pass at least one image.")
    if pixels:
        low, high = images.min().item(), images.max().item()
        if low < -1e-6 or high > 1 + 1e-6:
            raise ValueError(
                f"{name} must be pixels in [0, 1]; got values in [{low:.3g}, {high:.3g}]. "
                "Pass unnormalised images: the networks normalise their input themselves."
            )
    return images


def radial_frequency(
    height: int, width: int, half: bool = False, device: torch.device | str | None = None
) -> torch.Tensor:
    """Spatial frequency (cycles per pixel, 0 to 0.71) of each coefficient of ``fft2`` of an
    ``height × width`` image, or of ``rfft2`` (the non-negative half of the columns) if
    ``half``."""
    fy = torch.fft.fftfreq(height, device=device)[:, None]
    fx = (torch.fft.rfftfreq if half else torch.fft.fftfreq)(width, device=device)[None, :]
    return (fy**2 + fx**2).sqrt()


def to_pil(image: torch.Tensor) -> Image.Image | list[Image.Image]:
    """A ``(3, H, W)`` or ``(1, 3, H, W)`` tensor in [0, 1] to a PIL image (a list for a batch)."""
    image = image.detach().float().cpu()
    if image.ndim == 3:
        image = image.unsqueeze(0)
    arrays = (image.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    pictures = [Image.fromarray(array) for array in arrays]
    return pictures[0] if len(pictures) == 1 else pictures


def save_image(image: torch.Tensor, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save an image as PNG/JPEG; refuses to replace an existing file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists already; pass overwrite=True to replace it.")
    picture = to_pil(image)
    if isinstance(picture, list):
        raise ImageError("save_image saves one image; pass a single image, not a batch.")
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)
    return path
