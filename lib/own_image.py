"""The reader's own picture, for the "try it on your own image" cell that ends chapters 1–4.

The cell sets ``MY_IMAGE`` to a path or URL. Left empty, Colab shows an upload button; anywhere
else (Jupyter, Binder, the book's build) a bundled image stands in, with a line saying so.
"""

from __future__ import annotations

import os
import sys

import torch

from lib import assets, images

EMPTY_MESSAGE = (
    "No image given: using the bundled image '{name}'. Set MY_IMAGE to a path or URL to try "
    "your own.\n"
    "Nessuna immagine indicata: uso l'immagine inclusa '{name}'. Assegna a MY_IMAGE un percorso "
    "o un URL per provare la tua."
)


def load(source: str | os.PathLike | None, max_side: int, fallback: str) -> torch.Tensor:
    """Load ``source`` (path or URL); when it is empty, an upload in Colab, else ``fallback``."""
    if source:
        return images.load_image(source, max_side=max_side)
    uploaded = _upload_in_colab()
    if uploaded:
        return images.load_image(uploaded, max_side=max_side)
    print(EMPTY_MESSAGE.format(name=fallback))
    return assets.load_asset(fallback, max_side=max_side)


def _upload_in_colab() -> str | None:
    """The file the reader uploads with Colab's button (saved in the working folder), if any."""
    if "google.colab" not in sys.modules:
        return None
    from google.colab import files

    uploaded = files.upload()  # {file name: bytes}; empty when the reader cancels
    return next(iter(uploaded), None)
