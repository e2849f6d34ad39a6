"""The LaTeX builder's settings for the PDF of each edition (scripts/build_pdf.py loads it).

- A4 paper, chapters that start on the next page rather than the next right-hand one (a PDF is
  read on a screen), and no blank pages between them.
- The introduction (the root page) opens with its own unnumbered chapter heading, listed in the
  table of contents: Sphinx takes a root page's title for the document's title and drops it.
- The table of contents has its language's name ("Indice", "Contents"), not the caption of the
  first part of the table of contents, which Sphinx would take.
- The bibliography page's own heading is the only one: the bibliography list does not add a
  second, unnumbered "Bibliography" chapter.
- Code in DejaVu Sans Mono rather than FreeMono, which lacks signs that the cells print (⚠,
  superscript letters); the emoji variation selector that may follow ⚠ is dropped.
- Links that may stand in a figure's caption (a citation) are made robust: a caption is also
  written to the auxiliary files, where a fragile ``\\hyperlink`` stops XeLaTeX.
- ``bbm.sty``: a stand-in for the package that sphinx-jupyterbook-latex's document class
  requires and that only TeX Live's 1.4 GB extra fonts collection ships (see latex/bbm.sty).
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.builders.latex.constants import XELATEX_DEFAULT_FONTPKG
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.texescape import escape

HERE = Path(__file__).resolve().parent / "latex"
MONOFONT = r"\setmonofont{DejaVu Sans Mono}[Scale=MatchLowercase]"
PREAMBLE = r"""
% _ext/pdf_book.py: U+FE0F (show the sign before as an emoji) has no glyph in a text font
\catcode"FE0F=9
% _ext/pdf_book.py: a citation in a caption must survive its trip through the .aux file
\AtBeginDocument{\MakeRobust{\hyperlink}}
% _ext/pdf_book.py: the bibliography list under the bibliography page's heading, with no
% chapter heading and table-of-contents entry of its own
\makeatletter
\renewenvironment{sphinxthebibliography}[1]
  {\def\chapter*##1{}\let\@mkboth\@gobbletwo\begin{thebibliography}{#1}}
  {\end{thebibliography}}
\makeatother
"""


def _latex_settings(app, config) -> None:
    config.latex_additional_files = [
        *config.latex_additional_files,
        *(str(path) for path in sorted(HERE.glob("*.sty"))),
    ]
    elements = dict(config.latex_elements)
    elements.setdefault("papersize", "a4paper")
    elements["extraclassoptions"] = ",".join(
        option for option in (elements.get("extraclassoptions"), "openany,oneside") if option
    )
    fonts = XELATEX_DEFAULT_FONTPKG
    elements["fontpkg"] = fonts[: fonts.index(r"\setmonofont")] + MONOFONT + "\n"
    elements["preamble"] = elements.get("preamble", "") + PREAMBLE
    config.latex_elements = elements


def _language_contents_name(app) -> None:
    if app.builder.name == "latex":
        app.builder.get_contentsname = lambda indexfile: ""  # LaTeX's own, in the language


class RootChapterHeading(SphinxPostTransform):
    """Give the root page (the introduction) an unnumbered chapter heading with its title."""

    default_priority = 800  # after sphinx-jupyterbook-latex has arranged the root page (700)
    builders = ("latex",)

    def run(self, **kwargs) -> None:
        root = self.config.root_doc
        if self.app.project.path2doc(self.document["source"]) != root:
            return
        section = next(
            (s for s in self.document.findall(nodes.section) if s.get("docname") == root), None
        )
        if section is None or not isinstance(section.children[0], nodes.title):
            return
        title = escape(self.env.titles[root].astext())
        heading = (
            rf"\chapter*{{{title}}}\addcontentsline{{toc}}{{chapter}}{{{title}}}"
            rf"\markboth{{{title}}}{{{title}}}"
        )
        section.insert(1, nodes.raw("", heading, format="latex"))


def setup(app):
    app.connect("config-inited", _latex_settings)
    app.connect("builder-inited", _language_contents_name)
    app.add_post_transform(RootChapterHeading)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
