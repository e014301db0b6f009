"""Shared pytest configuration.

The Keras backend is fixed per process by ``KERAS_BACKEND``; CI runs the suite
once per backend. Tests whose behaviour depends on the backend carry the
``backend`` marker (``pytestmark = pytest.mark.backend``).

Under torch, torch and Triton are imported here, before any test module
imports TensorFlow: Triton loaded after TensorFlow crashes the process
(`kcontrast.quiet_imports.import_torch_first`).
"""

import gzip
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from kcontrast.quiet_imports import import_torch_first  # noqa: E402

import_torch_first()


def pytest_collection_modifyitems(config, items):
    """``KCONTRAST_SKIP_SLOW=1`` skips the tests marked ``slow`` (end-to-end
    runs of a minute or more), reported as skipped; ``-m "not slow"`` (what
    ``tests/run_backends.sh`` does by default) deselects them instead."""
    import pytest

    if os.environ.get("KCONTRAST_SKIP_SLOW") != "1":
        return
    skip = pytest.mark.skip(reason="KCONTRAST_SKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# IDX type bytes of the dtypes the tests write (the format's magic numbers).
_IDX_CODES = {
    "u1": (0x08, "u1"),
    "i1": (0x09, "i1"),
    "i2": (0x0B, ">i2"),
    "i4": (0x0C, ">i4"),
    "f4": (0x0D, ">f4"),
    "f8": (0x0E, ">f8"),
}


def _write_idx(path, array):
    """Writes ``array`` as an IDX file (gzip-compressed if ``path`` ends in .gz)."""
    import numpy as np

    array = np.asarray(array)
    code, stored = _IDX_CODES[array.dtype.newbyteorder("=").str[1:]]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(str(path), "wb") as f:
        f.write(header + array.astype(stored).tobytes())


@__import__("pytest").fixture(scope="session")
def write_idx():
    """``write_idx(path, array)``: the inverse of ``read_idx``, for test fixtures."""
    return _write_idx


# Sizes of the small Fashion-MNIST copy: enough for every experiment's quick
# run (generalized_loss caps the test split at 1,000, digit_on_image trains on 512).
FASHION_TRAIN, FASHION_TEST = 1200, 1000


def write_fashion_like(directory, n_train=FASHION_TRAIN, n_test=FASHION_TEST, seed=0):
    """Writes the four Fashion-MNIST IDX files (gzip'd, the names Debian's
    ``dataset-fashion-mnist`` installs) into ``directory``: uint8 28x28 images
    of 10 classes, each class a fixed blocky silhouette (a seeded 7x7 mask
    scaled to 20x20) shifted by up to 3 px, with random brightness and noise,
    on black; labels cycle through the classes. Returns ``directory``."""
    import numpy as np

    from kcontrast.data.sources.fashion_mnist import FILES

    rng = np.random.default_rng(seed)
    masks = rng.random((10, 7, 7)) < 0.55
    masks[:, 2:5, 2:5] = True  # every silhouette has a solid middle
    shapes = np.kron(masks, np.ones((3, 3)))[:, :20, :20]  # [10, 20, 20]

    def split(n):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.float32)
        dy, dx = rng.integers(0, 9, (2, n))
        for i, (label, y, x) in enumerate(zip(labels, dy, dx)):
            images[i, y:y + 20, x:x + 20] = shapes[label]
        images *= rng.uniform(0.5, 1.0, (n, 1, 1))
        images += rng.normal(0.0, 0.05, images.shape) * (images > 0)
        return (np.clip(images, 0, 1) * 255).round().astype(np.uint8), labels

    arrays = {}
    arrays["train", "images"], arrays["train", "labels"] = split(n_train)
    arrays["test", "images"], arrays["test", "labels"] = split(n_test)
    os.makedirs(directory, exist_ok=True)
    for key, stem in FILES.items():
        _write_idx(os.path.join(directory, stem + ".gz"), arrays[key])
    return directory


@__import__("pytest").fixture(scope="session")
def fashion_mnist_dir(tmp_path_factory):
    """A directory holding a small real Fashion-MNIST copy (four gzip'd IDX
    files, ``FASHION_TRAIN`` / ``FASHION_TEST`` images, see
    ``write_fashion_like``), written once per session: pass it as
    ``--data_dir`` (or a builder's ``data_dir``) so that tests never need
    Debian's ``dataset-fashion-mnist``."""
    return str(write_fashion_like(tmp_path_factory.mktemp("fashion-mnist")))


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
