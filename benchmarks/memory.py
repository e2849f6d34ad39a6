"""Peak resident memory of the book's pages, and of loading one network, as a reader's run has
them: will a chapter fit a Binder machine (about 2 GB)?

    python benchmarks/memory.py                        # every English page, quick profile
    python benchmarks/memory.py book/en/02_*.md        # some pages (any list of MyST pages)
    python benchmarks/memory.py --load vgg19 googlenet # loading each network alone
    python benchmarks/memory.py --load vgg19 --root OTHER_CHECKOUT   # another version of lib

Each page runs in a fresh Jupyter kernel, from its own folder, as the build runs it, started by a
fresh Python process; its peak is the kernel's ``ru_maxrss`` (the largest resident size the
kernel ever had, read from the process that started and reaped it). Each ``--load`` runs in a
fresh Python process that has imported torch and lib: the resident size before the load, the
peak during ``load_model`` and the peak after one forward pass of a 224×224 image (which reads
every weight), from ``/proc/self/status`` (the peak is reset just before the load).

The weights are loaded from real-size files, as a reader's run loads them after the first
download: VGG19 and GoogLeNet weights are not downloaded here, so random weights saved with
``torch.save`` under the file names torchvision expects stand in for them, in ``--torch-home``
(made once, kept between runs). ``--legacy-format`` saves them in the format of PyTorch before
1.6, which cannot be memory-mapped (files saved before 2020 have it; the default is the zip format
of today's ``torch.save``).
With random weights the claims that a page checks about a trained network do not hold: the
pages run with the claims unchecked (what a page holds in memory does not depend on them), and
any other failing cell is counted and reported, its page carrying on after it.

Runs on Linux (``/proc``). Memory is never asserted in the tests; read the figures printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAND_INS = ("vgg19", "googlenet")
# torchvision builds these as its weights files hold them (GoogLeNet's file has its auxiliary heads)
TORCHVISION_ARGUMENTS = {"googlenet": {"aux_logits": True, "init_weights": True}}

UNCHECKED_CLAIMS = """\
# benchmarks/memory.py: random stand-in weights, so the claims about a trained network are not
# checked (a false claim is recorded, and the page goes on)
from lib import claims as _claims

_expect = _claims.expect


def _unchecked(condition, claim, **options):
    try:
        return _expect(condition, claim, **options)
    except _claims.ClaimError:
        return False


_claims.expect = _unchecked
"""

PAGE = """
import json, resource, sys, time
import jupytext, nbformat
from nbclient import NotebookClient
page, timeout, unchecked = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if page == "-":  # the kernel alone, with torch and lib imported
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import torch, lib")])
else:
    notebook = jupytext.read(page)
if unchecked:
    notebook.cells.insert(0, nbformat.v4.new_code_cell(unchecked))
client = NotebookClient(
    notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
    resources={"metadata": {"path": sys.argv[4]}},
)
start = time.perf_counter()
client.execute()  # starts the kernel, and shuts it down (and reaps it) at the end
seconds = time.perf_counter() - start
errors = [
    f"{output.get('ename', '?')}: {output.get('evalue', '')[:70]}"
    for cell in notebook.cells if cell.cell_type == "code"
    for output in cell.get("outputs", []) if output.output_type == "error"
]
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel's, once reaped
cpu = usage.ru_utime + usage.ru_stime  # seconds of CPU: less sensitive than wall to other jobs
print(json.dumps(dict(seconds=seconds, cpu=cpu, peak=usage.ru_maxrss, errors=errors)))
"""

LOAD = """
import json, sys, time
import torch
from lib import models


def memory(field):  # kB, from the kernel's account of this process
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from the present resident size
before = memory("VmRSS")
start = time.perf_counter()
model = models.load_model(sys.argv[1], device="cpu")
seconds = time.perf_counter() - start
loaded = memory("VmHWM")
with torch.no_grad():
    model(torch.rand(1, 3, 224, 224))
print(json.dumps(dict(
    seconds=seconds, before=before, loaded=loaded, forward=memory("VmHWM"),
    now=memory("VmRSS"),
)))
"""


def make_stand_ins(names, legacy: bool) -> None:
    """Random weights under the file names torchvision expects, in $TORCH_HOME (made once)."""
    import torch
    import torchvision

    from lib import models

    for name in names:
        path = Path(models.weights_path(name))
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        model = torchvision.models.get_model(
            name, weights=None, **TORCHVISION_ARGUMENTS.get(name, {})
        )
        print(f"stand-in weights: {path} (random {name}, {'legacy' if legacy else 'zip'} format)")
        temporary = path.with_suffix(".partial")
        torch.save(model.state_dict(), temporary, _use_new_zipfile_serialization=not legacy)
        temporary.replace(path)


def child_environment(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CNNX_PROFILE=args.profile,
        CNNX_DEVICE="cpu",
        CNNX_OFFLINE_NETWORK="0",  # the book's own networks, from the stand-in files
        TORCH_HOME=str(args.torch_home),
        TQDM_DISABLE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(args.root), env.get("PYTHONPATH")])),
    )
    env.pop("CNNX_CLAIMS_LOG", None)
    return env


def run_child(code: str, arguments: list[str], env: dict[str, str], timeout: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def megabytes(kilobytes: float) -> str:
    return f"{kilobytes / 1024:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path, help="MyST pages (default: book/en)")
    parser.add_argument("--load", nargs="+", metavar="NETWORK", help="measure loading these")
    parser.add_argument("--profile", default="quick", choices=["quick", "full", "smoke"])
    parser.add_argument(
        "--torch-home",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cnnx-stand-in-weights",
        help="where the stand-in weights are kept (TORCH_HOME)",
    )
    parser.add_argument("--legacy-format", action="store_true", help="save the stand-ins so")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose lib to run")
    parser.add_argument("--check-claims", action="store_true", help="let false claims fail")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per page")
    args = parser.parse_args()
    args.root = args.root.resolve()
    os.environ["TORCH_HOME"] = str(args.torch_home)
    sys.path.insert(0, str(args.root))
    make_stand_ins(STAND_INS, args.legacy_format)
    env = child_environment(args)
    print(f"lib from {args.root}; profile {args.profile}; weights in {args.torch_home}")

    if args.load:
        print(
            "| network | load (s) | resident before (MB) | peak in load_model | peak after a "
            "forward pass | resident after |"
        )
        print("|---|---|---|---|---|---|")
        for name in args.load:
            r = run_child(LOAD, [name], env, args.timeout)
            print(
                f"| {name} | {r['seconds']:.2f} | {megabytes(r['before'])} | "
                f"{megabytes(r['loaded'])} (+{megabytes(r['loaded'] - r['before'])}) | "
                f"{megabytes(r['forward'])} (+{megabytes(r['forward'] - r['before'])}) | "
                f"{megabytes(r['now'])} |",
                flush=True,
            )
        return 0

    pages = args.pages or sorted((ROOT / "book" / "en").glob("[0-9][0-9]_*.md"))
    unchecked = "" if args.check_claims else UNCHECKED_CLAIMS
    print("| page | wall (s) | CPU (s) | peak resident (MB) | failing cells |")
    print("|---|---|---|---|---|")
    failed = False
    for page in [Path("-"), *pages]:
        page = page if page.name == "-" else page.resolve()
        folder = str(args.root if page.name == "-" else page.parent)
        r = run_child(PAGE, [str(page), str(args.timeout), unchecked, folder], env, args.timeout)
        name = "(a kernel with torch and lib imported)" if page.name == "-" else page.name
        counts = Counter(error.replace("|", "/") for error in r["errors"])
        errors = "; ".join(f"{e} (×{n})" if n > 1 else e for e, n in counts.items()) or "none"
        failed |= bool(r["errors"])
        print(
            f"| {name} | {r['seconds']:.0f} | {r['cpu']:.0f} | {megabytes(r['peak'])} | {errors} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
