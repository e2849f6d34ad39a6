"""The book's structure, its strict build, and the offline smoke build's output."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "_ext"))

import build_book  # noqa: E402
import shared_cache  # noqa: E402
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


def _toc_files(language: str) -> list[str]:
    """The pages of one edition, in reading order."""
    toc = yaml.safe_load((ROOT / "book" / language / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"]] + [
        chapter["file"] for part in toc["parts"] for chapter in part["chapters"]
    ]


@pytest.mark.parametrize("language", ["it", "en"])
def test_chapters_are_numbered_as_the_prose_numbers_them(language):
    """Chapter N is the N-th numbered chapter, so "Figure 3.2" is in chapter 3."""
    toc = yaml.safe_load((ROOT / "book" / language / "_toc.yml").read_text(encoding="utf-8"))
    numbered = [
        c["file"] for part in toc["parts"] if part.get("numbered") for c in part["chapters"]
    ]
    assert [int(name[:2]) for name in numbered] == list(range(1, len(numbered) + 1))
    assert len(numbered) == 6


def test_every_page_has_a_twin():
    assert IT and [_number(p) for p in IT] == [_number(p) for p in EN]


@pytest.mark.parametrize("page", IT, ids=lambda p: p.name)
def test_twins_have_identical_code(page):
    twin = _twin(page)
    assert _code_cells(page) == _code_cells(twin), f"{page.name} and {twin.name} run different code"


@pytest.mark.parametrize(
    "page", [p for p in IT + EN if _number(p) in {"01", "02", "03", "04"}], ids=lambda p: p.name
)
def test_chapters_that_transform_a_picture_end_with_your_own_image(page):
    last = _code_cells(page)[-1]
    assert 'MY_IMAGE = ""' in last and "own_image.load(MY_IMAGE" in last, page.name


@pytest.mark.parametrize("language", ["it", "en"])
def test_twin_switch_targets_pair_pages_by_chapter_number(language):
    other = "en" if language == "it" else "it"
    twins = build_book.twin_pages(language)
    pages = IT if language == "it" else EN
    for page in pages:
        target = twins[page.stem]
        assert target == f"../{other}/{_twin(page).stem}.html"
    bibliography = build_book.BIBLIOGRAPHY
    assert twins[bibliography[language]] == f"../{other}/{bibliography[other]}.html"
    assert set(twins) == set(_toc_files(language))


APPENDIX = "07"  # conventions and the claims log: no exercises, objectives or own-image cell


@pytest.mark.parametrize("language", ["it", "en"])
def test_the_appendix_follows_the_chapters_and_precedes_the_bibliography(language):
    listed = _toc_files(language)
    assert listed[-2].startswith(f"{APPENDIX}_")
    assert listed[-1] == build_book.BIBLIOGRAPHY[language]


@pytest.mark.parametrize("language", ["it", "en"])
def test_every_page_is_in_its_editions_table_of_contents(language):
    folder = ROOT / "book" / language
    listed = _toc_files(language)
    assert sorted(p.stem for p in folder.glob("*.md")) == sorted(listed)
    assert listed[0].startswith("00_"), "each edition opens on its introduction"
    assert build_book.BIBLIOGRAPHY[language] in listed


@pytest.mark.parametrize("page", IT + EN, ids=lambda p: p.name)
def test_pages_are_myst_notebooks_paired_and_in_sync(page):
    text = page.read_text(encoding="utf-8")
    assert "format_name: myst" in text, "without it the page's cells silently do not run"
    assert sync_pages.out_of_date(page) == [], "run `make sync`"


def test_a_stale_caption_in_the_notebook_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(sync_pages, "ROOT", tmp_path)
    shutil.copy(ROOT / "_config.yml", tmp_path)
    page = tmp_path / "01_page.md"
    shutil.copy(next(p for p in EN if "caption:" in p.read_text("utf-8")), page)
    sync_pages.sync(page)
    assert sync_pages.out_of_date(page) == []
    notebook = page.with_suffix(".ipynb")
    text = notebook.read_text(encoding="utf-8")
    caption = re.search(r'"caption": "([^"]{10})', text).group(1)
    notebook.write_text(text.replace(caption, "An old caption", 1), encoding="utf-8")
    assert sync_pages.out_of_date(page) == [f"{notebook.name}: cells differ from the page"]


def test_colab_cell_uses_the_configured_repository():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    url = config["repository"]["url"]
    for page in IT + EN:
        first = next(c for c in jupytext.read(page).cells if c.cell_type == "code")
        assert "remove-cell" in first.metadata["tags"]
        assert f"cnn-explainability-book[book] @ git+{url}@" in first.source
        assert '"google.colab" in sys.modules' in first.source


def test_book_extra_brings_what_the_notebooks_import():
    """Colab installs the `book` extra: it must cover every import of the pages but torch."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    installed = {
        _name(r) for r in project["dependencies"] + project["optional-dependencies"]["book"]
    }
    # IPython: every notebook's kernel runs on it (ipykernel depends on it)
    on_colab = {"torch", "torchvision", "lib", "google", "IPython"} | set(sys.stdlib_module_names)
    module_to_package = {
        "myst_nb": "myst-nb",
        "PIL": "pillow",
        "sklearn": "scikit-learn",
        "skimage": "scikit-image",
    }
    for page in IT + EN:
        for module in re.findall(r"^\s*(?:from|import) (\w+)", "\n".join(_code_cells(page)), re.M):
            if module not in on_colab:
                assert module_to_package.get(module, module) in installed, f"{page.name}: {module}"


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


def test_configuration_is_strict_and_cached():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["execute_notebooks"] == "cache"
    assert "**.ipynb" in config["exclude_patterns"]
    command = build_book.jupyter_book_command(ROOT)
    assert {"-W", "-n", "--keep-going"} <= set(command)


def test_editions_differ_in_language_and_share_one_cache():
    it, en = build_book.edition_config("it"), build_book.edition_config("en")
    assert it["sphinx"]["config"]["language"] == "it" and en["sphinx"]["config"]["language"] == "en"
    assert it["execute"]["cache"] == en["execute"]["cache"] == str(build_book.CACHE)
    assert it["repository"]["path_to_book"] == "book/it"  # launch buttons open book/it/*.ipynb
    assert it["title"] != en["title"]
    for config in (it, en):
        assert all(Path(path).is_file() for path in config["bibtex_bibfiles"])


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


@pytest.mark.book
def test_a_build_with_another_profile_executes_every_page_again(tmp_path, monkeypatch):
    """`make test` then `make book`: the second build publishes the second profile's outputs,
    although no page changed (each edition's Sphinx environment must not keep the first)."""
    root = tmp_path / "repo"
    header = EN[0].read_text(encoding="utf-8").split("---")[1]
    cell = "import os\nprint('profile:', os.environ['CNNX_PROFILE'])"
    for language in build_book.EDITIONS:
        folder = root / "book" / language
        folder.mkdir(parents=True)
        (folder / "_toc.yml").write_text("format: jb-book\nroot: 00_page\n", encoding="utf-8")
        page = f"---{header}---\n\n# A page\n\n```{{code-cell}} ipython3\n{cell}\n```\n"
        (folder / "00_page.md").write_text(page, encoding="utf-8")
    shutil.copy(ROOT / "_config.yml", root)
    shutil.copytree(ROOT / "_ext", root / "_ext")
    for name in ("references.bib", "index.html"):
        shutil.copy(ROOT / "book" / name, root / "book")
    # the build script, pointed at the tiny repository, with no weights or images to fetch
    monkeypatch.setattr(build_book, "ROOT", root)
    for name, value in vars(build_book).copy().items():
        if isinstance(value, Path) and value.is_relative_to(ROOT / "_build"):
            monkeypatch.setattr(build_book, name, root / value.relative_to(ROOT))
    monkeypatch.setattr(build_book, "prepare", lambda smoke: None)
    monkeypatch.setenv("CNNX_CLAIMS_LOG", str(root / "_build" / "claims"))
    monkeypatch.setenv("CNNX_OFFLINE_NETWORK", "1")
    monkeypatch.setattr(sys, "argv", ["build_book.py"])
    for profile in ("smoke", "quick"):
        monkeypatch.setenv("CNNX_PROFILE", profile)
        assert build_book.main() == 0
        for language in build_book.EDITIONS:
            html = root / "_build" / "html" / language / "00_page.html"
            assert f"profile: {profile}" in html.read_text(encoding="utf-8"), (language, profile)
        assert f"profile={profile}" in build_book.STAMP.read_text()


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
    assert "vgg19" in done.stderr and "CNNX_OFFLINE_NETWORK=1" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


SMOKE = ROOT / "_build" / "html"
smoke_only = pytest.mark.skipif(
    os.environ.get("CNNX_SMOKE_BUILT") != "1",
    reason="checks the smoke build that `make test` runs first",
)
# Interface strings of the theme that must appear in each edition's language.
INTERFACE = {"it": ("Cerca", "precedente", "successivo"), "en": ("Search", "previous", "next")}


def _html(language: str, name: str) -> BeautifulSoup:
    return BeautifulSoup((SMOKE / language / f"{name}.html").read_text("utf-8"), "html.parser")


@smoke_only
def test_landing_page_offers_both_editions():
    landing = BeautifulSoup((SMOKE / "index.html").read_text("utf-8"), "html.parser")
    targets = {a["href"] for a in landing.find_all("a")}
    assert {"it/index.html", "en/index.html"} <= targets
    for target in targets:
        assert (SMOKE / target).is_file(), target


@smoke_only
@pytest.mark.parametrize("language", ["it", "en"])
def test_each_edition_speaks_its_language_and_stays_in_it(language):
    other = "en" if language == "it" else "it"
    twins = build_book.twin_pages(language)
    for name in _toc_files(language):
        page = _html(language, name)
        assert page.html["lang"] == language, name
        search, previous, following = INTERFACE[language]
        assert search in page.get_text(" "), f"{language}/{name}: no '{search}'"
        if language == "it":
            assert "Show code cell" not in page.get_text(" "), f"{name}: an English label"
        chain = page.select_one(".prev-next-area").get_text(" ")
        assert previous in chain or following in chain, f"{language}/{name}: {chain.split()}"
        switches = page.select("p.twin-switch a")
        assert len(switches) == 1, f"{language}/{name}: no switch to the other language"
        assert switches[0]["href"] == twins[name] and switches[0]["hreflang"] == other
        assert (SMOKE / language / twins[name]).resolve().is_file(), twins[name]
        for link in page.find_all("a", href=True):  # sidebar, previous/next and prose
            if link not in switches:
                assert f"../{other}/" not in link["href"], f"{language}/{name}: {link['href']}"
    options = (SMOKE / language / "_static" / "documentation_options.js").read_text("utf-8")
    assert f"LANGUAGE: '{language}'" in options  # the search uses the language's stemmer


@smoke_only
def test_search_index_of_each_edition_holds_its_own_words():
    def terms(language: str) -> set[str]:
        index = (SMOKE / language / "searchindex.js").read_text("utf-8")
        return set(re.findall(r'"([^"]+)":', index.split('"terms":', 1)[1]))

    italian, english = terms("it"), terms("en")
    stems = {"ret", "livell"}  # rete, reti; livello, livelli: the Italian stemmer's stems
    assert stems <= italian and not stems & english


@smoke_only
def test_smoke_pages_are_clean():
    """No warning text, progress-bar debris or path of the building machine in any page."""
    debris = ["Warning", "/tmp/", str(Path.home()) + "/", "site-packages", str(ROOT), "it/s]"]
    pages = sorted(SMOKE.rglob("*.html"))
    assert len(pages) >= 2 * (len(IT) + 1)
    for page in pages:
        text = page.read_text(encoding="utf-8")
        for bad in debris:
            assert bad not in text, f"{page.relative_to(SMOKE)} contains {bad!r}"


@smoke_only
def test_smoke_build_output():
    for language, pages in (("it", IT), ("en", EN)):
        for page in pages:
            html = (SMOKE / language / f"{page.stem}.html").read_text(encoding="utf-8")
            # every model says which network ran: the smoke build runs the offline network
            if "load_model" in page.read_text("utf-8"):
                assert "Network: EfficientNet-Lite0, trained on ImageNet" in html, page.name
            assert html.count("<img") >= 1, f"{page.name} has no figure"
    intro = (SMOKE / "en" / "00_introduction.html").read_text(encoding="utf-8")
    assert intro.count("<img") >= 3  # the photo, the maps of five layers (one figure), the zeros


@smoke_only
@pytest.mark.parametrize("language", ["it", "en"])
def test_each_edition_publishes_the_claims_log_of_the_trained_network(language):
    name = {"it": "07_appendice", "en": "07_appendix"}[language]
    table = _html(language, name).select_one("table.claims-log")
    assert table is not None, "the appendix has no claims log"
    rows = [[td.get_text(strip=True) for td in tr.select("td")] for tr in table.select("tbody tr")]
    networks = {row[1] for row in rows}
    assert "EfficientNet-Lite0" in networks, networks
    trained = [row for row in rows if row[5]]  # claims about a trained network say "untrained"
    assert len(rows) >= 20 and len(trained) >= 8, (len(rows), len(trained))
    yes = {"it": "sì", "en": "yes"}[language]
    assert all(row[4] == yes for row in rows)  # a build with a failing claim does not publish


EXERCISES = {"it": "Esercizi", "en": "Exercises"}


def _numbered_figures(language: str, name: str) -> tuple[dict[str, str], BeautifulSoup]:
    """A page's numbered figures (id → caption number), after checking that none is missed."""
    page = _html(language, name)
    # From the exercises on (solutions, "your own image") the plots are the reader's to caption;
    # a page without exercises (the appendix) has every figure in its text.
    heading = next((h for h in page.select("h2") if EXERCISES[language] in h.get_text()), None)
    after_text = []
    if heading is not None:
        exercises = heading.find_parent("section")
        after_text = [exercises, *exercises.find_next_siblings("section")]
    for image in page.select(".cell_output img"):
        if any(section in image.parents for section in after_text):
            continue
        figure = image.find_parent("figure")
        assert figure is not None and figure.select_one(".caption-number"), (
            f"{language}/{name}: an output image that is not a numbered, captioned figure"
        )
    figures = {
        figure["id"]: figure.select_one(".caption-number").get_text(strip=True)
        for figure in page.select("figure[id]")
    }
    return figures, page


@smoke_only
@pytest.mark.parametrize("number", [_number(p) for p in EN])
def test_figures_are_numbered_captioned_and_referenced(number):
    """Every figure of a chapter's text has a number and a caption, and the prose cites it."""
    found = {}
    for language, pages in (("it", IT), ("en", EN)):
        name = next(p.stem for p in pages if _number(p) == number)
        figures, page = _numbered_figures(language, name)
        word = build_book.FIGURE_NAMES[language].split()[0]
        # the appendix (conventions, the claims log) computes tables, not figures
        assert figures or number == APPENDIX, f"{language}/{name} has no numbered figure"
        for label, caption in figures.items():
            assert caption.startswith(word), f"{language}/{name}: {caption!r}"
            cited = page.select(f'a[href="#{label}"] span.std-numref')
            assert cited, f"{language}/{name}: figure {label} is never referred to by number"
        found[language] = sorted(figures)
    assert found["it"] == found["en"], "the two editions number different figures"


def test_twins_share_one_cached_execution_and_keep_their_own_captions(tmp_path, monkeypatch):
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.cache.main import JupyterCacheBase

    for name, patched in (
        ("create_hashed_notebook", shared_cache._hash_without_rendering),
        ("merge_match_into_notebook", shared_cache._merge_keeping_page_metadata),
    ):
        monkeypatch.setattr(JupyterCacheBase, name, patched)
    english = next(p for p in EN if "caption:" in p.read_text("utf-8"))
    executed = jupytext.read(english)
    code = [c for c in executed.cells if c.cell_type == "code"]
    for i, cell in enumerate(code):
        cell.outputs = [nbformat.v4.new_output("stream", text=f"run {i}")]
    cache = get_cache(str(tmp_path / "cache"))
    cache.cache_notebook_bundle(CacheBundleIn(executed, str(english)), check_validity=False)

    italian = jupytext.read(_twin(english))
    _, merged = cache.merge_match_into_notebook(italian)
    cells = [c for c in merged.cells if c.cell_type == "code"]
    assert [c.outputs[0].text for c in cells] == [f"run {i}" for i in range(len(code))]
    captions = [c.metadata.get("mystnb") for c in cells]
    own = [c.metadata.get("mystnb") for c in italian.cells if c.cell_type == "code"]
    assert captions == own and captions != [c.metadata.get("mystnb") for c in code]


# --- Offline reading, alternative text, PDF ----------------------------------------------------

import figure_alt  # noqa: E402
import offline_math  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FILE_NAME_ALT = re.compile(r"^[\w./\\-]*\.(png|jpe?g|gif|svg|webp)$", re.IGNORECASE)


def _browser() -> str:
    found = next((shutil.which(name) for name in BROWSERS if shutil.which(name)), None)
    assert found, "no headless browser: scripts/install_tools.sh test installs Chromium"
    return found


def _without_network() -> list[str]:
    """A prefix that runs a command in a network namespace of its own, where the system allows
    it: no interface but loopback, so nothing outside the machine can be reached."""
    if shutil.which("unshare"):
        if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0:
            return ["unshare", "-rn"]
    return []


def _rendered(url: str, profile: Path) -> BeautifulSoup:
    """The page's DOM once a headless browser has run its scripts, with the network off.

    Besides the namespace (where there is one), every host name fails to resolve and every
    request that is not for a file goes to a closed local port.
    """
    command = [
        *_without_network(),
        _browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--proxy-server=127.0.0.1:9",
        "--virtual-time-budget=30000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return BeautifulSoup(done.stdout, "html.parser")


def _assert_math_rendered(page: BeautifulSoup, where: str) -> int:
    """Every formula of the page became MathJax output; returns how many there are."""
    formulas = page.select(".math")
    for formula in formulas:
        assert formula.find("mjx-container"), f"{where}: not rendered: {formula.get_text()[:80]}"
    text = page.body.get_text(" ")
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in text, f"{where}: raw LaTeX {raw!r} left in the page"
    return len(formulas)


def test_alternative_text_is_the_captions_first_sentence():
    for caption, alt in [
        ("One image (left). Its twin.", "One image (left)"),
        ("A 0.5 step, e.g. this one.\nNext", "A 0.5 step, e.g. this one"),
        ("`conv1_2` … `conv5_4` of VGG19.", "`conv1_2` … `conv5_4` of VGG19"),
        ("Un’onda. Poi", "Un’onda"),
    ]:
        assert figure_alt.first_sentence(caption) == alt
    assert figure_alt.spoken_math(r"\lambda_V \, \lVert x \rVert_{2}") == "lambda_V lVert x rVert_2"
    for alt in ("", "  ", "e05b8a45.png", "../_images/plot.PNG", "a" * 8 + "0" * 56):
        assert figure_alt.needs_alt(alt), alt
    assert not figure_alt.needs_alt("Binder logo")


def test_mathjax_for_offline_reading_is_installed():
    """requirements.txt brings MathJax's files; the extension serves its SVG output."""
    source = offline_math.mathjax_source()
    assert (source / offline_math.ENTRY).is_file()
    assert (source / "input" / "tex" / "extensions").is_dir()  # what MathJax autoloads
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert offline_math.DISTRIBUTION in {_name(line) for line in requirements}
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert {"offline_math", "figure_alt"} <= set(config["sphinx"]["local_extensions"])


def _captioned_book(tmp_path: Path, language: str) -> Path:
    """A two-page book in ``language`` with the project's configuration and extensions: a
    formula, a captioned figure, an uncaptioned one and a citation."""
    book = tmp_path / "captioned"
    book.mkdir()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["bibtex_bibfiles"] = [str(ROOT / "book" / "references.bib")]
    config["sphinx"]["local_extensions"] = {
        name: str(ROOT / "_ext") for name in config["sphinx"]["local_extensions"]
    }
    config["sphinx"]["config"].update(language=language, numfig=True)
    (book / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True), "utf-8")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: figures\n")
    header = EN[0].read_text(encoding="utf-8").split("---")[1]
    (book / "index.md").write_text("# Index\n\nThe formula $E = mc^2$.\n", "utf-8")
    caption = "Un’onda $y = \\\\sin x$, disegnata. La seconda frase resta nella didascalia."
    page = f"""---{header}---

# Figure

Come in {{numref}}`fig-wave`, con {{cite:p}}`deng2009imagenet`:

$$
y = \\sin(x) + \\alpha \\, \\lVert x \\rVert_2
$$

```{{code-cell}} ipython3
---
mystnb:
  figure:
    caption: "{caption}"
    name: fig-wave
---
import matplotlib.pyplot as plt

plt.plot([0, 1, 0]); plt.show()
```

```{{code-cell}} ipython3
plt.plot([1, 0, 1]); plt.show()
```

```{{bibliography}}
```
"""
    (book / "figures.md").write_text(page, encoding="utf-8")
    return book


@pytest.mark.book
def test_figures_have_alternative_text_and_math_renders_offline(tmp_path):
    book = _captioned_book(tmp_path, "it")
    built = _build(book)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    html = book / "_build" / "html"
    page = BeautifulSoup((html / "figures.html").read_text("utf-8"), "html.parser")
    alts = [img["alt"] for img in page.select(".cell_output img")]
    assert alts == [
        "Un’onda y = sin x, disegnata",
        "Figura calcolata dalla cella di codice della sezione «Figure»",
    ]
    # MathJax comes from the book's own folder, with what it loads on demand
    scripts = [s["src"] for s in page.find_all("script", src=True) if "mathjax" in s["src"]]
    assert scripts == ["_static/mathjax/tex-svg.js"]
    assert (html / "_static" / "mathjax" / "input" / "tex" / "extensions").is_dir()
    rendered = _rendered((html / "figures.html").as_uri(), tmp_path / "profile")
    assert _assert_math_rendered(rendered, "figures.html") == 2  # the caption has one
    assert rendered.select("mjx-container svg")  # SVG output: no web font to load


SMOKE_PDF = SMOKE / "pdf"


@smoke_only
def test_every_image_of_the_smoke_book_has_alternative_text():
    """No image is described by its file name or left without a description; a figure's image
    is described by its caption's first sentence, in the page's language."""
    count = 0
    for path in sorted(SMOKE.glob("*/*.html")):
        page = BeautifulSoup(path.read_text("utf-8"), "html.parser")
        for image in page.find_all("img"):
            alt = (image.get("alt") or "").strip()
            where = f"{path.relative_to(SMOKE)}: {image.get('src')}"
            assert alt and not FILE_NAME_ALT.match(alt), f"{where}: alt {alt!r}"
            figure = image.find_parent("figure")
            if figure is not None and figure.find("figcaption"):
                caption = figure.find("figcaption").select_one(".caption-text")
                first = caption.get_text(" ").split()[0].strip(".,;:")
                assert alt.split()[0].strip(".,;:") == first, where
            count += 1
    assert count >= 2 * len(EN)


@smoke_only
def test_smoke_book_needs_no_network_and_links_relatively():
    """Scripts, styles and images are the book's own files, reached by relative paths that
    exist: the book works opened from a folder."""
    for path in sorted(SMOKE.rglob("*.html")):
        if "_static" in path.parts:
            continue
        page = BeautifulSoup(path.read_text("utf-8"), "html.parser")
        resources = [(t, t.get("src") or t.get("href")) for t in page.find_all(["script", "img"])]
        resources += [(t, t.get("href")) for t in page.find_all("link", rel="stylesheet")]
        links = [(t, t["href"]) for t in page.find_all("a", href=True)]
        for tag, url in resources + links:
            if not url or url.startswith(("#", "mailto:", "data:")):
                continue
            where = f"{path.relative_to(SMOKE)}: <{tag.name}> {url}"
            if re.match(r"^(https?:)?//", url):
                assert tag.name == "a", f"{where}: loaded from the network"
                continue
            assert not url.startswith("/"), f"{where}: an absolute path"
            target = (path.parent / url.split("#")[0].split("?")[0]).resolve()
            assert target.exists(), f"{where}: no such file"


@smoke_only
@pytest.mark.parametrize("language", ["it", "en"])
def test_smoke_book_renders_formulas_and_searches_offline(language, tmp_path):
    """In a headless browser, from file://, with the network off: every formula of every page
    is typeset by the book's own MathJax, and the search finds pages."""
    rendered = 0
    for name in _toc_files(language):
        path = SMOKE / language / f"{name}.html"
        if 'class="math' in path.read_text("utf-8"):
            page = _rendered(path.as_uri(), tmp_path / "profile")
            rendered += _assert_math_rendered(page, f"{language}/{name}")
    assert rendered >= 5
    word = {"it": "rete", "en": "network"}[language]
    search = _rendered(f"{(SMOKE / language / 'search.html').as_uri()}?q={word}", tmp_path / "p")
    assert len(search.select("#search-results ul.search li")) >= 3


def _pdf_text(path: Path) -> str:
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@smoke_only
@pytest.mark.parametrize("language", ["it", "en"])
def test_smoke_pdf_of_each_edition(language):
    """The PDF holds every chapter with numbered, captioned figures, typeset formulas and the
    bibliography, in the edition's language, and no reference left unresolved."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_pdf

    path = SMOKE_PDF / build_pdf.PDF_NAMES[language]
    assert path.is_file(), "make test builds it with scripts/build_pdf.py --smoke"
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 30, f"{path.name}: {pages} pages"
    text = _pdf_text(path)
    word = build_book.FIGURE_NAMES[language].split()[0]
    assert re.search(rf"{word} 1\.1\b", text) and re.search(rf"{word} 6\.\d", text)
    bibliography = {"it": "Bibliografia", "en": "References"}[language]  # the page's title
    assert bibliography in text and "Mahendran" in text and "Gatys" in text
    assert "??" not in text, f"{path.name}: an unresolved reference"
    for raw in ("\\(", "\\[", "$$", "\\frac"):
        assert raw not in text, f"{path.name}: raw LaTeX {raw!r}"
    chapter = {"it": "CAPITOLO", "en": "CHAPTER"}[language]  # over each chapter's title
    assert text.count(chapter) >= 6
    log = build_pdf.workdir(language) / "_build" / "latex" / "book.log"
    log_text = log.read_text("utf-8", "replace")
    missing = set(re.findall(r"Missing character: There is no (.)", log_text))
    assert not missing, f"{path.name}: no glyph for {sorted(missing)} in its fonts"


def test_landing_page_links_the_pdf_of_each_edition():
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_pdf

    landing = BeautifulSoup((ROOT / "book" / "index.html").read_text("utf-8"), "html.parser")
    targets = {a["href"] for a in landing.find_all("a")}
    assert {f"pdf/{name}" for name in build_pdf.PDF_NAMES.values()} <= targets
