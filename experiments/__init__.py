"""Experiment configs, one file per paper result.

Each module defines ``get_config(preset)`` returning an
``ml_collections.ConfigDict`` with nested sections (seed, data, model, loss,
optim, eval, and the run's sweep, quick and figure; see
``kcontrast.config``), ``PRESETS`` and optionally ``ALIASES`` (short
command-line flags). It holds data, not training logic; ``kcontrast.run``
looks experiments up in ``EXPERIMENTS``. Installed as
``kcontrast.experiments`` (see ``pyproject.toml``).
"""

EXPERIMENTS = {
    "digit_on_image": "digit_on_image",
    "generalized_loss": "generalized_loss",
    "mitigation": "mitigation",
    "modified_multidigits": "modified_multidigits",
    "multi_object": "multi_object",
    "randbit": "randbit",
    "randbit_ablations": "randbit_ablations",
}
