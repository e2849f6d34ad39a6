"""The reader's own picture: a path or URL, an upload in Colab, or a bundled stand-in."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

from lib import assets, own_image
from lib.images import ImageError


def _save_photo(path, width=60, height=40):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_a_path_is_loaded_and_resized(tmp_path):
    image = own_image.load(_save_photo(tmp_path / "mine.png"), max_side=30, fallback="coffee")
    assert image.shape == (1, 3, 20, 30)


def test_a_48_megapixel_phone_photo_loads_upright_at_the_size_asked(tmp_path):
    """8000×6000 as a phone stores it: sideways, with EXIF orientation 6 (turn clockwise)."""
    stored = Image.new("RGB", (8000, 6000), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 4000, 6000))  # the stored left half: the top, once turned
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", quality=90, exif=exif)
    del stored
    image = own_image.load(tmp_path / "phone.jpg", max_side=256, fallback="coffee")
    assert image.shape == (1, 3, 256, 192)
    top, bottom = image[0, :, :120].mean(dim=(1, 2)), image[0, :, 136:].mean(dim=(1, 2))
    assert top[0] > 0.9 and top[2] < 0.1 and bottom[2] > 0.9 and bottom[0] < 0.1


def test_a_bad_path_says_what_is_wrong(tmp_path):
    with pytest.raises(ImageError, match="No file at"):
        own_image.load(tmp_path / "missing.jpg", max_side=30, fallback="coffee")


def test_empty_outside_colab_uses_the_fallback_and_says_so(capsys):
    image = own_image.load("", max_side=32, fallback="coffee")
    assert max(image.shape[-2:]) == 32
    assert image.shape == assets.load_asset("coffee", max_side=32).shape
    out = capsys.readouterr().out
    assert "'coffee'" in out and "MY_IMAGE" in out


def _fake_colab(monkeypatch, upload):
    files = types.SimpleNamespace(upload=upload)
    colab = types.ModuleType("google.colab")
    colab.files = files
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)


def test_empty_in_colab_loads_the_uploaded_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    def upload():  # Colab saves the file in the working folder and returns its bytes
        _save_photo(tmp_path / "upload.png", width=40, height=60)
        return {"upload.png": (tmp_path / "upload.png").read_bytes()}

    _fake_colab(monkeypatch, upload)
    image = own_image.load(None, max_side=30, fallback="coffee")
    assert image.shape == (1, 3, 30, 20)
    assert "coffee" not in capsys.readouterr().out


def test_cancelled_upload_in_colab_uses_the_fallback(monkeypatch, capsys):
    _fake_colab(monkeypatch, lambda: {})
    own_image.load("", max_side=32, fallback="coffee")
    assert "'coffee'" in capsys.readouterr().out
