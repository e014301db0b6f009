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


# ------------------------------------------------ bit_flip: the positive control
def _view_bits(ds, bits, **kwargs):
    """Stored bits and both views' bits over one unshuffled pass: [N, bits] each."""
    from kcontrast.data.pipeline import pretrain_dataset

    v1, v2 = [], []
    for views, _ in pretrain_dataset(ds.train, batch_size=500, seed=1, shuffle=False, **kwargs):
        for out, key in ((v1, "view1"), (v2, "view2")):
            planes = views[key].numpy()[..., -bits:]
            # Each view's bits are constant planes (one value per example and bit).
            np.testing.assert_array_equal(planes, np.broadcast_to(planes[:, :1, :1], planes.shape))
            out.append(planes[:, 0, 0])
    n = sum(len(b) for b in v1)
    return ds.train.extra[:n], np.concatenate(v1), np.concatenate(v2)


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_bit_flip_flips_each_bit_per_view_with_probability_p(p):
    bits = 16
    ds = build_dataset("randbit", bits=bits, bit_flip=p, seed=0)
    stored, b1, b2 = _view_bits(ds, bits)
    assert set(np.unique(b1)) <= {0.0, 1.0} and set(np.unique(b2)) <= {0.0, 1.0}
    f1, f2 = b1 != stored, b2 != stored
    # 4,000 x 16 draws per view: sd of a rate about 0.002; per bit about 0.008.
    for flips in (f1, f2):
        assert abs(flips.mean() - p) < 0.01
        np.testing.assert_allclose(flips.mean(axis=0), p, atol=0.035)
    # The views are flipped independently: they disagree at 2p(1 - p), and
    # both flip at p^2.
    assert abs((b1 != b2).mean() - 2 * p * (1 - p)) < 0.01
    assert abs((f1 & f2).mean() - p * p) < 0.01
    # The probes see the stored bits.
    np.testing.assert_array_equal(ds.train.model_inputs(0, 4)[:, 0, 0, -bits:], ds.train.extra[:4])


def test_bit_flip_draws_anew_every_epoch_and_reproduces_per_seed():
    from kcontrast.data.pipeline import pretrain_dataset

    ds = build_dataset("randbit", bits=8, bit_flip=0.3, seed=0)

    def two_epochs():
        pipe = pretrain_dataset(ds.train, batch_size=1000, seed=3)
        return [next(iter(pipe))[0]["view1"].numpy()[:, 0, 0, -8:] for _ in range(2)]

    first, second = two_epochs()
    again = two_epochs()
    np.testing.assert_array_equal(first, again[0])
    np.testing.assert_array_equal(second, again[1])
    assert not np.array_equal(first, second)


def test_bit_flip_zero_is_randbit_as_before_exactly():
    from kcontrast.data.pipeline import pretrain_dataset

    plain = build_dataset("randbit", bits=5, seed=0)
    zero = build_dataset("randbit", bits=5, bit_flip=0.0, seed=0)
    assert zero.train.extra_views is None and "bit_flip" not in zero.config
    assert zero.config == plain.config
    batches = [list(pretrain_dataset(ds.train.head(512), batch_size=128, seed=2))
               for ds in (plain, zero)]
    for (va, ya), (vb, yb) in zip(*batches):
        for key in ("view1", "view2"):
            np.testing.assert_array_equal(va[key].numpy(), vb[key].numpy())
        np.testing.assert_array_equal(ya["label"].numpy(), yb["label"].numpy())
    # Both views share the stored bits when nothing is flipped.
    stored, b1, b2 = _view_bits(zero, 5)
    np.testing.assert_array_equal(b1, stored)
    np.testing.assert_array_equal(b2, stored)


def test_bit_flip_is_recorded_and_kept_by_head():
    ds = build_dataset("randbit", bits=4, bit_flip=0.25, seed=0)
    assert ds.config["bit_flip"] == 0.25
    assert ds.train.head(10).extra_views is ds.train.extra_views
    assert build_dataset("randbit", bits=0, bit_flip=0.25).train.extra_views is None


@pytest.mark.parametrize("p", [-0.1, 0.6, "0.1", True, float("nan")])
def test_bad_bit_flip(p):
    with pytest.raises(ValueError, match="bit_flip"):
        build_dataset("randbit", bits=3, bit_flip=p)


def test_bit_flip_needs_an_in_memory_split():
    with pytest.raises(ValueError, match="bit_flip=0 with stream=True"):
        build_dataset("randbit", base="cifar10", bits=3, bit_flip=0.1, stream=True)
