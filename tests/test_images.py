import numpy as np
import pytest
import torch
from PIL import Image

from lib import images
from lib.images import ImageError, load_image


def _photo(width=40, height=30) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_png_path_loads_as_unit_range_batch(tmp_path):
    path = tmp_path / "photo.png"
    _photo().save(path)
    image = load_image(path)
    assert image.shape == (1, 3, 30, 40) and image.dtype == torch.float32
    assert 0 <= image.min() and image.max() <= 1
    assert image.is_contiguous()


def test_exif_orientation_is_applied(tmp_path):
    """A phone photo stored sideways (EXIF orientation 6: turn 90° clockwise) loads upright."""
    stored = np.zeros((30, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red, right half blue, as stored in the file
    stored[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    image = load_image(path)
    assert image.shape == (1, 3, 40, 30)  # portrait: taller than wide
    top, bottom = image[0, :, :18].mean(dim=(1, 2)), image[0, :, 22:].mean(dim=(1, 2))
    assert top[0] > 0.9 and top[2] < 0.1  # the stored left (red) is now on top
    assert bottom[2] > 0.9 and bottom[0] < 0.1
    with Image.open(path) as opened:  # the same from an already opened PIL image
        assert load_image(opened).shape == (1, 3, 40, 30)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="No file at .*nothing.png"):
        load_image(tmp_path / "nothing.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        load_image(tmp_path)


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels")
    with pytest.raises(ImageError, match="not an image file"):
        load_image(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.jpg"
    _photo(200, 150).save(path, quality=95)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="damaged or truncated"):
        load_image(path)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16", "LA", "CMYK"])
def test_modes_become_rgb(tmp_path, mode):
    picture = _photo().convert(mode) if mode != "I;16" else None
    if mode == "I;16":
        ramp = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
        picture = Image.fromarray(ramp)
        assert picture.mode.startswith("I;16")
    path = tmp_path / ("image.tif" if mode in ("CMYK", "I;16") else "image.png")
    picture.save(path)
    image = load_image(path)
    assert image.shape == (1, 3, 30, 40)
    assert 0 <= image.min() and image.max() <= 1
    if mode == "I;16":  # the full 16-bit range maps onto [0, 1], not clipped at 255
        assert image.max() > 0.99 and image.min() < 0.01
        assert torch.allclose(image[:, 0], image[:, 2])


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    assert torch.allclose(load_image(rgba), torch.ones(1, 3, 16, 16))


def test_absurdly_large_image_is_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    path = tmp_path / "big.png"
    _photo(100, 100).save(path)
    with pytest.raises(ImageError, match="100×100 pixels, over the 1,000 allowed"):
        load_image(path)


@pytest.mark.parametrize("size", [(1, 1), (3, 50)])
def test_tiny_images_are_refused(size):
    with pytest.raises(ImageError, match=f"{size[0]}×{size[1]} pixels; images need at least"):
        load_image(Image.new("RGB", size))


def test_arrays_and_tensors():
    grey = np.full((20, 24), 128, dtype=np.uint8)
    assert torch.allclose(load_image(grey), torch.full((1, 3, 20, 24), 128 / 255))
    floats = np.random.default_rng(1).random((20, 24, 3)).astype(np.float32)
    assert torch.allclose(load_image(floats)[0].permute(1, 2, 0), torch.from_numpy(floats))
    tensor = torch.rand(3, 20, 24)
    assert torch.equal(load_image(tensor), tensor[None])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((20, 20, 5), np.uint8), "H×W, H×W×3 or H×W×4"),
        (np.full((20, 20, 3), 200.0), "must lie in \\[0, 1\\].*Divide by 255"),
        (torch.rand(2, 20, 20), "3×H×W or B×3×H×W"),
        (torch.full((3, 20, 20), 2.0), "must lie in \\[0, 1\\]"),
        (torch.zeros(3, 20, 20, dtype=torch.uint8), "must be float"),
        (torch.full((3, 20, 20), float("nan")), "NaN"),
        (42, "Cannot load an image from a int"),
    ],
)
def test_bad_arrays_and_tensors(bad, message):
    with pytest.raises(ImageError, match=message):
        load_image(bad)


def test_resize_by_longest_side():
    image = load_image(torch.rand(1, 3, 60, 120))
    assert images.resize(image, 30).shape == (1, 3, 15, 30)
    assert load_image(torch.rand(1, 3, 60, 120), max_side=60).shape == (1, 3, 30, 60)
    with pytest.raises(ImageError, match="max_side must be an integer"):
        images.resize(image, 2)


def test_check_batch_names_the_problem():
    assert images.check_batch(torch.rand(2, 3, 4, 4), channels=3).shape == (2, 3, 4, 4)
    with pytest.raises(TypeError, match="x must be a torch tensor"):
        images.check_batch([1, 2], "x")
    with pytest.raises(ValueError, match=r"x must be a batch of shape \(B, 1, H, W\)"):
        images.check_batch(torch.rand(2, 3, 4, 4), "x", channels=1)
    with pytest.raises(ValueError, match="empty"):
        images.check_batch(torch.rand(0, 3, 4, 4))
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\].*\[-1, 1\]"):
        images.check_batch(torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2), pixels=True)


def test_radial_frequency_grids():
    full = images.radial_frequency(4, 6)
    assert full.shape == (4, 6) and full[0, 0] == 0
    assert full[0, 1].item() == pytest.approx(1 / 6) and full[2, 3].item() == pytest.approx(
        0.5**0.5
    )
    half = images.radial_frequency(4, 6, half=True)
    assert half.shape == (4, 4) and torch.equal(half, full[:, :4].abs())


def test_to_pil_and_save_never_overwrites(tmp_path):
    image = torch.rand(1, 3, 12, 16)
    picture = images.to_pil(image)
    assert picture.size == (16, 12) and picture.mode == "RGB"
    assert len(images.to_pil(torch.rand(3, 3, 12, 16))) == 3
    path = images.save_image(image, tmp_path / "out.png")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        images.save_image(torch.zeros(1, 3, 12, 16), path)
    assert path.read_bytes() == before
    assert torch.allclose(load_image(path), image, atol=1 / 255)


def test_load_from_file_url(tmp_path):
    path = tmp_path / "photo.png"
    _photo().save(path)
    assert load_image(path.as_uri()).shape == (1, 3, 30, 40)
    with pytest.raises(ImageError, match="Could not download"):
        load_image((tmp_path / "absent.png").as_uri())
