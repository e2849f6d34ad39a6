"""Serve MathJax with the book, so that its formulas render without internet.

Sphinx loads MathJax from a CDN by default: a book opened from a folder or a USB stick without
a connection then shows raw LaTeX. This extension points ``mathjax_path`` at a copy of MathJax 3
that is put into each edition's ``_static/mathjax`` folder. The copy comes from the
``sphinx-mathjax-offline`` package on PyPI, a plain redistribution of MathJax's own files (see
requirements.txt), so no build step downloads anything.

It uses MathJax's SVG output (``tex-svg.js``): its glyphs are drawn as paths, with no web font to
load, and browsers refuse to load web fonts from ``file://`` pages. The components that MathJax
loads on demand come along (the TeX extensions it autoloads, the menu, the accessibility
modules and the speech rule engine), while the unused HTML-CSS output and its fonts do not.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path

from sphinx.errors import ExtensionError

DISTRIBUTION = "sphinx-mathjax-offline"
ENTRY = "tex-svg.js"
# What MathJax may load next to its entry point: autoloaded TeX packages, the contextual menu,
# the accessibility explorer and its speech rule engine.
COMPONENTS = ("input", "ui", "a11y", "sre", "adaptors")
TARGET = "mathjax"  # under each edition's _static folder


def mathjax_source() -> Path:
    """The folder of MathJax's files shipped by the ``sphinx-mathjax-offline`` distribution."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as err:
        raise ExtensionError(
            f"MathJax for offline reading comes from the {DISTRIBUTION} package: "
            f"pip install -r requirements.txt"
        ) from err
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / ENTRY).is_file():
        raise ExtensionError(f"{DISTRIBUTION} is installed but has no {ENTRY} in {folder}")
    return folder


def _use_local_mathjax(app, config) -> None:
    mathjax_source()  # fail at the start of the build, not at its end
    config.mathjax_path = f"{TARGET}/{ENTRY}"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / TARGET
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copy2(source / ENTRY, target / ENTRY)
    for component in COMPONENTS:
        if (source / component).is_dir():
            shutil.copytree(source / component, target / component)


def setup(app):
    app.connect("config-inited", _use_local_mathjax, priority=900)
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
