"""Set ``<html lang>`` per page: ``it`` under ``book/it/``, ``en`` elsewhere.

Sphinx has one global ``language``; this book holds two, told apart by the folder.
"""


def page_language(docname: str, default: str) -> str:
    return "it" if docname.startswith("book/it/") else default


def _set_language(app, pagename, templatename, context, doctree):
    context["language"] = page_language(pagename, app.config.language or "en")


def setup(app):
    app.connect("html-page-context", _set_language)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
