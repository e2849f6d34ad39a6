"""Every notebook runs as Colab would run it: a fresh environment, only the install cell's command.

The environment is a new virtual environment with torch and torchvision already there (as on
Colab, linked from this environment, never modified), then exactly the ``%pip install`` of the
notebooks' hidden first cell, pointed at a copy of this checkout instead of the repository URL.
The notebooks then run from a folder outside the repository, with random weights and the smoke
profile. It takes minutes, so it runs in the smoke stage of `make test` only, which sets
CNNX_COLAB_EXECUTED to a folder: the executed notebooks are saved there, and the smoke build
takes their outputs from there instead of executing the pages again.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_book  # noqa: E402
import sync_pages  # noqa: E402

from lib import assets  # noqa: E402

MACHINE_CACHE = assets.cache_dir()  # read before each test gets its own, empty, cache folder

PRESENT_ON_COLAB = ("torch", "torchvision")
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "_build", "build", "*.egg-info", "__pycache__", ".*_cache"
)
RUNNER = """
import sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

run_in, save_in = sys.argv[1:3]
for path in map(Path, sys.argv[3:]):
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        notebook, timeout=1800, record_timing=False, resources={"metadata": {"path": run_in}}
    )
    client.execute()  # without timings: the book's cache matches cells on their metadata
    print(f"{path.parent.name}/{path.name:32s} {time.perf_counter() - start:6.1f} s", flush=True)
    nbformat.write(notebook, Path(save_in) / f"{path.parent.name}_{path.name}")  # it_, en_
"""


def _closure(names) -> dict[str, metadata.Distribution]:
    """The installed distributions ``names`` need, themselves included."""
    found, todo = {}, list(names)
    while todo:
        dist = metadata.distribution(todo.pop())
        key = dist.metadata["Name"].lower()
        if key in found:
            continue
        found[key] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return found


def link_preinstalled(site: Path, names) -> None:
    """Make ``names`` importable in a new environment through links (Colab's preinstalled torch).

    The links live outside the environment, so pip never uninstalls them, only shadows them.
    """
    site.mkdir()
    for dist in _closure(names).values():
        tops = {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            if top != "bin" and not top.endswith(".pth") and not (site / top).exists():
                (site / top).symlink_to(Path(dist.locate_file(top)))


def install_command(python: Path, checkout: Path) -> list[str]:
    """The Colab cell's ``%pip install``, with the repository URL replaced by ``checkout``."""
    url, branch = sync_pages.repository()
    match = re.search(r"%pip install (.+)$", sync_pages.colab_cell_source(), re.M)
    arguments = [a.strip('"') for a in match.group(1).split(" ")]
    arguments = " ".join(arguments).replace(f"git+{url}@{branch}", checkout.as_uri()).split(" ")
    requirement = " ".join(arguments[arguments.index("--quiet") + 1 :])
    return [str(python), "-m", "pip", "install", "--quiet", requirement]


def test_install_command_is_the_cells_own():
    command = install_command(Path("python"), Path("/somewhere/checkout"))
    assert command[-1] == "cnn-explainability-book[book] @ file:///somewhere/checkout"
    url, branch = sync_pages.repository()
    assert command[-1].replace("file:///somewhere/checkout", f"git+{url}@{branch}") in (
        sync_pages.colab_cell_source()
    )


@pytest.mark.book
@pytest.mark.skipif(
    "CNNX_COLAB_EXECUTED" not in os.environ, reason="runs in the smoke stage of `make test`"
)
def test_every_notebook_runs_in_a_fresh_colab_like_environment(tmp_path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    preinstalled = tmp_path / "preinstalled"
    link_preinstalled(preinstalled, PRESENT_ON_COLAB)
    site = next((environment / "lib").glob("python3*/site-packages"))
    (site / "colab-preinstalled.pth").write_text(f"{preinstalled}\n", encoding="utf-8")

    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=COPY_IGNORE)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CNNX_", "PYTHON", "VIRTUAL_ENV", "JUPYTER", "TQDM"))
    }
    env["PATH"] = f"{environment / 'bin'}{os.pathsep}{env['PATH']}"
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter")  # only the new environment's kernel
    install = subprocess.run(
        install_command(python, checkout), env=env, capture_output=True, text=True, timeout=900
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    where = subprocess.run(
        [str(python), "-c", "import lib, myst_nb, torch; print(lib.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(environment), where.stdout

    if MACHINE_CACHE.is_dir():  # the paintings this machine already has, as the smoke build
        assets.seed_cache(MACHINE_CACHE)
    build_book.prepare(smoke=True)  # and the rest, into this test's own cache
    env.update(
        CNNX_OFFLINE_NETWORK="1",
        CNNX_CLAIMS_LOG=str(tmp_path / "claims"),
        CNNX_PROFILE="smoke",
        CNNX_CACHE=os.environ["CNNX_CACHE"],
        TORCH_HOME=os.environ["TORCH_HOME"],
        OMP_NUM_THREADS="1",
        TQDM_DISABLE="1",  # as in the book's build: these outputs become its pages
    )
    executed = Path(os.environ["CNNX_COLAB_EXECUTED"])
    executed.mkdir(parents=True, exist_ok=True)
    outside = tmp_path / "run"
    outside.mkdir()
    # Both editions' notebooks run: a reader opens either one in Colab.
    notebooks = sorted((ROOT / "book").glob("*/[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == len(build_book.chapters("it")) + len(build_book.chapters("en")) > 0
    for notebook in notebooks:
        assert nbformat.read(notebook, as_version=4).cells[0].metadata["tags"] == ["remove-cell"]
    done = subprocess.run(
        [str(python), "-c", RUNNER, str(outside), str(executed), *map(str, notebooks)],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-5000:]


def test_binder_installs_the_same_extra_as_colab():
    post_build = (ROOT / "binder" / "postBuild").read_text(encoding="utf-8")
    assert 'pip install -e ".[book]"' in post_build
    assert "[book] @" in sync_pages.colab_cell_source()
