import hashlib

import numpy as np
import pytest
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
