import os

import numpy as np
import pytest

from kcontrast.data import build_dataset
from kcontrast.data import load_source
from kcontrast.data.sources.fashion_mnist import DEFAULT_DIR
from kcontrast.data.sources.fashion_mnist import FILES
from kcontrast.data.sources.fashion_mnist import find_files


def _fake_fashion(write_idx, directory, n_train=12, n_test=5, gz=True):
    rng = np.random.default_rng(0)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        ("train", "labels"): (np.arange(n_train) % 10).astype(np.uint8),
        ("test", "images"): rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        ("test", "labels"): (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, stem in FILES.items():
        write_idx(os.path.join(directory, stem + (".gz" if gz else "")), arrays[key])
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_loads_idx_files_from_data_dir(tmp_path, gz, write_idx):
    arrays = _fake_fashion(write_idx, tmp_path, gz=gz)
    ds = load_source("fashion_mnist", data_dir=tmp_path)
    assert ds.train.images.shape == (12, 28, 28, 1)
    assert ds.train.images.dtype == np.float32
    np.testing.assert_allclose(ds.train.images[..., 0] * 255, arrays[("train", "images")], atol=1e-3)
    np.testing.assert_array_equal(ds.test.labels["label"], arrays[("test", "labels")])
    assert ds.test.labels["label"].dtype == np.int32
    assert ds.num_classes == {"label": 10}


def test_randbit_over_fashion_files(tmp_path, write_idx):
    _fake_fashion(write_idx, tmp_path)
    ds = build_dataset("randbit", base="fashion_mnist", bits=3, data_dir=str(tmp_path))
    assert ds.input_shape == (28, 28, 4) and len(ds.train) == 12


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(ValueError) as info:
        load_source("fashion_mnist", data_dir=tmp_path / "nothing_here")
    message = str(info.value)
    assert "dataset-fashion-mnist" in message
    assert "--data_dir" in message
    assert "nothing_here" in message


def test_the_suites_small_copy_is_real_idx_with_ten_learnable_classes(fashion_mnist_dir):
    """The session fixture every Fashion-MNIST test reads instead of Debian's
    package: four IDX files the real loader reads, balanced classes that a
    1-NN classifier tells apart (so probes on it measure something)."""
    from sklearn.neighbors import KNeighborsClassifier

    assert find_files(fashion_mnist_dir) is not None
    ds = load_source("fashion_mnist", data_dir=fashion_mnist_dir)
    # Enough for every quick run: generalized_loss probes 1,000 test images.
    assert ds.train.images.shape[1:] == ds.test.images.shape[1:] == (28, 28, 1)
    assert len(ds.train) >= 1000 and len(ds.test) >= 1000
    counts = np.bincount(ds.train.labels["label"])
    assert len(counts) == 10 and counts.min() == counts.max()
    flat = lambda split: split.images.reshape(len(split), -1)
    knn = KNeighborsClassifier(n_neighbors=1).fit(flat(ds.train), ds.train.labels["label"])
    assert knn.score(flat(ds.test), ds.test.labels["label"]) > 0.9


@pytest.mark.packaged_data
@pytest.mark.skipif(
    find_files() is None,
    reason=f"Fashion-MNIST IDX files absent from {DEFAULT_DIR}: "
    "apt-get install dataset-fashion-mnist",
)
def test_real_fashion_mnist_files():
    ds = load_source("fashion_mnist")
    assert ds.train.images.shape == (60000, 28, 28, 1)
    assert ds.test.images.shape == (10000, 28, 28, 1)
    assert 0.0 <= ds.train.images.min() and ds.train.images.max() == 1.0
    # The real set is balanced: 6,000 / 1,000 images per class.
    np.testing.assert_array_equal(np.bincount(ds.train.labels["label"]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.test.labels["label"]), [1000] * 10)
