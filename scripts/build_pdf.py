"""Build one PDF per edition, with Jupyter Book's LaTeX builder and XeLaTeX.

    python scripts/build_pdf.py             # after scripts/build_book.py: _build/html/pdf/*.pdf
    python scripts/build_pdf.py --smoke     # the smoke book's PDFs (make test)
    python scripts/build_pdf.py --language en

Each edition is built with the same configuration as its HTML (scripts/build_book.py's
``edition_config``: language, title, numbered figures, the shared execution cache), so its pages
are taken from the execution cache and not run again once the HTML book is built; ``make pdf``
builds the HTML first. The LaTeX-only settings (paper, one-sided chapters, the code cells'
layout) are in _ext/pdf_book.py. The build is as strict as the HTML one: a Sphinx warning or a
LaTeX error fails it.

Needs XeLaTeX and latexmk with the fonts and the Italian hyphenation: ``make pdf`` installs the
Debian/Ubuntu packages with apt-get when they are missing (scripts/install_tools.sh).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_book  # noqa: E402

PDF = build_book.HTML / "pdf"
# One file per edition, named after its title (the landing page links them).
PDF_NAMES = {"it": "spiegare-le-cnn.pdf", "en": "explainability-of-cnns.pdf"}


def pdf_config(language: str) -> dict:
    """The edition's HTML configuration, plus the LaTeX builder's settings."""
    config = build_book.edition_config(language)
    config["latex"] = {
        "latex_engine": "xelatex",
        "use_jupyterbook_latex": True,
        "latex_documents": {"targetname": "book.tex"},
    }
    sphinx = config["sphinx"]
    sphinx["local_extensions"]["pdf_book"] = str(ROOT / "_ext")
    return config


def workdir(language: str) -> Path:
    """Where an edition's PDF is built: beside its HTML build, with Sphinx's state of its own
    (the two builders load different extensions, and would make each other read every page).
    scripts/build_book.py wipes it with the HTML when the execution stamp changes."""
    return build_book.EDITIONS_BUILD / f"{language}-pdf"


def build_pdf(language: str) -> tuple[int, Path]:
    """Build one edition's PDF in _build/editions/<language>-pdf; copy it into place."""
    folder = workdir(language)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "_config.yml"
    config.write_text(yaml.safe_dump(pdf_config(language), allow_unicode=True), "utf-8")
    latex = folder / "_build" / "latex"
    shutil.rmtree(latex, ignore_errors=True)  # latexmk must not take old .aux files for new
    command = build_book.jupyter_book_command(
        ROOT / "book" / language,
        "--builder",
        "pdflatex",
        "--config",
        str(config),
        "--path-output",
        str(folder),
    )
    done = subprocess.run(command, cwd=ROOT)
    target = PDF / PDF_NAMES[language]
    if done.returncode == 0:
        # a LaTeX build is done when its PDF is there, whatever jupyter-book says
        if not (latex / "book.pdf").is_file():
            return 1, target
        PDF.mkdir(parents=True, exist_ok=True)
        shutil.copy(latex / "book.pdf", target)
    return done.returncode, target


def missing_tools() -> list[str]:
    return [tool for tool in ("xelatex", "latexmk") if shutil.which(tool) is None]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the smoke book (make test)")
    parser.add_argument("--language", choices=sorted(build_book.EDITIONS), action="append")
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        print(
            f"The PDF needs {', '.join(missing)}: run scripts/install_tools.sh pdf",
            file=sys.stderr,
        )
        return 1
    if args.smoke:  # as scripts/build_book.py --smoke: should a page miss the cache, it runs so
        os.environ["CNNX_PROFILE"] = "smoke"
        os.environ["CNNX_OFFLINE_NETWORK"] = "1"
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("CNNX_CLAIMS_LOG", str(build_book.CLAIMS_LOG))
    sys.path.insert(0, str(ROOT))
    for language in args.language or list(build_book.EDITIONS):
        start = time.perf_counter()
        returncode, target = build_pdf(language)
        minutes = (time.perf_counter() - start) / 60
        if returncode != 0:
            print(
                f"\nThe {language} PDF FAILED after {minutes:.1f} min (see the messages above and "
                f"{(workdir(language) / '_build' / 'latex' / 'book.log').relative_to(ROOT)}).",
                file=sys.stderr,
            )
            return returncode
        print(f"\nThe {language} PDF, built in {minutes:.1f} min: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
