"""List every claim the book checks with ``lib.claims.expect``, read from the pages' code.

    python scripts/list_claims.py                 # the claims of every English page
    python scripts/list_claims.py --trained       # only the claims about a trained network

Twin pages run identical code, so the English pages list the claims of both editions. A claim
whose text is computed in the page is listed by its source, marked ``[computed]``; the claims log
that the build publishes in the appendix has every claim as it ran.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
MAGIC = re.compile(r"^(\s*)[%!].*$", re.MULTILINE)


def page_claims(page: Path) -> list[tuple[str, bool]]:
    """``(claim, trained)`` for each ``expect`` call in the page's code cells."""
    found = []
    for cell in jupytext.read(page).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(MAGIC.sub(r"\1pass", cell.source))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) == "expect":
                found.append(_claim(node, page))
    return found


def _name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _claim(call: ast.Call, page: Path) -> tuple[str, bool]:
    keywords = {k.arg: k.value for k in call.keywords}
    text = call.args[1] if len(call.args) > 1 else keywords.get("claim")
    flag = keywords.get("trained", ast.Constant(False))
    if text is None:
        raise ValueError(f"{page.name}, line {call.lineno}: expect() without its claim.")
    if not (isinstance(flag, ast.Constant) and isinstance(flag.value, bool)):
        raise ValueError(f"{page.name}, line {call.lineno}: trained must be True or False.")
    if isinstance(text, ast.Constant) and isinstance(text.value, str):
        return text.value, flag.value
    # a claim computed in the page (an f-string, a loop over a table): its source, marked; the
    # claims log of the build has its text as it ran
    return f"[computed] {ast.unparse(text)}", flag.value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="*", type=Path)
    parser.add_argument("--trained", action="store_true", help="only claims about trained networks")
    args = parser.parse_args()
    pages = args.pages or sorted((ROOT / "book" / "en").glob("[0-9][0-9]_*.md"))
    for page in pages:
        for text, trained in page_claims(page):
            if trained or not args.trained:
                kind = "trained network" if trained else "any weights"
                print(f"{page.stem}\t{kind}\t{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
