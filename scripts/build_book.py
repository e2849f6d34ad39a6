"""Build the executed HTML book into _build/html (what `make book` and `make test` run).

    python scripts/build_book.py            # the real book: pretrained weights, downloads once
    python scripts/build_book.py --smoke    # offline smoke build: quick profile, random weights
    python scripts/build_book.py --force    # re-execute every page (release builds)

The build is strict: any cell error or Sphinx warning fails it. Executions are cached in
_build/.jupyter_cache, keyed by the code cells, so twin pages run once. The cache is also wiped
when anything else that shapes the outputs changes: the code of ``lib``, the profile, the
random-weights switch or the kind of device (a stamp file records them).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP = ROOT / "_build" / "execution-stamp.txt"
SHARED_ASSETS = ROOT.parent / "shared" / "assets"


def execution_stamp() -> str:
    from lib import device, models

    digest = hashlib.sha256()
    for path in sorted((ROOT / "lib").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return (
        f"lib={digest.hexdigest()[:16]} profile={device.get_profile()} "
        f"random_weights={models.random_weights_requested()} device={device.get_device().type}"
    )


def prepare(smoke: bool) -> None:
    """Fail early with a clear message when weights or images cannot be had."""
    from lib import assets, models

    if smoke:
        if SHARED_ASSETS.is_dir():
            seeded = assets.seed_cache(SHARED_ASSETS)
            print(f"Seeded {len(seeded)} image(s) from {SHARED_ASSETS} into {assets.cache_dir()}")
    elif not models.random_weights_requested():
        models.prefetch(("vgg19", "googlenet"))
    for name, asset in assets.ASSETS.items():
        if asset.remote:
            assets.fetch(name)


def jupyter_book_command(book: Path) -> list[str]:
    """The strict build command: every warning is an error, and all of them are reported."""
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    return [str(jupyter_book), "build", str(book), "-W", "-n", "--keep-going"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke", action="store_true", help="offline smoke build: quick profile and random weights"
    )
    parser.add_argument("--force", action="store_true", help="re-execute every page")
    args = parser.parse_args()
    if args.smoke:
        os.environ["CNNX_PROFILE"] = "quick"
        os.environ["CNNX_RANDOM_WEIGHTS"] = "1"
        # On a small shared CPU, torch's threads wait for each other whenever another process
        # takes a core, and each step gets several times slower: one thread is the steady choice.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are noise in the published pages
    sys.path.insert(0, str(ROOT))

    from lib.assets import AssetError
    from lib.models import WeightsUnavailableError

    try:
        prepare(args.smoke)
    except (WeightsUnavailableError, AssetError) as err:
        print(f"\nThe book cannot be built:\n{err}", file=sys.stderr)
        return 1

    stamp = execution_stamp()
    if args.force or not STAMP.exists() or STAMP.read_text() != stamp:
        if CACHE.exists():
            print("Re-executing every page (forced, or lib, profile, weights or device changed).")
            shutil.rmtree(CACHE)
    STAMP.parent.mkdir(exist_ok=True)
    print(stamp, flush=True)

    start = time.perf_counter()
    done = subprocess.run(jupyter_book_command(ROOT), cwd=ROOT)
    minutes = (time.perf_counter() - start) / 60
    if done.returncode != 0:
        print(
            f"\nThe build FAILED after {minutes:.1f} min (see the messages above and "
            "_build/html/reports/).",
            file=sys.stderr,
        )
        return done.returncode
    STAMP.write_text(stamp)
    print(f"\nBuilt in {minutes:.1f} min: {ROOT / '_build' / 'html' / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
