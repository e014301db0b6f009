"""Shared pytest configuration.

The Keras backend is fixed per process by ``KERAS_BACKEND``; CI runs the suite
once per backend. Tests whose behaviour depends on the backend carry the
``backend`` marker (``pytestmark = pytest.mark.backend``).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
