"""Put a visible link to the twin page, in the other language, at the top of every page.

Each language is its own edition (its own Sphinx build, with its own ``language``); the build
script passes ``twin_pages`` (page name -> relative URL of its twin) and ``twin_language``.
"""

from html import escape

LABELS = {"it": "Leggi in italiano", "en": "Read in English"}


def switch_html(href: str, language: str) -> str:
    return (
        f'<p class="twin-switch" style="text-align: right">'
        f'<a href="{escape(href)}" hreflang="{language}" lang="{language}">'
        f"{LABELS[language]}</a></p>\n"
    )


def _add_switch(app, pagename, templatename, context, doctree):
    href = app.config.twin_pages.get(pagename)
    if href and "body" in context:
        context["body"] = switch_html(href, app.config.twin_language) + context["body"]


def setup(app):
    app.add_config_value("twin_pages", {}, "html", dict)
    app.add_config_value("twin_language", "en", "html", str)
    app.connect("html-page-context", _add_switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
