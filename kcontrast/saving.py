"""Loading saved kcontrast models.

``keras.saving.load_model`` finds kcontrast's classes only once their
modules are imported (that is when they register); ``load_model`` imports
them first.

>>> import kcontrast
>>> model = kcontrast.load_model("runs/randbit/<stamp>/points/<point>/model.keras")  # doctest: +SKIP
"""


def load_model(path, **kwargs):
    """``keras.saving.load_model`` with kcontrast's losses and models registered."""
    import keras

    import kcontrast.losses  # noqa: F401  (registers the losses)
    import kcontrast.models  # noqa: F401  (registers ContrastiveModel)

    return keras.saving.load_model(path, **kwargs)
