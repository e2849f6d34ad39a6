"""The book's structure, its strict build, and the offline smoke build's output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import build_book  # noqa: E402
import sync_pages  # noqa: E402

IT = sorted((ROOT / "book" / "it").glob("[0-9][0-9]_*.md"))
EN = sorted((ROOT / "book" / "en").glob("[0-9][0-9]_*.md"))


def _number(page: Path) -> str:
    return page.name[:2]


def _twin(page: Path) -> Path:
    other = EN if page.parent.name == "it" else IT
    return next(p for p in other if _number(p) == _number(page))


def _code_cells(page: Path) -> list[str]:
    return [c.source.strip() for c in jupytext.read(page).cells if c.cell_type == "code"]


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


def test_every_page_has_a_twin():
    assert IT and [_number(p) for p in IT] == [_number(p) for p in EN]


@pytest.mark.parametrize("page", IT, ids=lambda p: p.name)
def test_twins_have_identical_code_and_link_each_other(page):
    twin = _twin(page)
    assert _code_cells(page) == _code_cells(twin), f"{page.name} and {twin.name} run different code"
    assert f"../en/{twin.name}" in page.read_text(encoding="utf-8")
    assert f"../it/{page.name}" in twin.read_text(encoding="utf-8")


def test_every_page_is_in_the_table_of_contents():
    listed = set(_toc_files())
    for page in IT + EN + [ROOT / "book" / "index.md", ROOT / "book" / "references.md"]:
        assert page.relative_to(ROOT).with_suffix("").as_posix() in listed, page
    for name in listed:
        assert (ROOT / f"{name}.md").exists(), f"_toc.yml lists {name}, which does not exist"


@pytest.mark.parametrize("page", IT + EN, ids=lambda p: p.name)
def test_pages_are_myst_notebooks_paired_and_in_sync(page):
    text = page.read_text(encoding="utf-8")
    assert "format_name: myst" in text, "without it the page's cells silently do not run"
    assert sync_pages.out_of_date(page) == [], "run `make sync`"


def test_colab_cell_uses_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    for page in IT + EN:
        first = next(c for c in jupytext.read(page).cells if c.cell_type == "code")
        assert "remove-cell" in first.metadata["tags"]
        assert f"git+{url}@" in first.source and '"google.colab" in sys.modules' in first.source


def test_configuration_is_strict_and_cached():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["execute_notebooks"] == "cache"
    assert "book/**/*.ipynb" in config["exclude_patterns"]
    command = build_book.jupyter_book_command(ROOT)
    assert {"-W", "-n", "--keep-going"} <= set(command)


def test_bibliography_keys_cited_exist():
    keys = set(re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text("utf-8")))
    for page in IT + EN:
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text(encoding="utf-8")):
            for key in group.split(","):
                assert key.strip() in keys, f"{page.name} cites unknown {key}"


def _mini_book(tmp_path: Path, cell: str) -> Path:
    """A one-page book with the project's own configuration and extension."""
    book = tmp_path / "mini"
    (book / "book").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book)
    shutil.copytree(ROOT / "_ext", book / "_ext")
    shutil.copy(ROOT / "book" / "references.bib", book / "book")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/index\n", encoding="utf-8")
    header = (ROOT / "book" / "en" / EN[0].name).read_text(encoding="utf-8").split("---")[1]
    page = f"---{header}---\n\n# A page\n\n```{{code-cell}} ipython3\n{cell}\n```\n"
    (book / "book" / "index.md").write_text(page, encoding="utf-8")
    return book


def _build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        build_book.jupyter_book_command(book), cwd=book, capture_output=True, text=True, timeout=600
    )


@pytest.mark.book
def test_a_failing_cell_fails_the_build(tmp_path):
    broken = _build(_mini_book(tmp_path, "1 / 0"))
    assert broken.returncode != 0
    assert "ZeroDivisionError" in broken.stdout + broken.stderr
    working = _build(_mini_book(tmp_path / "ok", "print(6 * 7)"))
    assert working.returncode == 0, working.stdout[-3000:] + working.stderr[-3000:]
    html = (tmp_path / "ok" / "mini" / "_build" / "html" / "book" / "index.html").read_text("utf-8")
    assert "42" in html


def test_book_command_offline_stops_with_a_clear_message(offline, tmp_path):
    env = {**os.environ, "CNNX_CACHE": str(tmp_path / "empty-cache")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert "The book cannot be built" in done.stderr
    assert "vgg19" in done.stderr and "CNNX_RANDOM_WEIGHTS=1" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


SMOKE = ROOT / "_build" / "html"


@pytest.mark.skipif(
    os.environ.get("CNNX_SMOKE_BUILT") != "1",
    reason="checks the smoke build that `make test` runs first",
)
def test_smoke_build_output():
    assert (SMOKE / "book" / "index.html").exists()
    for name in _toc_files():
        html = (SMOKE / f"{name}.html").read_text(encoding="utf-8")
        lang = "it" if name.startswith("book/it/") else "en"
        assert f'<html lang="{lang}"' in html, name
    for page in IT + EN:
        html = (SMOKE / "book" / page.parent.name / f"{page.stem}.html").read_text(encoding="utf-8")
        assert "RANDOM WEIGHTS" in html or "load_model" not in page.read_text(encoding="utf-8")
        assert html.count("<img") >= 1, f"{page.name} has no figure"
    intro = (SMOKE / "book" / "en" / "00_introduction.html").read_text(encoding="utf-8")
    assert intro.count("<img") >= 6  # the photo, five layers' maps and the sparsity curve
