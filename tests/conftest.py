"""Shared pytest configuration.

The Keras backend is fixed per process by ``KERAS_BACKEND``; CI runs the suite
once per backend. Tests whose behaviour depends on the backend carry the
``backend`` marker (``pytestmark = pytest.mark.backend``).

Under torch, torch and Triton are imported here, before any test module
imports TensorFlow: Triton loaded after TensorFlow crashes the process
(`kcontrast.quiet_imports.import_torch_first`).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kcontrast.quiet_imports import import_torch_first  # noqa: E402

import_torch_first()


def pytest_collection_modifyitems(config, items):
    """``KCONTRAST_SKIP_SLOW=1`` skips the tests marked ``slow`` (end-to-end
    runs of a minute or more). CI sets it only where the same tests already
    ran in another stage (see ``.ci/run``)."""
    import pytest

    if os.environ.get("KCONTRAST_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="KCONTRAST_SKIP_SLOW=1 (ran in the CI suite stage)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@__import__("pytest").fixture
def run_cli():
    """``run_cli(args, cwd, timeout=600, module="kcontrast.run")`` runs
    ``python -m module *args`` in a subprocess, as a user would, with this
    checkout first on ``PYTHONPATH``; returns the ``CompletedProcess``
    (text stdout and stderr captured)."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(args, cwd, timeout=600, module="kcontrast.run"):
        env = dict(os.environ,
                   PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return run
