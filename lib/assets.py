"""Named images: paintings downloaded once (URL + sha256) and photos bundled in Python wheels.

Downloads go to a cache folder, ``$CNNX_CACHE`` or ``~/.cache/cnn-explainability``. A machine
without internet can be pre-seeded from a folder of copies: ``python -m lib.assets seed FOLDER``
copies every file whose checksum matches the registry.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .images import load_image

_PINNED = (
    "https://raw.githubusercontent.com/jcjohnson/neural-style/"
    "07c4b8299f8fbdafec0c514fc820ff1d7ff62e46/examples/inputs/"
)


@dataclass(frozen=True)
class Asset:
    """One named image: where it comes from and whom to credit."""

    name: str
    title: str
    credit: str
    filename: str = ""  # remote assets only: the file in the cache
    url: str = ""
    sha256: str = ""
    bundled: str = ""  # bundled assets only: "module:function" that returns the array

    @property
    def remote(self) -> bool:
        return bool(self.url)


ASSETS: dict[str, Asset] = {
    asset.name: asset
    for asset in [
        Asset(
            "starry_night",
            "The Starry Night",
            "Vincent van Gogh, 1889 (public domain)",
            "starry_night.jpg",
            _PINNED + "starry_night.jpg",
            "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098",
        ),
        Asset(
            "the_scream",
            "The Scream",
            "Edvard Munch, 1893 (public domain)",
            "the_scream.jpg",
            _PINNED + "the_scream.jpg",
            "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee",
        ),
        Asset(
            "shipwreck",
            "The Shipwreck",
            "J. M. W. Turner, 1805 (public domain)",
            "shipwreck.jpg",
            _PINNED + "shipwreck.jpg",
            "4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213",
        ),
        Asset(
            "woman_with_hat",
            "Woman with a Hat",
            "Henri Matisse, 1905 (public domain in Italy and the EU since 2025)",
            "woman-with-hat-matisse.jpg",
            _PINNED + "woman-with-hat-matisse.jpg",
            "6a8b2383d9c110354a97a42c74bdcc5341be879cbb842ddb7ab5843dbdf56d53",
        ),
        Asset(
            "tubingen",
            "The Neckarfront in Tübingen",
            "Photo: Andreas Praefcke, CC BY 3.0, via Wikimedia Commons; "
            "the content image of Gatys et al. (2016)",
            "tubingen.jpg",
            _PINNED + "tubingen.jpg",
            "e67d1869f01fd805385c681a80d9ebcf0f70ea4a5fe6127f0606bb1c7f4bf506",
        ),
        Asset("astronaut", "Astronaut", "NASA, via scikit-image", bundled="skimage.data:astronaut"),
        Asset(
            "coffee",
            "Coffee cup",
            "Rachel Michetti, via scikit-image",
            bundled="skimage.data:coffee",
        ),
        Asset(
            "chelsea",
            "Chelsea the cat",
            "Stéfan van der Walt, via scikit-image",
            bundled="skimage.data:chelsea",
        ),
        Asset("rocket", "Rocket launch", "SpaceX, via scikit-image", bundled="skimage.data:rocket"),
        Asset(
            "hubble",
            "Hubble deep field",
            "NASA, via scikit-image",
            bundled="skimage.data:hubble_deep_field",
        ),
        Asset("camera", "Cameraman", "via scikit-image", bundled="skimage.data:camera"),
        Asset("brick", "Brick wall (texture)", "via scikit-image", bundled="skimage.data:brick"),
        Asset("grass", "Grass (texture)", "via scikit-image", bundled="skimage.data:grass"),
        Asset("gravel", "Gravel (texture)", "via scikit-image", bundled="skimage.data:gravel"),
        Asset(
            "china",
            "Summer Palace, Beijing",
            "via scikit-learn",
            bundled="lib.assets:_sklearn_china",
        ),
        Asset("flower", "Flower", "via scikit-learn", bundled="lib.assets:_sklearn_flower"),
    ]
}


class AssetError(RuntimeError):
    """An asset that cannot be had, with a message saying what to do."""


def cache_dir() -> Path:
    """The download cache: ``$CNNX_CACHE`` or ``~/.cache/cnn-explainability``."""
    configured = os.environ.get("CNNX_CACHE", "").strip()
    return (
        Path(configured).expanduser()
        if configured
        else Path.home() / ".cache" / "cnn-explainability"
    )


def get_asset(name: str) -> Asset:
    try:
        return ASSETS[name]
    except KeyError:
        raise AssetError(
            f"No asset named {name!r}; known assets: {', '.join(sorted(ASSETS))}."
        ) from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, progress: bool = True) -> Path:
    """The path of a remote asset in the cache, downloading (and checking) it the first time."""
    asset = get_asset(name)
    if not asset.remote:
        raise AssetError(f"{name!r} ships inside a Python package; use load_asset({name!r}).")
    target = cache_dir() / asset.filename
    if target.exists():
        if sha256_of(target) == asset.sha256:
            return target
        # a damaged cache entry is kept aside for inspection, never silently trusted
        corrupt = target.with_name(target.name + ".corrupt")
        target.replace(corrupt)
        print(f"The cached {target.name} did not match its checksum; moved it to {corrupt.name}.")
    _download(asset, target, progress)
    return target


def _download(asset: Asset, target: Path, progress: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{asset.filename}.")
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                response = urllib.request.urlopen(asset.url, timeout=60)
            except OSError as err:
                raise AssetError(
                    f"Could not download {asset.filename} from {asset.url} ({err}). "
                    f"Without internet, copy the file into {target.parent} or run "
                    "`python -m lib.assets seed FOLDER` on a folder that holds it."
                ) from err
            with response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total,
                    unit="B",
                    unit_scale=True,
                    desc=asset.filename,
                    disable=not progress,
                ) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
        got = sha256_of(Path(partial))
        if got != asset.sha256:
            raise AssetError(
                f"{asset.filename} from {asset.url} has sha256 {got}, expected {asset.sha256}: "
                "the download is damaged or the file changed. Nothing was saved; try again."
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def seed_cache(folder: str | os.PathLike) -> list[str]:
    """Copy into the cache every registry file found in ``folder`` with the right checksum."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssetError(f"{folder} is not a folder; pass the folder that holds the images.")
    seeded = []
    for asset in ASSETS.values():
        source = folder / asset.filename
        if not asset.remote or not source.is_file():
            continue
        if sha256_of(source) != asset.sha256:
            print(f"Skipped {source}: its checksum differs from the registry's.")
            continue
        target = cache_dir() / asset.filename
        if not (target.exists() and sha256_of(target) == asset.sha256):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        seeded.append(asset.name)
    return seeded


def _sklearn_china() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("china.jpg")


def _sklearn_flower() -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image("flower.jpg")


def load_asset(name: str, max_side: int | None = None) -> torch.Tensor:
    """A named image as a ``(1, 3, H, W)`` tensor in [0, 1], resized to ``max_side``."""
    asset = get_asset(name)
    if asset.remote:
        return load_image(fetch(name), max_side=max_side)
    module_name, function = asset.bundled.split(":")
    module = __import__(module_name, fromlist=[function])
    return load_image(np.asarray(getattr(module, function)()), max_side=max_side)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.assets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="copy matching files from a folder into the cache")
    seed.add_argument("folder")
    get = commands.add_parser("fetch", help="download remote assets (all when none is named)")
    get.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            names = seed_cache(args.folder)
            print(f"Seeded {len(names)} asset(s) into {cache_dir()}: {', '.join(names) or 'none'}")
        else:
            for name in args.names or [a.name for a in ASSETS.values() if a.remote]:
                print(fetch(name))
    except AssetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
