"""kcontrast: contrastive self-supervised learning in Keras 3.

Reproduces and extends Chen, Luo, Li, "Intriguing Properties of Contrastive
Losses" (NeurIPS 2021). The public names below are imported lazily, so that
``python -m kcontrast.run --backend=jax`` can still choose the Keras backend
before Keras is imported.

Under the torch backend (`KERAS_BACKEND=torch` or Keras' config file),
importing kcontrast imports torch, and Triton when installed, before anything
imports TensorFlow: Triton loaded after TensorFlow crashes the process (see
`kcontrast.quiet_imports`). Import kcontrast before tensorflow.

>>> import kcontrast
>>> kcontrast.ContrastiveModel  # doctest: +SKIP
"""

import importlib

from kcontrast.quiet_imports import import_torch_first

__version__ = "0.1.0"

_LAZY = {
    "ContrastiveModel": "kcontrast.models.contrastive_model",
    "small_convnet": "kcontrast.models.small_convnet",
    "small_resnet": "kcontrast.models.small_resnet",
    "projection_head": "kcontrast.models.projection_head",
    "load_model": "kcontrast.saving",
}

__all__ = sorted(_LAZY)

import_torch_first()


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kcontrast' has no attribute {name!r}")
