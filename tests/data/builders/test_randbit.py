import numpy as np
import pytest

from kcontrast.data import BUILDERS
from kcontrast.data import build_dataset
from kcontrast.data.builders.randbit import decode_bits
from kcontrast.data.builders.randbit import encode_bits


def test_shapes_dtypes_and_ranges():
    ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0, data_dir=None)
    assert ds.name == "randbit"
    assert ds.input_shape == (28, 28, 6)
    assert ds.num_classes == {"label": 10}
    assert ds.multi_label == set()
    for split, n in ((ds.train, 4000), (ds.test, 1000)):
        assert split.images.shape == (n, 28, 28, 1)
        assert split.images.dtype == np.float32
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        assert split.labels["label"].dtype == np.int32
        assert set(np.unique(split.labels["label"])) == set(range(10))
        assert split.extra.shape == (n, 5) and split.extra.dtype == np.float32
        assert set(np.unique(split.extra)) <= {0.0, 1.0}


def test_bits_decode_to_the_stored_integer():
    ds = build_dataset("randbit", bits=12, seed=3)
    for split in (ds.train, ds.test):
        values = split.info["bit_value"]
        assert values.min() >= 0 and values.max() < 2**12
        # Bit j of the integer, computed here independently of the builder.
        for j in range(12):
            np.testing.assert_array_equal(split.extra[:, j], (values >> j) & 1)
        np.testing.assert_array_equal(decode_bits(split.extra), values)


def test_encode_decode_round_trip_32_bits():
    values = np.array([0, 1, 2**31, 2**32 - 1, 123456789], np.int64)
    np.testing.assert_array_equal(decode_bits(encode_bits(values, 32)), values)


def test_deterministic_per_seed_and_differs_across_seeds():
    a = build_dataset("randbit", bits=10, seed=1)
    b = build_dataset("randbit", bits=10, seed=1)
    c = build_dataset("randbit", bits=10, seed=2)
    np.testing.assert_array_equal(a.train.extra, b.train.extra)
    np.testing.assert_array_equal(a.test.extra, b.test.extra)
    assert (a.train.extra != c.train.extra).any()
    # The base images and labels do not depend on the seed (fixed mnist5k split).
    np.testing.assert_array_equal(a.train.images, c.train.images)
    np.testing.assert_array_equal(a.train.labels["label"], c.train.labels["label"])


def test_zero_bits_has_no_extra_channels():
    ds = build_dataset("randbit", bits=0)
    assert ds.train.extra is None and ds.test.extra is None
    assert ds.input_shape == (28, 28, 1)


def test_config_is_json_serializable():
    import json

    ds = build_dataset("randbit", bits=3, seed=4)
    assert json.loads(json.dumps(ds.config))["bits"] == 3


@pytest.mark.parametrize("bits", [-1, 33, 2.5, "5"])
def test_bad_bits(bits):
    with pytest.raises(ValueError, match=f"bits={bits!r}"):
        build_dataset("randbit", bits=bits)


def test_unknown_builder_lists_known_names():
    with pytest.raises(ValueError, match="nosuch") as info:
        build_dataset("nosuch")
    for name in BUILDERS:
        assert name in str(info.value)


def test_unknown_argument():
    with pytest.raises(ValueError, match="colour"):
        build_dataset("randbit", colour=3)


def test_bit_labels_are_the_bits_as_a_multi_hot_label():
    ds = build_dataset("randbit", bits=6, bit_labels=True, seed=2)
    assert ds.num_classes == {"label": 10, "bits": 6}
    assert ds.multi_label == {"bits"}
    assert ds.config["bit_labels"] is True
    for split in (ds.train, ds.test):
        bits = split.labels["bits"]
        assert bits.dtype == np.float32 and bits.shape == (len(split), 6)
        np.testing.assert_array_equal(bits, split.extra)
        np.testing.assert_array_equal(decode_bits(bits), split.info["bit_value"])
    # Off by default, and nothing to read back without bits.
    plain = build_dataset("randbit", bits=6, seed=2)
    assert set(plain.train.labels) == {"label"} and "bit_labels" not in plain.config
    np.testing.assert_array_equal(plain.train.extra, ds.train.extra)
    zero = build_dataset("randbit", bits=0, bit_labels=True)
    assert set(zero.train.labels) == {"label"} and zero.multi_label == set()
    with pytest.raises(ValueError, match="bit_labels=1"):
        build_dataset("randbit", bits=3, bit_labels=1)
