"""Per-backend ``train_step``/``test_step`` around ``ContrastiveModel.compute_step``.

This is the one place in the models where backend code is expected. Each
module is small: it only turns the backend-neutral loss into gradients and
applies them.
"""

import importlib

import keras

_MODULES = {
    "tensorflow": "kcontrast.models.train_step.tensorflow_step",
    "jax": "kcontrast.models.train_step.jax_step",
    "torch": "kcontrast.models.train_step.torch_step",
}


def backend_steps():
    """Returns the step module of the active Keras backend."""
    backend = keras.backend.backend()
    if backend not in _MODULES:
        raise ValueError(
            f"Expected a Keras backend in {sorted(_MODULES)}; "
            f"Received: backend={backend!r}")
    return importlib.import_module(_MODULES[backend])
