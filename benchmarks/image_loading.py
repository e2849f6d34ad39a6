"""Loading a phone's photo: time and peak memory of ``lib.images.load_image`` on a large JPEG.

The script makes a photo-like JPEG of the size a 48-megapixel phone writes (8000×6000, EXIF
orientation 6, as phones store portraits), then loads it in a fresh Python process per run, the
way the "your own image" cell does (``max_side``), and prints the wall and CPU time of the load,
the process's resident memory before it and its peak during it (Linux: the peak is reset
through ``/proc/self/clear_refs`` just before the load, then read as ``VmHWM``). ``--whole``
also loads it the old way, decoded whole into a float tensor and then resized (the file is over
the size ``load_image`` accepts whole, so the limit is lifted for that run).

    python benchmarks/image_loading.py                       # 8000×6000, max_side 512, 3 runs
    python benchmarks/image_loading.py --width 4032 --height 3024 --whole

Timings are never asserted in the tests: read the figures on the machine you care about.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import torch
from lib import images
from PIL import Image


def memory(field):  # kB, from the kernel's account of this process
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


Image.open({path!r}).close()  # Pillow's plugins loaded, as in a running notebook
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the present resident size
before = memory("VmRSS")
start, cpu = time.perf_counter(), time.process_time()
if {whole!r}:
    images.MAX_PIXELS = 10**9
    image = images.resize(images.load_image({path!r}), {max_side})
else:
    image = images.load_image({path!r}, max_side={max_side})
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = memory("VmHWM")
print(json.dumps(dict(seconds=seconds, cpu=cpu, before=before, peak=peak, shape=list(image.shape))))
"""


def make_photo(path: Path, width: int, height: int) -> None:
    """A smooth random scene with fine grain: a JPEG about as hard to decode as a photo."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(0, 256, (height // 32, width // 32, 3), dtype=np.uint8))
    scene = np.asarray(scene.resize((width, height), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-12, 13, (height, width, 1), dtype=np.int16)
    picture = Image.fromarray(np.clip(scene + grain, 0, 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(path, quality=90, exif=exif.tobytes())


def run(path: Path, max_side: int, whole: bool) -> dict:
    code = CHILD.format(root=str(ROOT), path=str(path), max_side=max_side, whole=whole)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=8000)
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--whole", action="store_true", help="also decode it whole, then resize")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "phone.jpg"
        make_photo(path, args.width, args.height)
        megabytes = path.stat().st_size / 2**20
        print(f"{args.width}×{args.height} JPEG, {megabytes:.1f} MB, max_side {args.max_side}")
        for whole in [False, True] if args.whole else [False]:
            runs = [run(path, args.max_side, whole) for _ in range(args.repeats)]
            seconds = statistics.median(r["seconds"] for r in runs)
            cpu = statistics.median(r["cpu"] for r in runs)
            before = statistics.median(r["before"] for r in runs) / 1024  # kB -> MB
            peak = statistics.median(r["peak"] for r in runs) / 1024
            label = "decoded whole, then resized" if whole else "load_image(max_side)"
            print(
                f"{label:28s} {seconds:6.3f} s wall, {cpu:6.3f} s CPU (medians of "
                f"{args.repeats}); resident {before:.0f} MB before, peak {peak:.0f} MB "
                f"(+{peak - before:.0f} MB); tensor {tuple(runs[0]['shape'])}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
