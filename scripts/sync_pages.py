"""Keep every page's hidden Colab cell and its paired notebook up to date.

    python scripts/sync_pages.py          # rewrite what is out of date
    python scripts/sync_pages.py --check  # only report; exit 1 if anything is out of date

For each MyST page under book/it and book/en:
- its first code cell must be the Colab install cell, built from the repository URL in
  _config.yml (the one place that names it); it is inserted or rewritten if needed;
- the ``.ipynb`` beside it must hold the same cells, without outputs (Colab and Binder open it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
COLAB_TAG = "remove-cell"


def repository() -> tuple[str, str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repo = config["repository"]
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def install_requirement(source: str) -> str:
    """What the Colab cell installs: the package with its `book` extra, from ``source``."""
    return f"cnn-explainability-book[book] @ {source}"


def colab_cell_source() -> str:
    url, branch = repository()
    return (
        "# Colab only: install this book's package (`lib`) and what the notebook imports.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "{install_requirement(f"git+{url}@{branch}")}"'
    )


def pages() -> list[Path]:
    """The chapters (``NN_name.md``) of both editions."""
    return sorted(
        p for lang in ("it", "en") for p in (ROOT / "book" / lang).glob("[0-9][0-9]_*.md")
    )


def _is_colab_cell(cell) -> bool:
    return cell.cell_type == "code" and COLAB_TAG in cell.metadata.get("tags", [])


def expected_notebook(page: Path) -> nbformat.NotebookNode:
    """The page as a notebook, with the Colab cell first."""
    notebook = jupytext.read(page)
    cells = [cell for cell in notebook.cells if not _is_colab_cell(cell)]
    colab = nbformat.v4.new_code_cell(colab_cell_source(), metadata={"tags": [COLAB_TAG]})
    notebook.cells = [colab] + cells
    return notebook


def _cells(notebook) -> list[tuple[str, str, list, dict]]:
    """What must agree between a page and its notebook: code, tags and figure captions."""
    return [
        (
            c.cell_type,
            c.source.strip(),
            sorted(c.metadata.get("tags", [])),
            c.metadata.get("mystnb"),
        )
        for c in notebook.cells
    ]


def out_of_date(page: Path) -> list[str]:
    """What differs between the page, its notebook and what they should be."""
    expected = _cells(expected_notebook(page))
    problems = []
    if _cells(jupytext.read(page)) != expected:
        problems.append(f"{page.relative_to(ROOT)}: the Colab cell is missing or stale")
    paired = page.with_suffix(".ipynb")
    if not paired.exists():
        problems.append(f"{paired.relative_to(ROOT)}: missing")
    else:
        notebook = nbformat.read(paired, as_version=4)
        if _cells(notebook) != expected:
            problems.append(f"{paired.relative_to(ROOT)}: cells differ from the page")
        if any(c.get("outputs") for c in notebook.cells if c.cell_type == "code"):
            problems.append(f"{paired.relative_to(ROOT)}: holds outputs")
    return problems


def sync(page: Path) -> None:
    notebook = expected_notebook(page)
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
    jupytext.write(notebook, page, fmt="md:myst")
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    jupytext.write(notebook, page.with_suffix(".ipynb"), fmt="ipynb")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only; exit 1 if out of date")
    parser.add_argument("pages", nargs="*", type=Path, help="only these pages (default: all)")
    args = parser.parse_args()
    chosen = [page.resolve() for page in args.pages] or pages()
    stale = {page: out_of_date(page) for page in chosen}
    stale = {page: problems for page, problems in stale.items() if problems}
    for problems in stale.values():
        print("\n".join(problems))
    if args.check:
        return 1 if stale else 0
    for page in stale:
        sync(page)
        print(f"synced {page.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
