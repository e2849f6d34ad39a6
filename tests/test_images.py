import numpy as np
import pytest
import torch
from PIL import Image, UnidentifiedImageError, features

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


def test_a_large_image_is_refused_at_full_size_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    path = tmp_path / "big.png"
    _photo(100, 100).save(path)
    with pytest.raises(ImageError, match="100×100 pixels, over the 1,000 allowed.*max_side"):
        load_image(path)
    assert load_image(path, max_side=16).shape == (1, 3, 16, 16)  # reduced, it is welcome


def test_absurd_sizes_are_refused_by_pillows_bomb_guard(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    _photo(100, 100).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # Pillow refuses twice its limit
    with pytest.raises(ImageError, match="absurdly large"):
        load_image(path, max_side=50)


def _phone_photo(path, width=8000, height=6000, **options):
    """A phone photo as stored: sideways (EXIF orientation 6, turn 90° clockwise), its stored
    left half red and its right half blue. Flat colours keep the file small."""
    picture = Image.new("RGB", (width, height), (0, 0, 255))
    picture.paste((255, 0, 0), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    # pillow-heif reads the orientation from EXIF bytes only
    picture.save(path, exif=exif.tobytes(), **options)
    return path


def _upright(image, height, width):
    """The phone photo turned upright: portrait, the stored left (red) on top."""
    assert image.shape == (1, 3, height, width)
    top = image[0, :, : height // 2 - 2].mean(dim=(1, 2))
    bottom = image[0, :, height // 2 + 2 :].mean(dim=(1, 2))
    assert top[0] > 0.9 and top[2] < 0.1
    assert bottom[2] > 0.9 and bottom[0] < 0.1


def test_a_48_megapixel_phone_jpeg_decodes_reduced_and_loads_upright(tmp_path, monkeypatch):
    path = _phone_photo(tmp_path / "phone.jpg", quality=90)
    decoded, converted = [], []
    shrink, to_tensor = images._shrink, images._to_tensor
    monkeypatch.setattr(
        images, "_shrink", lambda im, side: decoded.append(im.size) or shrink(im, side)
    )
    monkeypatch.setattr(images, "_to_tensor", lambda im: converted.append(im.size) or to_tensor(im))
    _upright(load_image(path, max_side=400), 400, 300)
    assert decoded == [(1000, 750)]  # JPEG's draft mode: decoded at an eighth of 8000×6000
    assert converted == [(375, 500)]  # shrunk (and turned) before it became a float tensor
    with pytest.raises(ImageError, match="8000×6000 pixels, over .* allowed at full size"):
        load_image(path)  # whole, it would be 576 MB of floats


def test_shrinking_first_gives_the_size_and_pixels_of_resizing_the_whole(tmp_path):
    """A smooth picture of an odd size: loaded with max_side, it has exactly the size of the
    whole image resized, and nearly the same pixels."""
    y, x = np.mgrid[0:667, 0:1001]
    ramp = np.stack([x / 1000, y / 666, (x + y) / 1666], axis=-1)
    path = tmp_path / "ramp.png"
    Image.fromarray((ramp * 255).round().astype(np.uint8)).save(path)
    reduced = load_image(path, max_side=100)
    whole = images.resize(load_image(path), 100)
    assert reduced.shape == whole.shape == (1, 3, 67, 100)
    assert (reduced - whole).abs().max() < 0.02
    picture = Image.open(path)  # an opened PIL image takes the same path
    assert torch.allclose(load_image(picture, max_side=100), reduced)


@pytest.mark.parametrize("mode", ["P", "LA", "CMYK"])
def test_other_modes_shrink_by_their_colours(mode):
    picture = Image.new("RGB", (400, 200), (255, 0, 0)).convert(mode)
    image = load_image(picture, max_side=50)
    assert image.shape == (1, 3, 25, 50)
    expected = load_image(picture.resize((50, 25)))
    assert (image - expected).abs().max() < 0.02


def test_heic_photos_load_with_the_pillow_heif_plugin(tmp_path):
    pytest.importorskip("pillow_heif", reason="the HEIC plugin is not installed here")
    path = _phone_photo(tmp_path / "iphone.heic", width=800, height=600, format="HEIF")
    _upright(load_image(path, max_side=200), 200, 150)


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow reads no AVIF")
def test_avif_pictures_load_with_pillow(tmp_path):
    path = _phone_photo(tmp_path / "photo.avif", width=160, height=120, format="AVIF")
    _upright(load_image(path), 160, 120)


@pytest.mark.parametrize(
    "brand, message",
    [
        (b"heic", "HEIC/HEIF photo .*pip install pillow-heif"),
        (b"avif", "AVIF image, which this Pillow .*pip install --upgrade pillow"),
    ],
)
def test_a_format_without_its_plugin_names_the_format_and_the_fix(
    tmp_path, monkeypatch, brand, message
):
    path = tmp_path / "photo.bin"
    path.write_bytes(b"\x00\x00\x00\x18ftyp" + brand + b"\x00\x00\x00\x00mif1" + brand + bytes(64))

    def no_plugin(*args, **kwargs):  # what Pillow does when no plugin knows the file
        raise UnidentifiedImageError("cannot identify image file")

    monkeypatch.setattr(Image, "open", no_plugin)
    with pytest.raises(ImageError, match=message):
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


# --- values and messages pinned one by one -------------------------------------------------


def test_downloads_give_up_after_thirty_seconds(monkeypatch):
    asked = {}

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *args):
            return False

        def read(self):
            return b"bytes"

    def urlopen(url, timeout=None):
        asked["url"], asked["timeout"] = url, timeout
        return Response()

    monkeypatch.setattr(images.urllib.request, "urlopen", urlopen)
    assert images._read_url("https://example.org/a.png") == b"bytes"
    assert asked == {"url": "https://example.org/a.png", "timeout": 30}


def test_a_failed_download_says_what_to_do(tmp_path):
    url = (tmp_path / "absent.png").as_uri()
    with pytest.raises(ImageError, match=r"download or\nthe file yourself|download the file"):
        load_image(url)
    with pytest.raises(ImageError) as caught:
        load_image(url)
    assert str(caught.value).endswith(
        "Check the address and the network, or download the file yourself and pass its path."
    )


def _iso_media(brand: bytes, compatible: list[bytes], size: int | None = None) -> bytes:
    """The start of an ISO media file: a box size, ``ftyp``, the major brand, a version, then
    the compatible brands."""
    body = b"ftyp" + brand + b"\0\0\0\0" + b"".join(compatible)
    size = 4 + len(body) if size is None else size
    return size.to_bytes(4, "big") + body + b"\0" * 64


AVIF_MESSAGE = (
    "x is an AVIF image, which this Pillow ({}) cannot read: Pillow's own wheels read AVIF from "
    "version 11.3 on. Run `pip install --upgrade pillow` and restart the kernel, or export the "
    "picture as JPEG or PNG."
)
HEIF_MESSAGE = (
    "x is a HEIC/HEIF photo (the format of iPhones), which Pillow reads only with the "
    "pillow-heif plugin: run `pip install pillow-heif` and load it again, or export the "
    "picture as JPEG or PNG."
)
OTHER_MESSAGE = "x is not an image file that Pillow can read (PNG, JPEG, ...)."


def test_unreadable_files_are_named_by_their_brands():
    import PIL

    avif = AVIF_MESSAGE.format(PIL.__version__)
    assert images._unreadable(_iso_media(b"avif", []), "x") == avif
    assert images._unreadable(_iso_media(b"heic", []), "x") == HEIF_MESSAGE
    # the major brand is the only one: no compatible brand is read
    assert images._unreadable(_iso_media(b"isom", []), "x") == OTHER_MESSAGE
    # compatible brands, each of four bytes, from byte 16 to the end of the box
    assert images._unreadable(_iso_media(b"isom", [b"mif1"]), "x") == HEIF_MESSAGE
    assert images._unreadable(_iso_media(b"isom", [b"iso8", b"avis"]), "x") == avif
    many = [b"iso%d" % i for i in range(8)] + [b"heix"]  # the ninth: bytes 48 to 52
    assert images._unreadable(_iso_media(b"isom", many), "x") == HEIF_MESSAGE
    # brands past the box's size, or past byte 64, are not brands
    short = _iso_media(b"isom", [b"iso8", b"heic"], size=20)
    assert images._unreadable(short, "x") == OTHER_MESSAGE
    far = [b"iso%d" % i for i in range(12)] + [b"heic"]  # bytes 64 to 68
    assert images._unreadable(_iso_media(b"isom", far), "x") == OTHER_MESSAGE
    # an AVIF file is not taken for HEIF, nor a PNG for either
    assert images._unreadable(_iso_media(b"avif", [b"mif1"]), "x") == avif
    assert images._unreadable(b"\x89PNG" + b"\0" * 60, "x") == OTHER_MESSAGE


def test_the_smallest_size_and_the_largest_picture():
    images._check_max_side(8)
    for bad in (7, 8.0, None):
        with pytest.raises(
            ImageError, match=f"^max_side must be an integer of at least 8; got {bad!r}.$"
        ):
            images._check_max_side(bad)
    images._check_size(8, 8)
    images._check_size(8000, 5000)  # 40 megapixels exactly
    images._check_size(8001, 5000, whole=False)
    with pytest.raises(ImageError, match="^The image is 8001×5000 pixels, over the 40,000,000 "):
        images._check_size(8001, 5000)
    with pytest.raises(
        ImageError, match="^y is 7×9 pixels; images need at least 8 pixels a side.$"
    ):
        images._check_size(7, 9, "y")


def test_sizes_fit_the_longest_side_rounded_or_rounded_up():
    assert images._fit((100, 33), 40) == (40, 13)  # 13.2 rounded
    assert images._fit((33, 100), 40, round_up=True) == (14, 40)  # rounded up
    assert images._fit((100, 10), 40) == (40, 8)  # never below 8 pixels


def test_shrinking_reduces_by_whole_factors_and_leaves_deep_images_alone():
    photo = _photo(100, 60)
    assert images._shrink(photo, 50).size == (50, 30)  # factor 2
    assert images._shrink(photo, 51).size == (100, 60)  # factor 1: kept
    for mode in ("I", "F", "I;16"):
        assert images._shrink(photo.convert("L").convert(mode), 20).size == (100, 60)
    palette = photo.convert("P")
    assert images._shrink(palette, 25).mode == "RGB"
    transparent = photo.convert("P")
    transparent.info["transparency"] = 0
    assert images._shrink(transparent, 25).mode == "RGBA"


def test_alpha_is_an_rgba_or_la_mode_or_a_transparent_palette():
    photo = _photo()
    assert images._has_alpha(photo.convert("RGBA")) and images._has_alpha(photo.convert("LA"))
    assert not images._has_alpha(photo) and not images._has_alpha(photo.convert("L"))
    palette = photo.convert("P")
    assert not images._has_alpha(palette)
    palette.info["transparency"] = 0
    assert images._has_alpha(palette)
    grey = photo.convert("L")
    grey.info["transparency"] = 0
    assert not images._has_alpha(grey)  # only a palette's transparency counts


def test_a_small_picture_loaded_with_max_side_is_still_refused():
    with pytest.raises(ImageError, match="4×20 pixels"):
        load_image(Image.new("RGB", (4, 20)), max_side=8)


@pytest.mark.parametrize("mode, order", [("I;16", "<u2"), ("I;16B", ">u2"), ("I;16L", "<u2")])
def test_16_bit_greys_are_divided_by_65535(mode, order):
    array = np.tile(np.array([0, 255, 65535, 32768], dtype=np.uint16), (8, 2))
    picture = Image.frombytes(mode, (8, 8), array.astype(order).tobytes())
    assert picture.mode == mode
    tensor = images._to_tensor(picture)
    expected = torch.tensor([0, 255, 65535, 32768], dtype=torch.float64) / 65535
    torch.testing.assert_close(tensor[0, :, 0, :4], expected.float().expand(3, 4))


def test_32_bit_greys_are_read_as_8_or_16_bit_by_their_largest_value():
    low = Image.fromarray(np.tile(np.array([0, 255, 128, 1], dtype=np.int32), (8, 2)), mode="I")
    torch.testing.assert_close(
        images._to_tensor(low)[0, 0, 0, :4], torch.tensor([0, 255, 128, 1]) / 255.0
    )
    high = Image.fromarray(
        np.tile(np.array([0, 256, 65535, 70000], dtype=np.int32), (8, 2)), mode="I"
    )
    torch.testing.assert_close(
        images._to_tensor(high)[0, 0, 0, :4], torch.tensor([0, 256 / 65535, 1.0, 1.0])
    )
    negative = Image.fromarray(np.tile(np.array([-5, 100], dtype=np.int32), (8, 4)), mode="I")
    torch.testing.assert_close(
        images._to_tensor(negative)[0, 0, 0, :2], torch.tensor([0, 100 / 255])
    )
    assert images._to_tensor(high).dtype == torch.float32


def test_float_pictures_are_read_as_they_are():
    picture = Image.fromarray(np.tile(np.array([0.25, 0.5], dtype=np.float32), (8, 4)), mode="F")
    out = images._to_tensor(picture)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[0, :, 0, :2], torch.tensor([[0.25, 0.5]] * 3))


def test_transparent_pixels_are_composited_on_pure_white():
    pixel = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    torch.testing.assert_close(images._to_tensor(pixel), torch.ones(1, 3, 8, 8))
    half = Image.new("RGBA", (8, 8), (0, 0, 0, 128))  # half black over white
    torch.testing.assert_close(images._to_tensor(half), torch.full((1, 3, 8, 8), 127 / 255))


def test_grey_arrays_of_one_channel_become_three():
    single = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)
    out = load_image(single)
    assert out.shape == (1, 3, 8, 8)
    torch.testing.assert_close(
        out[0], torch.from_numpy(single[..., 0] / 255).float().expand(3, 8, 8)
    )
    two = np.zeros((8, 8, 2), np.uint8)
    with pytest.raises(
        ImageError, match=r"^An array image must be H×W, H×W×3 or H×W×4; got shape \(8, 8, 2\).$"
    ):
        load_image(two)
    flat = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert load_image(flat).shape == (1, 3, 8, 8)


def test_resize_to_is_torchs_antialiased_bilinear_resize():
    image = torch.rand(2, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    assert images.resize_to(image, (12, 16)) is image
    for size in ((5, 7), (30, 20)):
        expected = torch.nn.functional.interpolate(
            image, size=size, mode="bilinear", align_corners=False, antialias=True
        )
        torch.testing.assert_close(images.resize_to(image, size), expected.clamp(0, 1))
    assert images.resize_to(image, (12.0, 16.0)) is image  # sides as whole numbers
    # a batch of 12 images of 3 × 16: the size is the last two sides
    assert images.resize_to(torch.rand(1, 12, 3, 16), (3, 16)).shape == (1, 12, 3, 16)
    wide = images.resize(torch.rand(1, 3, 20, 12), 16)
    assert wide.shape == (1, 3, 16, 10)


def test_check_batch_messages_in_full():
    with pytest.raises(
        TypeError, match=r"^images must be a torch tensor \(B, C, H, W\); got list.$"
    ):
        images.check_batch([1, 2])
    with pytest.raises(
        ValueError, match=r"^images must be a batch of shape \(B, C, H, W\); got \(3, 4\).$"
    ):
        images.check_batch(torch.rand(3, 4))
    images.check_batch(torch.full((1, 1, 1, 2), 5.0))  # not pixels unless asked
    edge = torch.tensor([-1e-6, 1 + 1e-6], dtype=torch.float64).view(1, 1, 1, 2)
    images.check_batch(edge, pixels=True)  # a millionth out is rounding
    for bad in ([-2e-6, 0.5], [0.0, 1 + 2e-6], [0.0, 1.5]):
        x = torch.tensor(bad, dtype=torch.float64).view(1, 1, 1, 2)
        with pytest.raises(
            ValueError,
            match=r"Pass unnormalised images: the networks normalise their input themselves.$",
        ):
            images.check_batch(x, pixels=True)
    images.check_batch(torch.tensor([0.0, 1e-7]).view(1, 1, 1, 2), pixels=True)


def test_radial_frequencies_are_numpys_and_follow_the_device():
    fy, fx = np.fft.fftfreq(5)[:, None], np.fft.fftfreq(6)[None, :]
    expected = torch.from_numpy(np.sqrt(fy**2 + fx**2)).float()
    torch.testing.assert_close(images.radial_frequency(5, 6), expected)
    torch.testing.assert_close(images.radial_frequency(5, 6, half=True), expected[:, :4].abs())
    assert images.radial_frequency(5, 6, device="meta").device.type == "meta"
    assert images.radial_frequency(5, 6, True, device="meta").device.type == "meta"


def test_to_pil_rounds_clamps_and_reads_single_images():
    image = torch.tensor([0.5, 1 / 255 * 0.4, -0.5, 1.5]).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    picture = images.to_pil(image[0])  # one (3, H, W) image
    assert isinstance(picture, Image.Image) and picture.size == (2, 2)
    assert np.asarray(picture)[..., 0].tolist() == [[128, 0], [0, 255]]


def test_save_image_refuses_a_batch_and_makes_the_folders(tmp_path):
    with pytest.raises(
        ImageError, match="^save_image saves one image; pass a single image, not a batch.$"
    ):
        images.save_image(torch.rand(2, 3, 8, 8), tmp_path / "b.png")
    path = images.save_image(torch.rand(1, 3, 8, 8), tmp_path / "a" / "b" / "c.png")
    assert path.exists()
    again = images.save_image(torch.zeros(1, 3, 8, 8), path, overwrite=True)
    assert np.asarray(Image.open(again)).max() == 0


def test_a_picture_over_the_limit_is_refused_unless_loaded_with_max_side(monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="over the 1,000 allowed at full size"):
        load_image(_photo(40, 40))
    assert load_image(_photo(40, 40), max_side=10).shape == (1, 3, 10, 10)


def test_a_long_thin_picture_shrinks_to_no_less_than_eight_pixels_a_side():
    # 100 × 30 to a longest side of 10: 10 × 8 (the shorter side kept at 8), not refused as
    # 10 × 3 after shrinking by 10
    assert load_image(_photo(100, 30), max_side=10).shape == (1, 3, 8, 10)
    assert images._shrink(_photo(100, 30), 10).size == (34, 10)  # by 3: 10 rows stay
    assert images._shrink(_photo(100, 60), 10).size == (15, 9)  # by 7: 9 rows stay


def test_resized_images_are_clamped_to_pixels():
    bright = torch.full((1, 3, 8, 8), 1.5)
    torch.testing.assert_close(images.resize_to(bright, (4, 4)), torch.ones(1, 3, 4, 4))
    torch.testing.assert_close(images.resize_to(-bright, (4, 4)), torch.zeros(1, 3, 4, 4))


def test_files_are_named_in_their_errors(tmp_path, monkeypatch):
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 9)).save(tiny)
    with pytest.raises(ImageError, match=f"^{tiny} is 4×9 pixels; images need at least 8"):
        load_image(tiny)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not a picture at all, just text" * 4)
    with pytest.raises(ImageError, match=f"^{junk} is not an image file that Pillow can read"):
        load_image(junk)
    big = tmp_path / "big.png"
    _photo(40, 40).save(big)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    with pytest.raises(
        ImageError,
        match=f"^{big} is 40×40 pixels, over the 1,000 allowed at full size: load it with "
        r"max_side \(the book works at a few hundred pixels\), or shrink it first.$",
    ):
        load_image(big)
    assert load_image(big, max_side=10).shape == (1, 3, 10, 10)


def test_web_addresses_are_downloaded(monkeypatch, tmp_path):
    path = tmp_path / "p.png"
    _photo().save(path)
    asked = []

    def read_url(url):
        asked.append(url)
        return path.read_bytes()

    monkeypatch.setattr(images, "_read_url", read_url)
    for url in ("http://example.org/p.png", "https://example.org/p.png"):
        assert load_image(url).shape == (1, 3, 30, 40)
    assert asked == ["http://example.org/p.png", "https://example.org/p.png"]


def test_the_heif_plugin_is_registered_once(monkeypatch):
    import sys
    import types

    calls = []
    plugin = types.ModuleType("pillow_heif")
    plugin.register_heif_opener = lambda: calls.append(1)
    monkeypatch.setitem(sys.modules, "pillow_heif", plugin)
    monkeypatch.setattr(images, "_plugins_registered", False)
    images._register_plugins()
    images._register_plugins()
    assert calls == [1] and images._plugins_registered is True


def test_tensor_images_are_checked_side_by_side_and_to_a_millionth():
    with pytest.raises(ImageError, match="^The image is 5×20 pixels"):
        load_image(torch.rand(1, 3, 20, 5))
    edge = torch.tensor([-1e-6, 1 + 1e-6], dtype=torch.float64).repeat(1, 3, 8, 4)
    out = load_image(edge)
    assert out.dtype == torch.float32 and out.is_contiguous()
    for bad in (-2e-6, 1 + 2e-6):
        with pytest.raises(ImageError, match=r"^An image tensor must lie in \[0, 1\]; got"):
            load_image(torch.full((1, 3, 8, 8), bad, dtype=torch.float64))
    with pytest.raises(ImageError, match="^The image tensor holds NaN or infinite values.$"):
        load_image(torch.full((1, 3, 8, 8), float("inf")))
    with pytest.raises(
        ImageError,
        match="^Cannot load an image from a list; pass a path, a URL, a PIL image, a NumPy "
        "array or a tensor.$",
    ):
        load_image([1, 2])
