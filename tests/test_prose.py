"""The prose states no computed number by hand: what a page computes, it glues from the cell.

The scan reads the Markdown of every page (not its code cells, front matter, mathematics,
citations, glue and other roles, inline code, link targets or directive options) and reports every
decimal number, percentage and multiplicative factor typed in the text. A number the reader sees
must come from the computation that produces it (``claims.glue_number``); the few stated settings
and paper figures that are not computed are listed in ``ALLOWED`` with their reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "book").glob("*/[0-9][0-9]_*.md"))

# "two times"/"due volte" is left out: in both languages it mostly means "twice" (an event).
_WORDS = (
    r"three|four|five|six|seven|eight|nine|ten|twenty|fifty|a hundred|hundred|a thousand"
    r"|thousand|tre|quattro|cinque|sei|sette|otto|nove|dieci|venti|cinquanta|cento|mille"
)
NUMBER = re.compile(
    r"\d+(?:[.,]\d+)?\s*%"  # 52%, 52 %, 3,3%
    r"|\b\d+[.,]\d+\b"  # 0.05, 0,05
    r"|(?<![\d×]\s)(?<![\d×])\b\d+(?:[.,]\d+)?\s*[×x](?!\s*\d)(?!\w)"  # 10×, 3x (not 8×8)
    r"|(?<!\d)(?<!\d\s)×\s*\d+(?![.,]?\d*\s*[×x])"  # ×10 alone (not a size 3×224×224)
    rf"|\b(?:\d+|{_WORDS})\s+(?:times|volte)\b",  # ten times, dieci volte
    re.IGNORECASE,
)

# Removed before the scan: what is not prose.
_NOT_PROSE = [
    re.compile(r"^```.*?^```", re.S | re.M),  # fenced blocks: math, code, raw
    re.compile(r"\$\$.*?\$\$", re.S),  # display mathematics
    re.compile(r"\$[^$\n]+\$"),  # inline mathematics
    re.compile(r"\{[\w:-]+\}`[^`]*`"),  # roles: glue, cite, math, ref, numref…
    re.compile(r"`[^`]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<https?://[^>]*>"),  # bare links
    re.compile(r"<!--.*?-->", re.S),  # comments
    re.compile(r"^\s*:[\w-]+:.*$", re.M),  # directive options (:class:, :name:, :width:)
    re.compile(r"^:::.*$", re.M),  # directive fences and their arguments
]

# Typed numbers that the pages state rather than compute: chapter, the text around the number in
# the English and in the Italian page (as typed, on one line), reason. A number is allowed only
# inside its own text, not anywhere on the page.
ALLOWED: list[tuple[str, str, str, str]] = [
    ("00", "every pixel 0.5", "ogni pixel vale 0,5", "the exercise's input, a setting"),
    (
        "01",
        "up to ±10%",
        "fino a ±10%",
        "the fixed range of standard_robustness, named beside it",
    ),
    ("02", "momentum 0.9", "momentum 0,9", "the cited paper's setting"),
    ("04", "CC BY 3.0", "CC BY 3.0", "the licence's name"),
    ("05", "more than 99% confidence", "più del 99% di confidenza", "the cited paper's figure"),
    (
        "05",
        "over ten times 0.001",
        "oltre dieci volte 0,001",
        "the comparison that claims.expect checks in the cell above (pretrained weights)",
    ),
    ("06", "0.5 = no separation", "0,5 = nessuna separazione", "the definition of the AUROC"),
    ("06", "0.1, 0.2 and 0.3", "0,1, 0,2 e 0,3", "the exercise's noise levels, settings"),
]


def _allowed_in(page: Path) -> list[tuple[str, str]]:
    """(text, reason) of the ALLOWED entries for ``page``, in its language."""
    column = {"en": 1, "it": 2}[page.parent.name]
    return [(entry[column], entry[3]) for entry in ALLOWED if page.name.startswith(entry[0])]


def prose(text: str) -> str:
    """The Markdown ``text`` with everything that is not prose blanked (lines are kept)."""
    for pattern in _NOT_PROSE:
        text = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
    return text


def typed_numbers(text: str) -> list[str]:
    """The decimal numbers, percentages and factors typed in the prose of ``text``."""
    return [m.group().strip() for m in NUMBER.finditer(prose(text))]


def _page_text(page: Path) -> str:
    """The page's Markdown with its front matter blanked (it holds no prose; lines are kept)."""
    text = page.read_text(encoding="utf-8")
    front = re.match(r"---\n.*?\n---\n", text, re.S)
    if front:
        text = re.sub(r"[^\n]", " ", front.group()) + text[front.end() :]
    return text


def _captions(page: Path) -> list[tuple[str, str]]:
    """(label, caption) of every numbered figure of the page (in its code cells' metadata)."""
    figures = [
        cell.metadata.get("mystnb", {}).get("figure", {}) for cell in jupytext.read(page).cells
    ]
    return [(figure["name"], figure["caption"]) for figure in figures if "caption" in figure]


def prose_hits(page: Path, allowed: tuple[str, ...] = ()) -> list[tuple[int, str]]:
    """(line, number) for every typed number in the prose of ``page`` outside ``allowed`` texts."""
    text = _page_text(page)
    hits = []
    for number, line in enumerate(prose(text).splitlines(), 1):
        spans = [(m.start(), m.end()) for a in allowed for m in re.finditer(re.escape(a), line)]
        for m in NUMBER.finditer(line):
            if not any(start <= m.start() and m.end() <= end for start, end in spans):
                hits.append((number, m.group().strip()))
    return hits


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("the error falls to 0.05 here", ["0.05"]),
        ("l'errore scende a 0,05", ["0,05"]),
        ("about 52% of them, 52 % in Italian style", ["52%", "52 %"]),
        ("it is 10× slower, or 3x", ["10×", "3x"]),
        ("about ten times worse; circa dieci volte peggio", ["ten times", "dieci volte"]),
        ("it costs 4 times as much", ["4 times"]),
        ("a gain of ×3 at most", ["×3"]),
    ],
)
def test_the_scan_finds_typed_numbers(text, found):
    assert typed_numbers(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "the step $\\eta = 0.05$ and $$x = 1.5$$",
        "the rate {glue:text}`lr` and {cite:p}`gatys2016image`",
        "the call `optimize(lr=0.05)` in code",
        "see [the figure](https://example.org/v1.2/fig.png)",
        "```{code-cell} ipython3\nx = 0.05 * 10\n```",
        ":::{figure} a.png\n:width: 80%\n:::",
        "chapter 3, layers 1 to 5, 224 pixels, a 3x3 kernel? no: a 3-by-3 kernel",
        "VGG19 and conv5_4, a 8×8 grid, a tensor 3×224×224, 3 × 224 × 224",
    ],
)
def test_the_scan_ignores_what_is_not_a_typed_number(text):
    assert typed_numbers(text) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_prose_numbers_come_from_the_code(page):
    typed = [
        f"line {line}: {text!r}"
        for line, text in prose_hits(page, tuple(text for text, _ in _allowed_in(page)))
    ]
    typed += [
        f"caption of {name}: {text!r}"
        for name, caption in _captions(page)
        for text in typed_numbers(caption)
    ]
    assert not typed, (
        f"{page.name} types numbers in its prose; glue them from the cell that computes them "
        f"(claims.glue_number) or, for a stated setting, list them in ALLOWED: {typed}"
    )


def test_every_allowed_text_is_still_in_its_page_and_holds_a_number():
    for page in PAGES:
        for text, reason in _allowed_in(page):
            assert reason.strip(), f"{page.name}: {text!r} needs its reason"
            assert typed_numbers(text), f"{page.name}: {text!r} holds no number to allow"
            assert text in prose(page.read_text(encoding="utf-8")), (
                f"{page.name} no longer types {text!r}: remove it from ALLOWED"
            )
    chapters = {page.name[:2] for page in PAGES}
    assert all(entry[0] in chapters for entry in ALLOWED)


def test_an_allowed_text_allows_only_its_own_number(tmp_path):
    page = tmp_path / "01_page.md"
    page.write_text("With momentum 0.9 as the paper.\nIt reached 0.9 here.\n", encoding="utf-8")
    assert prose_hits(page, ("momentum 0.9",)) == [(2, "0.9")]


@pytest.mark.parametrize(
    "page", [p for p in PAGES if p.parent.name == "it"], ids=lambda p: f"it/{p.name}"
)
def test_italian_prose_writes_final_apostrophes_typographically(page):
    """Sphinx's Italian smart quotes turn a word-final ' (un po') into a closing double quote, and
    so an apostrophe before markup (l'**errore**, l'*output*, l'`id`)."""
    text = _page_text(page)
    final = re.compile(r"\w'(?=[\s.,;:!?)*_`{]|$)")
    hits = [n for n, line in enumerate(prose(text).splitlines(), 1) if final.search(line)]
    hits += [name for name, caption in _captions(page) if final.search(prose(caption))]
    assert not hits, f"{page.name}, lines or captions {hits}: write ’ (po’, mo’), not '"
