"""Execute book pages one by one, outside Sphinx, and print each page's wall time.

    python scripts/run_pages.py                  # every English page (Italian runs the same code)
    python scripts/run_pages.py book/en/01_*.md  # some pages

Pages run in their own folder, as in the book build. Set CNNX_OFFLINE_NETWORK=1 offline. This is
the benchmark behind the per-chapter times quoted in the README; it exits 1 if a page fails.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def run_page(page: Path, timeout: int = 3600) -> float:
    notebook = jupytext.read(page)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(page.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path)
    args = parser.parse_args()
    pages = args.pages or sorted((ROOT / "book" / "en").glob("[0-9][0-9]_*.md"))
    failed = False
    for page in pages:
        try:
            seconds = run_page(page.resolve())
            print(f"{page.name:40s} {seconds:7.1f} s", flush=True)
        except CellExecutionError as err:
            failed = True
            print(f"{page.name:40s} FAILED\n{err}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
