"""Give every image of the book an alternative text in the page's language, for screen readers.

The figures that the code cells compute carry a caption (in the cell's ``mystnb`` metadata) but
no alternative text, and docutils then writes the image's file name as its ``alt``. This
extension fills the ``alt`` of each image that has none (or only a file name) with the first
sentence of its figure's caption, which is written in the edition's language. An image outside
any captioned figure gets a short description in that language that says where it comes from.
The pages themselves are not touched: it works on the resolved document, for every builder.
"""

from __future__ import annotations

import re

from docutils import nodes

# The alternative text of an image that has no caption, in each edition's language.
UNCAPTIONED = {
    "it": "Figura calcolata dalla cella di codice della sezione «{section}»",
    "en": "Figure computed by the code cell of the section “{section}”",
}
# A sentence ends at . ! ? followed by a space and a capital letter or an opening parenthesis
# (so "0.5", "e.g. the" and "`conv1_2` …" do not end one).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Þ(“«])")
FILE_NAME = re.compile(r"^[\w.\-/\\]*\.(png|jpe?g|gif|svg|webp|pdf)$", re.IGNORECASE)


def needs_alt(alt: str | None) -> bool:
    """True when an image has no alternative text, or only its file name (or a hash)."""
    alt = (alt or "").strip()
    return not alt or bool(FILE_NAME.match(alt)) or bool(re.fullmatch(r"[0-9a-f]{16,}", alt))


def first_sentence(text: str) -> str:
    """The caption's first sentence, on one line, without its final full stop."""
    text = " ".join(text.split())
    sentence = SENTENCE_END.split(text, maxsplit=1)[0]
    return sentence[:-1] if sentence.endswith(".") and not sentence.endswith("..") else sentence


def spoken_math(tex: str) -> str:
    """A formula as plain text: ``\\lambda_V`` reads "lambda_V", ``\\sin x`` "sin x"."""
    tex = re.sub(r"\\[,;:! ]", " ", tex)
    tex = re.sub(r"\\([A-Za-z]+)", r"\1", tex).replace("{", "").replace("}", "")
    return " ".join(tex.split())


def plain_text(node: nodes.Node) -> str:
    if isinstance(node, nodes.math):
        return spoken_math(node.astext())
    if isinstance(node, nodes.Text):
        return str(node)
    return "".join(plain_text(child) for child in node.children)


def caption_alt(figure: nodes.figure) -> str | None:
    caption = next(iter(figure.findall(nodes.caption)), None)
    if caption is None:
        return None
    return first_sentence(plain_text(caption)) or None


def section_title(node: nodes.Node) -> str:
    while node is not None:
        if isinstance(node, nodes.section) and node.children:
            title = node.next_node(nodes.title)
            if title is not None:
                return " ".join(title.astext().split())
        node = node.parent
    return ""


def fill_alt(app, doctree: nodes.document, docname: str) -> None:
    language = app.config.language if app.config.language in UNCAPTIONED else "en"
    for image in doctree.findall(nodes.image):
        if not needs_alt(image.get("alt")):
            continue
        figure = image.parent
        while figure is not None and not isinstance(figure, nodes.figure):
            figure = figure.parent
        alt = caption_alt(figure) if figure is not None else None
        if alt is None:
            section = section_title(image) or app.env.titles.get(docname, nodes.Text("")).astext()
            alt = UNCAPTIONED[language].format(section=section)
        image["alt"] = alt


def setup(app):
    app.connect("doctree-resolved", fill_alt)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
