"""The course apparatus of every chapter: exercises whose hidden solutions also answer in words,
and in chapters 1–6 one exercise where the student implements a piece of ``lib`` that the build
checks against ``lib``."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("*/0[0-6]_*.md"))
WORDS = {
    "en": {"section": "Exercises", "answer": "Answer", "implement": "(implement it)"},
    "it": {"section": "Esercizi", "answer": "Risposta", "implement": "(da implementare)"},
}


def _language(page: Path) -> str:
    return page.parent.name


def exercises(page: Path) -> list[dict]:
    """The exercises of ``page``: ``{"title", "solutions": [(code, next markdown)]}`` each."""
    words = WORDS[_language(page)]
    cells = jupytext.read(page).cells
    found: list[dict] = []
    inside = False
    for index, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("## "):
                    inside = line[3:].strip() == words["section"]
                elif inside and line.startswith("### "):
                    found.append({"title": line[4:].strip(), "solutions": []})
        elif inside and found and "hide-input" in cell.metadata.get("tags", []):
            after = cells[index + 1].source if index + 1 < len(cells) else ""
            found[-1]["solutions"].append((cell.source, after))
    return found


def has_answer(markdown: str, language: str) -> bool:
    """A dropdown admonition titled Answer (Risposta) that opens the markdown after a
    solution and says something in words."""
    match = re.match(
        r"\s*:::\{admonition\}\s*" + WORDS[language]["answer"] + r"\s*\n:class: dropdown\s*\n"
        r"(?P<body>.*?)\n:::",
        markdown,
        flags=re.S,
    )
    return bool(match) and len(match["body"].split()) >= 8


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_hidden_solution_answers_in_words(page):
    language = _language(page)
    found = exercises(page)
    assert found, f"{page.name}: no exercises found under '## {WORDS[language]['section']}'"
    unanswered = [
        exercise["title"]
        for exercise in found
        for _, after in exercise["solutions"]
        if not has_answer(after, language)
    ]
    assert not unanswered, (
        f"{page.name}: the solution of {unanswered} is code only. Write the answer in words "
        f"right after the solution cell, in ':::{{admonition}} {WORDS[language]['answer']}' "
        "with ':class: dropdown'."
    )
    missing = [exercise["title"] for exercise in found if not exercise["solutions"]]
    assert not missing, f"{page.name}: no hidden solution cell for {missing}"


@pytest.mark.parametrize(
    "page",
    [page for page in CHAPTERS if not page.name.startswith("00_")],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_each_chapter_has_an_implement_it_exercise_checked_against_lib(page):
    marker = WORDS[_language(page)]["implement"]
    chosen = [exercise for exercise in exercises(page) if marker in exercise["title"]]
    assert chosen, f"{page.name}: no exercise titled '… {marker}: …'"
    for exercise in chosen:
        code = "\n".join(source for source, _ in exercise["solutions"])
        assert "claims.expect(" in code, (
            f"{page.name}: the solution of '{exercise['title']}' must compare the student's "
            "version with lib's in claims.expect(...), so that the build checks it."
        )


def test_the_answer_check_needs_the_dropdown_and_words():
    good = ":::{admonition} Answer\n:class: dropdown\n\nThe ratio stays near one because both "
    good += "matrices are averages over positions.\n:::\n"
    assert has_answer(good, "en")
    assert not has_answer(good.replace(":class: dropdown\n", ""), "en")  # shown, not hidden
    assert not has_answer(good.replace("Answer", "Risposta"), "en")
    assert not has_answer(":::{admonition} Answer\n:class: dropdown\n\nSee code.\n:::\n", "en")
    assert has_answer(good.replace("Answer", "Risposta"), "it")


def test_the_scan_finds_the_solutions_of_a_page(tmp_path):
    page = tmp_path / "en" / "01_page.md"
    page.parent.mkdir()
    page.write_text(
        "# Title\n\n## Exercises\n\n### Exercise 1 (implement it): the step\n\nDo it.\n\n"
        "```{code-cell} ipython3\n:tags: [hide-input]\n\nclaims.expect(True, 'x')\n```\n\n"
        ":::{admonition} Answer\n:class: dropdown\n\nIt agrees with the library's step to "
        "rounding error.\n:::\n\n### Exercise 2: a question\n\n"
        "```{code-cell} ipython3\n:tags: [hide-input]\n\nprint(1)\n```\n",
        encoding="utf-8",
    )
    found = exercises(page)
    assert [exercise["title"] for exercise in found] == [
        "Exercise 1 (implement it): the step",
        "Exercise 2: a question",
    ]
    assert has_answer(found[0]["solutions"][0][1], "en")
    assert not has_answer(found[1]["solutions"][0][1], "en")
