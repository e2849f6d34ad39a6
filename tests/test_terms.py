"""One term per concept, one form of address, one summary title: the prose keeps the book's terms.

Chapter 0 of each edition states the terms the book uses (the Italian terms table). This test
holds the prose and the figure captions of every page to them: it reports every variant that the
book has unified away, with the page, the line and the words to write instead. It reads the
Markdown as ``test_prose`` does (not code cells, mathematics, inline code, citations, glue and
other roles, link targets, labels or directive options), so code, glue names and URLs may keep
any word. Each list is short on purpose: only words that are wrong wherever they occur in prose.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_prose import _NOT_PROSE, PAGES, _captions, _page_text

# (variant, what to write instead). A variant is a regular expression matched as whole words,
# case-insensitively; ['’] stands for either apostrophe.
BANNED: dict[str, list[tuple[str, str]]] = {
    "it": [
        # one term per concept (chapter 0, "Terminologia")
        (r"pass(?:o|i|aggio|aggi) in avanti", "forward pass"),
        (r"(?:passo|passaggio|cammino) all['’]indietro", "backward pass"),
        (r"comput(?:are|a|ano|ato|ata|ati|ate|iamo)", "calcolare (calcola, calcolato…)"),
        (r"la posteriori", "la probabilità a posteriori"),
        (r"seme|semi(?!-)", "seed"),
        (r"tesser[ae]", "tassello, tasselli"),
        (r"data manifold", "manifold dei dati"),
        (r"batch norm(?!alization)", "batch normalization"),
        (r"momento(?=\s+\d)", "momentum"),
        (r"errore sulle feature", "errore nelle feature"),
        (r"gatta", "il gatto"),
        (r"the shipwreck", "Il naufragio"),
        (r"uscita", "output (l'output di un layer)"),
        (r"sweep", "al variare di ε, ogni ε provato"),
        (r"cosa abbiamo visto", "In sintesi"),
        # the reader is addressed with voi, never with tu
        (r"prova(?:lo|la|li|le)", "provate (provatelo…)"),
        (r"puoi", "potete"),
        (r"vuoi", "volete"),
        (r"devi", "dovete"),
        (r"hai", "avete"),
        (r"esegui", "eseguite"),
        (r"scegli", "scegliete"),
        (r"tuo|tua|tuoi|tue", "vostro, vostra, vostri, vostre"),
        (r"ti", "vi"),
    ],
    "en": [
        (r"what we have seen|takeaways", "Summary"),
        (r"far layers?", "deeper layer(s)"),
        (r"of the times", "of the time"),
        (r"th(?:is|at) kind of patterns", "this kind of pattern"),
        (r"statistical affair", "a statistical question"),
    ],
}

# The title of the summary box that closes the text of every chapter 0–6, one per edition.
SUMMARY = {"en": "Summary", "it": "In sintesi"}
SUMMARY_VARIANTS = {"Takeaways", "What we have seen", "Riepilogo", "Cosa abbiamo visto", "Sommario"}

# The English terms that the Italian edition keeps: chapter 0 of each edition lists every one of
# them (the Italian in its terms table or the sentence after it, the English in "Terms used in this
# book"), so that the two lists agree.
KEPT_IN_ENGLISH = [
    "layer", "feature map", "feature", "logit", "loss", "gradient ascent", "batch", "pooling",
    r"batch normali[sz]ation", "kernel", "stride", "padding", "forward pass", "backward pass",
    "learning rate", "momentum", "seed", "pattern", "texture", "jitter", "prior", "hook",
    "context manager", "manifold", "autoencoder", "encoder", "decoder", "input", "output",
    "dataset", "pixel", "notebook", "repository", "runtime", "benchmark", "budget",
]  # fmt: skip
TERMS_SECTION = {"en": "## Terms used in this book", "it": "## Terminologia"}

_ADMONITION = re.compile(r"^:{3,}\{admonition\}[ \t]*(.*?)[ \t]*$", re.M)
# Blanked besides what test_prose blanks: target labels, bare URLs; a directive's fence keeps only
# an admonition's title (a title is prose; the argument of a figure is a glue name).
_ALSO_NOT_PROSE = [
    re.compile(r"^\([\w:-]+\)=[ \t]*$", re.M),  # (label)=
    re.compile(r"https?://\S+"),
]
_FENCE = re.compile(r"^:::.*$", re.M)


def terms_prose(text: str) -> str:
    """``text`` with everything that is not prose or an admonition's title blanked (lines kept)."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group())

    def fence(match: re.Match) -> str:
        title = _ADMONITION.match(match.group())
        return blank(match) if title is None else " " * title.start(1) + title.group(1)

    text = _FENCE.sub(fence, text)
    for pattern in [p for p in _NOT_PROSE if p.pattern != _FENCE.pattern] + _ALSO_NOT_PROSE:
        text = pattern.sub(blank, text)
    return text


def _compiled(language: str) -> list[tuple[re.Pattern, str]]:
    """The variants of ``language`` as whole-word patterns; a space also matches a line break."""
    spaced = [(variant.replace(" ", r"\s+"), instead) for variant, instead in BANNED[language]]
    return [
        (re.compile(rf"(?<![\w-])(?:{variant})(?!\w)", re.IGNORECASE), instead)
        for variant, instead in spaced
    ]


def _hits(text: str, rules: list[tuple[re.Pattern, str]]) -> list[tuple[int, str, str]]:
    """(line, variant as written, what to write instead) for every variant in ``text``."""
    found = []
    for pattern, instead in rules:
        for m in pattern.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((m.start(), line, " ".join(m.group().split()), instead))
    return [hit[1:] for hit in sorted(found)]


def variants(page: Path) -> list[str]:
    """One line per variant in the prose or a caption of ``page``: where, what, what to write."""
    rules = _compiled(page.parent.name)
    found = [
        f"{page.name}, line {line}: {variant!r} → write {instead!r}"
        for line, variant, instead in _hits(terms_prose(_page_text(page)), rules)
    ]
    for name, caption in _captions(page):
        found += [
            f"{page.name}, caption of {name}: {variant!r} → write {instead!r}"
            for _, variant, instead in _hits(terms_prose(caption), rules)
        ]
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_prose_uses_the_books_terms(page):
    found = variants(page)
    assert not found, "\n".join(
        ["the prose uses a variant of one of the book's terms (chapter 0's terms table):", *found]
    )


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if int(p.name[:2]) <= 6],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_every_chapter_has_the_one_summary_title(page):
    language = page.parent.name
    titles = _ADMONITION.findall(_page_text(page))
    others = SUMMARY_VARIANTS | (set(SUMMARY.values()) - {SUMMARY[language]})
    wrong = [t for t in titles if t in others]
    assert not wrong, f"{page.name}: summary box titled {wrong}; write {SUMMARY[language]!r}"
    assert titles.count(SUMMARY[language]) == 1, (
        f"{page.name}: the summary box must be titled {SUMMARY[language]!r}, once"
    )


_PLANTED = """\
---
jupytext:
  formats: ipynb,md:myst
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Un capitolo

Il passo in avanti della rete, con un seme fissato. Provalo con la tua immagine.

```{code-cell} ipython3
---
mystnb:
  figure:
    caption: Il gatto, dopo un passaggio all'indietro.
    name: fig-seme
---
seed = seme = "passo in avanti"  # code keeps any word
```

Si veda {cite:p}`seme2020` e {glue:text}`passo_in_avanti`, `seme`, $seme$ e
[un link](https://example.org/seme/tuo), e https://example.org/puoi. Un forward pass: bene.
Una semiretta, il computazionale, i passi in avanti e un data
manifold.

(sec-seme)=
:::{admonition} Cosa abbiamo visto
:class: tip
:::

:::{glue:figure} fig-tuo
:::
"""


def test_the_test_finds_planted_variants_and_only_them(tmp_path):
    page = tmp_path / "it" / "01_pagina.md"
    page.parent.mkdir()
    page.write_text(_PLANTED, encoding="utf-8")
    assert variants(page) == [
        "01_pagina.md, line 16: 'passo in avanti' → write 'forward pass'",
        "01_pagina.md, line 16: 'seme' → write 'seed'",
        "01_pagina.md, line 16: 'Provalo' → write 'provate (provatelo…)'",
        "01_pagina.md, line 16: 'tua' → write 'vostro, vostra, vostri, vostre'",
        "01_pagina.md, line 30: 'passi in avanti' → write 'forward pass'",
        "01_pagina.md, line 30: 'data manifold' → write 'manifold dei dati'",
        "01_pagina.md, line 34: 'Cosa abbiamo visto' → write 'In sintesi'",
        "01_pagina.md, caption of fig-seme: \"passaggio all'indietro\" → write 'backward pass'",
    ]
    with pytest.raises(AssertionError, match="line 16: 'seme' → write 'seed'"):
        test_prose_uses_the_books_terms(page)


def test_the_summary_test_fails_on_another_title(tmp_path):
    page = tmp_path / "en" / "03_page.md"
    page.parent.mkdir()
    page.write_text("# A chapter\n\n:::{admonition} Takeaways\n- one\n:::\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="write 'Summary'"):
        test_every_chapter_has_the_one_summary_title(page)
    page.write_text("# A chapter\n\n::::{admonition} Summary\n- one\n::::\n", encoding="utf-8")
    test_every_chapter_has_the_one_summary_title(page)


def test_every_banned_variant_is_a_valid_whole_word_pattern():
    for language in BANNED:
        for pattern, instead in _compiled(language):
            assert instead.strip() and not pattern.search(instead), (pattern.pattern, instead)


@pytest.mark.parametrize("language", ["en", "it"])
def test_chapter_0_lists_every_term_the_italian_edition_keeps(language):
    page = next(p for p in PAGES if p.parent.name == language and p.name.startswith("00"))
    text = _page_text(page)
    start = text.index(TERMS_SECTION[language])
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    missing = [
        term
        for term in KEPT_IN_ENGLISH
        if not re.search(r"\b" + term.replace(" ", r"\s+") + r"\b", section, re.IGNORECASE)
    ]
    assert not missing, (
        f"{page.name}, section {TERMS_SECTION[language]!r}, does not name {missing}: the chapter 0 "
        "of both editions lists the English terms the Italian edition keeps"
    )
