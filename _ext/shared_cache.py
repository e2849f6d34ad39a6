"""Twin pages share one execution although their figure captions differ.

The execution cache (jupyter-cache) keys a notebook by its code cells *and* all their metadata,
and on a match it hands back the cached cells with the cached metadata. The Italian and English
twins run identical code but caption their figures in their own language, in the cells'
``mystnb`` metadata, so by default each twin would be executed on its own, and a match would give
one edition the other's captions. This extension keys the cache by everything but the rendering
metadata, and keeps each page's own metadata on a match. The build script installs the same
keying before it puts notebooks executed elsewhere into the cache.
"""

from __future__ import annotations

from jupyter_cache.cache.main import JupyterCacheBase

RENDER_ONLY = frozenset({"mystnb"})  # how outputs are shown (figure captions, names), not run

_original_hash = JupyterCacheBase.create_hashed_notebook
_original_merge = JupyterCacheBase.merge_match_into_notebook


def _hash_without_rendering(self, nb, nb_metadata=("kernelspec",), cell_metadata=None):
    if cell_metadata is None:
        cell_metadata = {key for cell in nb.cells for key in cell.metadata} - RENDER_ONLY
    return _original_hash(self, nb, nb_metadata, cell_metadata)


def _merge_keeping_page_metadata(
    self, nb, nb_meta=("kernelspec", "language_info", "widgets"), cell_meta=None
):
    return _original_merge(self, nb, nb_meta, () if cell_meta is None else cell_meta)


def install() -> None:
    """Key the execution cache by code, not by captions (idempotent)."""
    JupyterCacheBase.create_hashed_notebook = _hash_without_rendering
    JupyterCacheBase.merge_match_into_notebook = _merge_keeping_page_metadata


def setup(app):
    install()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
