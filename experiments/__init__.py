"""Experiment configs, one file per paper result.

Each module defines ``get_config(preset)`` returning a plain dict (data, not
training logic); ``kcontrast.run`` looks experiments up in ``EXPERIMENTS``.
Installed as ``kcontrast.experiments`` (see ``pyproject.toml``).
"""

EXPERIMENTS = {
    "randbit": "randbit",
}
