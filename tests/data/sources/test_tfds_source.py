"""The tfds path, for real: tiny tfds datasets are built on disk and loaded by name."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from kcontrast.data import build_dataset
from kcontrast.data import load_source
from kcontrast.data.sources.tfds_source import load_tfds


def _images(split_id, n, shape):
    rng = np.random.default_rng(split_id)
    for i in range(n):
        h, w = shape if shape[0] else (6 + i % 5, 9 - i % 3)
        yield i, {"image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "label": i % 3}


class KcontrastTestFixedShapes(tfds.core.GeneratorBasedBuilder):
    """Fixed 8x8 RGB images, 3 classes, a train and a test split."""

    VERSION = tfds.core.Version("1.0.0")
    # A one-part module name makes tfds skip its package-resource lookup of
    # the builder's code (which needs the optional `importlib_resources`).
    __module__ = "kcontrast_tfds_fixture"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=3),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 12), "test": self._generate_examples(1, 6)}

    def _generate_examples(self, split_id, n):
        yield from _images(split_id, n, (8, 8))


class KcontrastTestVariableShapes(tfds.core.GeneratorBasedBuilder):
    """Images of varying size, only a train split."""

    VERSION = tfds.core.Version("1.0.0")
    # A one-part module name makes tfds skip its package-resource lookup of
    # the builder's code (which needs the optional `importlib_resources`).
    __module__ = "kcontrast_tfds_fixture"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "label": tfds.features.ClassLabel(num_classes=3),
            }),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, 20)}

    def _generate_examples(self, split_id, n):
        yield from _images(split_id, n, (None, None))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    for cls in (KcontrastTestFixedShapes, KcontrastTestVariableShapes):
        cls(data_dir=str(path)).download_and_prepare()
    return str(path)


def _reference(name, data_dir, split):
    ds = tfds.load(name, split=split, data_dir=data_dir, batch_size=-1)
    return tfds.as_numpy(ds)


def test_loads_a_prepared_dataset_by_name(data_dir):
    ds = load_source("kcontrast_test_fixed_shapes", data_dir=data_dir)
    assert ds.num_classes == {"label": 3}
    assert ds.train.images.shape == (12, 8, 8, 3) and ds.test.images.shape == (6, 8, 8, 3)
    assert ds.train.images.dtype == np.float32
    ref = _reference("kcontrast_test_fixed_shapes", data_dir, "train")
    np.testing.assert_allclose(ds.train.images * 255, ref["image"], atol=1e-3)
    np.testing.assert_array_equal(ds.train.labels["label"], ref["label"])


def test_variable_size_images_are_squared_and_train_only_is_split(data_dir):
    ds = load_source("kcontrast_test_variable_shapes", data_dir=data_dir)
    assert ds.train.images.shape[1:] == (64, 64, 3)
    assert len(ds.train) == 18 and len(ds.test) == 2
    assert 0.0 <= ds.train.images.min() and ds.train.images.max() <= 1.0


def test_builders_accept_a_tfds_base(data_dir):
    ds = build_dataset("randbit", base="kcontrast_test_fixed_shapes", bits=4, data_dir=data_dir)
    assert ds.input_shape == (8, 8, 7)


def test_unknown_name_lists_known_sources():
    with pytest.raises(ValueError, match="no_such_dataset_xyz") as info:
        load_source("no_such_dataset_xyz")
    assert "mnist5k" in str(info.value) and "fashion_mnist" in str(info.value)


def test_digit_on_image_over_a_tfds_object_source(data_dir):
    ds = build_dataset("digit_on_image", objects="kcontrast_test_variable_shapes", num_unique_digits=5,
                       image_size=32, digit_size=8, num_train=3, num_test=2, data_dir=data_dir)
    assert ds.input_shape == (32, 32, 3)
    assert len(ds.train) == 3 and len(ds.test) == 2
    assert ds.num_classes == {"object": 3, "digit": 10}
    # At most 4 * max(num_train, num_test) = 12 objects were read per split.
    assert ds.train.info["object_index"].max() < 12


def test_max_examples_and_image_size(data_dir):
    ds = load_source("kcontrast_test_fixed_shapes", data_dir=data_dir, max_examples=5, image_size=(16, 16))
    assert ds.train.images.shape == (5, 16, 16, 3) and ds.test.images.shape == (5, 16, 16, 3)


def test_without_download_a_prepared_copy_loads_and_a_missing_one_is_named(data_dir, tmp_path):
    ds = load_tfds("kcontrast_test_fixed_shapes", data_dir=data_dir, download=False)
    assert ds.train.images.shape == (12, 8, 8, 3)
    with pytest.raises(ValueError, match="kcontrast_test_fixed_shapes") as info:
        load_tfds("kcontrast_test_fixed_shapes", data_dir=tmp_path / "empty", download=False)
    assert "empty" in str(info.value)
    assert not (tmp_path / "empty").exists()  # Nothing fetched, nothing written.
