"""The tested code behind the book *Explainability of convolutional networks*.

One module per idea: ``device`` (device, profile, seeds), ``images``, ``assets``, ``models``,
``features``, ``optim`` (the image-optimisation loop shared by chapters 1-5), ``plots``, and one
module per chapter on top of them.
"""

__version__ = "0.1.0"
