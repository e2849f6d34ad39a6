import hashlib
import re
import shutil
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from lib import assets
from lib.assets import Asset, AssetError


@pytest.fixture
def painting(tmp_path, monkeypatch):
    """A registry entry whose URL is a local file: the download path without a network."""
    source = tmp_path / "served" / "painting.png"
    source.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(
        source
    )
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    entry = Asset("painting", "A painting", "nobody", "painting.png", source.as_uri(), digest)
    monkeypatch.setitem(assets.ASSETS, "painting", entry)
    return source


def test_cache_folder_follows_the_environment(tmp_path):
    assert assets.cache_dir() == tmp_path / "asset-cache"


def test_download_checks_and_caches(painting):
    path = assets.fetch("painting", progress=False)
    assert path == assets.cache_dir() / "painting.png"
    assert path.read_bytes() == painting.read_bytes()
    painting.unlink()  # the second call must not need the source any more
    assert assets.fetch("painting", progress=False) == path
    assert assets.load_asset("painting").shape == (1, 3, 24, 32)


def test_wrong_checksum_saves_nothing(painting, monkeypatch):
    entry = assets.ASSETS["painting"]
    monkeypatch.setitem(assets.ASSETS, "painting", Asset(**{**entry.__dict__, "sha256": "0" * 64}))
    with pytest.raises(AssetError, match="expected 0000.*Nothing was saved"):
        assets.fetch("painting", progress=False)
    assert not any(assets.cache_dir().iterdir())


def test_corrupted_cache_entry_is_detected_and_replaced(painting, capsys):
    path = assets.fetch("painting", progress=False)
    path.write_bytes(b"garbage")
    assert assets.fetch("painting", progress=False).read_bytes() == painting.read_bytes()
    assert "did not match its checksum" in capsys.readouterr().out
    assert (path.parent / "painting.png.corrupt").read_bytes() == b"garbage"


def test_offline_and_absent_says_what_to_do(painting):
    painting.unlink()
    with pytest.raises(AssetError, match="Could not download painting.png.*lib.assets seed"):
        assets.fetch("painting", progress=False)


def test_seed_from_a_folder(painting, tmp_path):
    decoy = tmp_path / "decoys"
    decoy.mkdir()
    (decoy / "painting.png").write_bytes(b"not the painting")
    assert assets.seed_cache(decoy) == []
    assert assets.seed_cache(painting.parent) == ["painting"]
    assert (assets.cache_dir() / "painting.png").read_bytes() == painting.read_bytes()
    with pytest.raises(AssetError, match="is not a folder"):
        assets.seed_cache(tmp_path / "nowhere")


def test_command_line_seed_and_error(painting, capsys):
    assert assets.main(["seed", str(painting.parent)]) == 0
    assert "Seeded 1 asset(s)" in capsys.readouterr().out
    assert assets.main(["seed", "/nonexistent-folder"]) == 1
    assert "error: /nonexistent-folder is not a folder" in capsys.readouterr().err


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        AssetError, match="No asset named 'mona_lisa'; known assets: .*starry_night"
    ):
        assets.load_asset("mona_lisa")


@pytest.mark.parametrize("name", ["chelsea", "china", "brick"])
def test_bundled_images_need_no_download(name):
    image = assets.load_asset(name, max_side=64)
    assert image.shape[:2] == (1, 3) and max(image.shape[-2:]) == 64
    assert not assets.cache_dir().exists()


def test_every_painting_is_pinned_with_a_checksum():
    remote = [a for a in assets.ASSETS.values() if a.remote]
    assert {a.name for a in remote} >= {"starry_night", "the_scream", "shipwreck", "tubingen"}
    for asset in remote:
        assert asset.url.startswith("https://") and len(asset.sha256) == 64 and asset.credit


# --------------------------------------------------------------------------------------------
# Values pinned: the default cache folder, the checksum, the progress bar, the command line


def test_the_default_cache_folder_is_in_the_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("CNNX_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert assets.cache_dir() == tmp_path / "home" / ".cache" / "cnn-explainability"
    monkeypatch.setenv("CNNX_CACHE", "  ")  # blank: the default
    assert assets.cache_dir() == tmp_path / "home" / ".cache" / "cnn-explainability"
    monkeypatch.setenv("CNNX_CACHE", "~/elsewhere ")
    assert assets.cache_dir() == tmp_path / "home" / "elsewhere"


def test_sha256_of_a_file_larger_than_one_block(tmp_path):
    path = tmp_path / "big.bin"
    data = np.random.default_rng(1).integers(0, 256, 3 * (1 << 20) + 5, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    assert assets.sha256_of(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert assets.sha256_of(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_the_download_shows_its_size_in_bytes(painting, monkeypatch):
    bars = []

    class Bar:
        def __init__(self, **kwargs):
            self.kwargs, self.count = kwargs, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.count += n

    opened = []
    real_open = urllib.request.urlopen

    def urlopen(url, timeout):
        opened.append(timeout)
        response = real_open(url, timeout=timeout)
        response.headers.replace_header("Content-Length", "1234")
        return response

    monkeypatch.setattr(assets, "tqdm", Bar)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    assets.fetch("painting")
    (bar,) = bars
    assert bar.kwargs == {
        "total": 1234,
        "unit": "B",
        "unit_scale": True,
        "desc": "painting.png",
        "disable": False,
    }
    assert bar.count == painting.stat().st_size and opened == [60]
    (assets.cache_dir() / "painting.png").unlink()
    assets.fetch("painting", progress=False)
    assert bars[1].kwargs["disable"] is True


def test_a_download_without_a_length_has_no_total(painting, monkeypatch):
    seen = []
    real_tqdm, real_open = assets.tqdm, urllib.request.urlopen

    def urlopen(url, timeout):
        response = real_open(url, timeout=timeout)
        del response.headers["Content-Length"]
        return response

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(assets, "tqdm", lambda **kw: seen.append(kw["total"]) or real_tqdm(**kw))
    assets.fetch("painting", progress=False)
    assert seen == [None]
    assert assets.sha256_of(assets.cache_dir() / "painting.png") == assets.ASSETS["painting"].sha256
    assert not list(assets.cache_dir().glob(".painting.png.*"))  # no partial file left


def test_messages_of_the_download_errors(painting):
    entry = assets.ASSETS["painting"]
    message = (
        f"painting.png from {entry.url} has sha256 "
        f"{entry.sha256}, expected {'0' * 64}: the download is damaged or the file changed. "
        "Nothing was saved; try again."
    )
    assets.ASSETS["painting"] = Asset(**{**entry.__dict__, "sha256": "0" * 64})
    with pytest.raises(AssetError, match=f"^{re.escape(message)}$"):
        assets.fetch("painting", progress=False)
    assets.ASSETS["painting"] = entry
    message = "'chelsea' ships inside a Python package; use load_asset('chelsea')."
    with pytest.raises(AssetError, match=f"^{re.escape(message)}$"):
        assets.fetch("chelsea")
    painting.unlink()
    with pytest.raises(AssetError, match=r"^Could not download painting\.png from file:"):
        assets.fetch("painting", progress=False)


def test_seeding_copies_once_and_names_what_it_skipped(painting, tmp_path, monkeypatch, capsys):
    decoy = tmp_path / "decoys"
    decoy.mkdir()
    (decoy / "painting.png").write_bytes(b"not the painting")
    assert assets.seed_cache(decoy) == []
    assert (
        capsys.readouterr().out
        == f"Skipped {decoy / 'painting.png'}: its checksum differs from the registry's.\n"
    )
    copies = []
    real_copy = shutil.copyfile
    monkeypatch.setattr(shutil, "copyfile", lambda a, b: copies.append(b) or real_copy(a, b))
    assert assets.seed_cache(painting.parent) == ["painting"]
    assert assets.seed_cache(painting.parent) == ["painting"]  # already there: not copied again
    assert copies == [assets.cache_dir() / "painting.png"]
    (assets.cache_dir() / "painting.png").write_bytes(b"damaged")
    assert assets.seed_cache(painting.parent) == ["painting"]  # a damaged copy is replaced
    assert len(copies) == 2 and assets.fetch("painting", progress=False).read_bytes() == (
        painting.read_bytes()
    )
    message = f"{tmp_path / 'nowhere'} is not a folder; pass the folder that holds the images."
    with pytest.raises(AssetError, match=f"^{re.escape(message)}$"):
        assets.seed_cache(tmp_path / "nowhere")


def test_bundled_images_are_the_packages_own_pixels():
    from skimage import data
    from sklearn.datasets import load_sample_image

    chelsea = assets.load_asset("chelsea")
    pixels = torch.from_numpy(np.array(data.chelsea()))
    assert torch.equal(chelsea, pixels.permute(2, 0, 1)[None] / 255)
    flower = assets.load_asset("flower")
    expected = torch.from_numpy(np.array(load_sample_image("flower.jpg")))
    expected = expected.permute(2, 0, 1)[None] / 255
    assert torch.equal(flower, expected)
    assert assets.load_asset("camera", max_side=32).shape == (1, 3, 32, 32)  # grey made RGB
    assert assets.get_asset("chelsea").title == "Chelsea the cat"
    with pytest.raises(AssetError, match=r"^No asset named 'x'; known assets: astronaut, brick"):
        assets.get_asset("x")


def test_command_line_fetch(painting, capsys, monkeypatch):
    assert assets.main(["fetch", "painting"]) == 0
    assert capsys.readouterr().out == f"{assets.cache_dir() / 'painting.png'}\n"
    fetched = []
    monkeypatch.setattr(assets, "fetch", lambda name: fetched.append(name) or name)
    assert assets.main(["fetch"]) == 0  # every remote asset when none is named
    assert fetched == [a.name for a in assets.ASSETS.values() if a.remote]
    assert assets.main(["seed", str(painting.parent)]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert out == f"Seeded 1 asset(s) into {assets.cache_dir()}: painting"
    assert assets.main(["seed", str(painting.parent / "empty")]) == 1
    (painting.parent / "none").mkdir()
    assert assets.main(["seed", str(painting.parent / "none")]) == 0
    assert capsys.readouterr().out.endswith(f"into {assets.cache_dir()}: none\n")
    with pytest.raises(SystemExit):
        assets.main([])  # a command is required


def test_downloads_and_seeds_make_the_cache_folder_and_write_beside_it(
    painting, monkeypatch, tmp_path
):
    deep = tmp_path / "deep" / "er" / "cache"
    monkeypatch.setenv("CNNX_CACHE", str(deep))
    partials = []
    real_sha = assets.sha256_of

    def checking(path):
        partials.append(path)
        return real_sha(path)

    monkeypatch.setattr(assets, "sha256_of", checking)
    assert assets.fetch("painting", progress=False) == deep / "painting.png"
    (partial,) = partials  # the downloaded file is checked before it takes its name
    assert partial.parent == deep and partial.name.startswith(".painting.png.")
    monkeypatch.setenv("CNNX_CACHE", str(tmp_path / "other" / "cache"))
    # a file of the registry that fails its checksum does not stop the others
    (painting.parent / "starry_night.jpg").write_bytes(b"not the painting")
    assert assets.seed_cache(painting.parent) == ["painting"]
    assert (tmp_path / "other" / "cache" / "painting.png").exists()
    assert assets.load_asset("painting", max_side=16).shape == (1, 3, 12, 16)


def test_offline_message_says_how_to_seed(painting):
    painting.unlink()
    with pytest.raises(AssetError) as error:
        assets.fetch("painting", progress=False)
    assert str(error.value).endswith(
        f"Without internet, copy the file into {assets.cache_dir()} or run "
        "`python -m lib.assets seed FOLDER` on a folder that holds it."
    )


def test_command_line_help(capsys):
    with pytest.raises(SystemExit):
        assets.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m lib.assets [-h] {seed,fetch} ...")
    assert "Named images: paintings downloaded once (URL + sha256)" in out
    assert "copy matching files from a folder into the cache" in out
    assert "download remote assets (all when none is named)" in out
    with pytest.raises(SystemExit):
        assets.main(["fetch", "--help"])
    assert "usage: python -m lib.assets fetch [-h] [names ...]" in capsys.readouterr().out


def test_command_line_names_every_asset_seeded_and_its_commands(painting, monkeypatch, capsys):
    copy = painting.parent / "copy.png"
    copy.write_bytes(painting.read_bytes())
    entry = assets.ASSETS["painting"]
    monkeypatch.setitem(
        assets.ASSETS, "copy", Asset(**{**entry.__dict__, "name": "copy", "filename": "copy.png"})
    )
    assert assets.main(["seed", str(painting.parent)]) == 0
    assert capsys.readouterr().out.endswith(": painting, copy\n")
    with pytest.raises(SystemExit):
        assets.main(["--help"])
    out = capsys.readouterr().out
    assert re.search(r"\n +seed +copy matching files from a folder into the cache\n", out)
    assert re.search(r"\n +fetch +download remote assets \(all when none is named\)\n", out)
