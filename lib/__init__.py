"""The tested code behind the book *Explainability of convolutional networks*.

One module per idea. The core: ``device`` (device, profile, seeds), ``images`` (loading, batch
checks, ImageNet normalisation, frequency grids), ``assets``, ``networks`` and ``zoo`` (the
networks described), ``models`` (with ``deferred``), ``features``,
``parametrization``, ``transforms``, ``objectives`` (losses to minimise, that add up), ``optim``
(the image-optimisation loop shared by chapters 1-4), ``multiscale`` (octaves, coarse to fine),
``training`` (the one training loop) and ``plots``. On top of them, one module per chapter:
``visualization`` (with ``passthrough``, ``spectra``, ``orientation`` and
``dataset_examples``), ``inversion``, ``deepdream``, ``style`` (with ``gram``
and ``colors``), ``manifolds`` (with ``attacks`` and ``digits``) and ``autoencoders``.
"""

__version__ = "0.1.0"
