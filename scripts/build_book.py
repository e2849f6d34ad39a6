"""Build the executed HTML book, one edition per language, into _build/html.

    python scripts/build_book.py            # the real book: pretrained weights, downloads once
    python scripts/build_book.py --smoke    # offline smoke build: smoke profile, offline network
    python scripts/build_book.py --force    # re-execute every page (release builds)
    python scripts/build_book.py --smoke --executed FOLDER  # reuse notebooks executed elsewhere

Each language is an edition of its own (``book/it`` and ``book/en``, each with its ``_toc.yml``),
built with Sphinx's ``language`` set to it, into ``_build/html/it`` and ``_build/html/en``;
``_build/html/index.html`` (from ``book/index.html``) offers both. Every page links to its twin,
the page of the other edition with the same chapter number.

The build is strict: any cell error or Sphinx warning fails it. Executions are cached in
_build/.jupyter_cache, shared by the editions and keyed by the code cells (not by the figure
captions: see _ext/shared_cache.py), so twin pages run once; each edition's Sphinx environment
(_build/editions/<language>) remembers which pages it has read, and reads again only the pages
whose source changed. Both are kept for one execution stamp (``lib``'s code, the profile, the
offline-network switch, the kind of device; _build/execution-stamp.txt): when the stamp changes,
or with ``--force``, they are wiped with the published HTML and every page executes again
(with ``--executed``, every page is read again from the notebooks executed elsewhere).
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

import yaml

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "_build" / ".jupyter_cache"
STAMP = ROOT / "_build" / "execution-stamp.txt"
EDITIONS_BUILD = ROOT / "_build" / "editions"  # each edition's Sphinx environment and HTML
SHARED_ASSETS = ROOT.parent / "shared" / "assets"
HTML = ROOT / "_build" / "html"
CLAIMS_LOG = ROOT / "_build" / "claims"
EDITIONS = {  # language: title and author, in that language
    "it": ("Spiegare le CNN", "chi ha scritto le dispense del corso e chi vi ha contribuito"),
    "en": ("Explainability of CNNs", "The authors of the course notes and their contributors"),
}
BIBLIOGRAPHY = {"it": "bibliografia", "en": "references"}
# myst-nb's labels of a hidden cell ("Show code cell source"), which the theme does not translate.
CELL_PROMPTS = {"it": ("Mostra la cella", "Nascondi la cella")}
# How a figure is named in its caption and in {numref} (Sphinx's own Italian default is "Fig.").
FIGURE_NAMES = {"it": "Figura %s", "en": "Figure %s"}


def execution_stamp() -> str:
    from lib import device, models

    digest = hashlib.sha256()
    for path in sorted((ROOT / "lib").rglob("*.py")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return (
        f"lib={digest.hexdigest()[:16]} profile={device.get_profile()} "
        f"offline_network={models.offline_network_requested()} device={device.get_device().type}"
    )


def prepare(smoke: bool) -> None:
    """Fail early with a clear message when weights or images cannot be had."""
    from lib import assets, models

    if smoke:
        if SHARED_ASSETS.is_dir():
            seeded = assets.seed_cache(SHARED_ASSETS)
            print(f"Seeded {len(seeded)} image(s) from {SHARED_ASSETS} into {assets.cache_dir()}")
    elif not models.offline_network_requested():
        models.prefetch(("vgg19", "googlenet"))
    for name, asset in assets.ASSETS.items():
        if asset.remote:
            assets.fetch(name)


def cache_executed(folder: Path) -> int:
    """Put already executed notebooks into the execution cache: their pages do not run again.

    ``make test`` executes every notebook in a fresh Colab-like environment and saves it there.
    """
    from jupyter_cache import get_cache

    sys.path.insert(0, str(ROOT / "_ext"))
    import shared_cache

    shared_cache.install()  # keyed as the build keys it: by code, not by captions
    cache = get_cache(str(CACHE))
    notebooks = sorted(folder.glob("*.ipynb"))
    for notebook in notebooks:
        cache.cache_notebook_file(str(notebook), check_validity=False, overwrite=True)
    return len(notebooks)


def start_afresh() -> None:
    """Forget every execution: the cache, and each edition's Sphinx environment, which would
    otherwise read no page whose source is unchanged and publish its old outputs; the claims
    log and the published HTML go with them, so that no page of the old stamp is left."""
    stale = [path for path in (CACHE, EDITIONS_BUILD, CLAIMS_LOG, HTML) if path.exists()]
    if stale:
        print(
            "Executing every page again (forced, or lib, the profile, the offline switch or "
            "the device changed)."
        )
    for path in stale:
        shutil.rmtree(path)


def jupyter_book_command(book: Path, *options: str) -> list[str]:
    """The strict build command: every warning is an error, and all of them are reported.

    It runs with this interpreter, not the one a copied ``jupyter-book`` launcher may name.
    """
    jupyter_book = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    return [*jupyter_book, "build", str(book), "-W", "-n", "--keep-going", *options]


def chapters(language: str) -> list[Path]:
    return sorted((ROOT / "book" / language).glob("[0-9][0-9]_*.md"))


def twin_pages(language: str) -> dict[str, str]:
    """Each page of the edition -> the relative URL of its twin in the other edition."""
    other = next(lang for lang in EDITIONS if lang != language)
    theirs = {page.name[:2]: page.stem for page in chapters(other)}
    twins = {page.stem: f"../{other}/{theirs[page.name[:2]]}.html" for page in chapters(language)}
    twins[BIBLIOGRAPHY[language]] = f"../{other}/{BIBLIOGRAPHY[other]}.html"
    return twins


def edition_config(language: str) -> dict:
    """_config.yml with what makes an edition: its language, title, twins and shared cache."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    other = next(lang for lang in EDITIONS if lang != language)
    config["title"], config["author"] = EDITIONS[language]
    config["bibtex_bibfiles"] = [str(ROOT / path) for path in config["bibtex_bibfiles"]]
    config["execute"]["cache"] = str(CACHE)
    config["repository"]["path_to_book"] = f"book/{language}"
    sphinx = config["sphinx"]
    sphinx["local_extensions"] = {
        name: str(ROOT / path) for name, path in sphinx["local_extensions"].items()
    }
    sphinx["config"].update(
        language=language,
        twin_language=other,
        twin_pages=twin_pages(language),
        numfig=True,
        numfig_format={"figure": FIGURE_NAMES[language]},
    )
    if language in CELL_PROMPTS:
        show, hide = CELL_PROMPTS[language]
        sphinx["config"].update(nb_code_prompt_show=show, nb_code_prompt_hide=hide)
    return config


def build_edition(language: str) -> int:
    """Build one edition into _build/editions/<language>, then copy its HTML into place."""
    workdir = EDITIONS_BUILD / language
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "_config.yml"
    config.write_text(yaml.safe_dump(edition_config(language), allow_unicode=True), "utf-8")
    command = jupyter_book_command(
        ROOT / "book" / language, "--config", str(config), "--path-output", str(workdir)
    )
    done = subprocess.run(command, cwd=ROOT)
    if done.returncode == 0:
        shutil.rmtree(HTML / language, ignore_errors=True)
        shutil.copytree(workdir / "_build" / "html", HTML / language)
    return done.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="smoke profile, offline network",
    )
    parser.add_argument("--force", action="store_true", help="re-execute every page")
    parser.add_argument(
        "--executed", type=Path, help="a folder of executed notebooks whose outputs to reuse"
    )
    args = parser.parse_args()
    if args.smoke:
        os.environ["CNNX_PROFILE"] = "smoke"
        os.environ["CNNX_OFFLINE_NETWORK"] = "1"
        # On a small shared CPU, torch's threads wait for each other whenever another process
        # takes a core, and each step gets several times slower: one thread is the steady choice.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars are noise in the published pages
    # every claim a page checks is written here; the appendix publishes them as the claims log
    os.environ.setdefault("CNNX_CLAIMS_LOG", str(CLAIMS_LOG))
    sys.path.insert(0, str(ROOT))

    from lib.assets import AssetError
    from lib.models import WeightsUnavailableError

    try:
        prepare(args.smoke)
    except (WeightsUnavailableError, AssetError) as err:
        print(f"\nThe book cannot be built:\n{err}", file=sys.stderr)
        return 1

    stamp = execution_stamp()
    # notebooks executed elsewhere are this build's outputs: no page may keep an older one
    if args.force or args.executed or not STAMP.exists() or STAMP.read_text() != stamp:
        start_afresh()
    STAMP.parent.mkdir(exist_ok=True)
    STAMP.write_text(stamp)  # what the cache and the Sphinx environments now hold
    print(stamp, flush=True)
    if args.executed:
        if not args.executed.is_dir():
            print(f"--executed {args.executed}: no such folder of notebooks.", file=sys.stderr)
            return 1
        print(f"Reusing {cache_executed(args.executed)} notebook(s) executed in {args.executed}")

    start = time.perf_counter()
    for language in EDITIONS:
        returncode = build_edition(language)
        if returncode != 0:
            minutes = (time.perf_counter() - start) / 60
            print(
                f"\nThe {language} edition FAILED after {minutes:.1f} min (see the messages above "
                f"and _build/editions/{language}/_build/html/reports/).",
                file=sys.stderr,
            )
            return returncode
    shutil.copy(ROOT / "book" / "index.html", HTML / "index.html")
    minutes = (time.perf_counter() - start) / 60
    print(f"\nBuilt in {minutes:.1f} min: {HTML / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
