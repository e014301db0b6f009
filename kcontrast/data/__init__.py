"""Data: base sources, competing-feature dataset builders, tf.data pipelines.

>>> from kcontrast.data import build_dataset
>>> ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0)
>>> ds.input_shape
(28, 28, 6)

The pipelines (which import TensorFlow) live in `kcontrast.data.pipeline`.
"""

from kcontrast.data.registry import BUILDERS
from kcontrast.data.registry import build_dataset
from kcontrast.data.sources import SOURCES
from kcontrast.data.sources import load_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split

__all__ = ["BUILDERS", "SOURCES", "Dataset", "Split", "build_dataset", "load_source"]
