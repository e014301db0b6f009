import numpy as np
import pytest

from kcontrast.data import Split
from kcontrast.data import build_dataset
from kcontrast.data.builders.randbit import decode_bits
from kcontrast.data.builders.randbit import encode_bits
from kcontrast.data.pipeline import pretrain_dataset
from kcontrast.data.pipeline import probe_dataset


@pytest.fixture(scope="module")
def randbit():
    return build_dataset("randbit", bits=7, seed=0)


def _batches(ds, n):
    return [
        ({k: v.numpy() for k, v in views.items()}, {k: v.numpy() for k, v in y.items()})
        for views, y in ds.take(n)
    ]


def test_pretrain_shapes_dtypes_ranges(randbit):
    ds = pretrain_dataset(randbit.train, augment="companion", batch_size=64, seed=0)
    (views, labels), = _batches(ds, 1)
    for name in ("view1", "view2"):
        assert views[name].shape == (64, 28, 28, 8)
        assert views[name].dtype == np.float32
        assert views[name].min() >= 0.0 and views[name].max() <= 1.0
    assert labels["label"].shape == (64,) and labels["label"].dtype == np.int32


def test_bits_identical_in_both_views_and_decode(randbit):
    split = randbit.train
    ds = pretrain_dataset(split, batch_size=50, seed=1)
    for views, labels in _batches(ds, 3):
        bits1, bits2 = views["view1"][..., 1:], views["view2"][..., 1:]
        np.testing.assert_array_equal(bits1, bits2)
        # Constant over the spatial dims.
        np.testing.assert_array_equal(bits1, np.broadcast_to(bits1[:, :1, :1], bits1.shape))
        decoded = decode_bits(bits1[:, 0, 0])
        # Locate each example by its image in the un-augmented split: use the
        # label and the decoded integer, which must match some stored example.
        stored = set(zip(split.labels["label"].tolist(), split.info["bit_value"].tolist()))
        for label, value in zip(labels["label"].tolist(), decoded.tolist()):
            assert (label, value) in stored


def test_views_differ_and_are_crops(randbit):
    ds = pretrain_dataset(randbit.train, batch_size=32, seed=0)
    (views, _), = _batches(ds, 1)
    assert np.abs(views["view1"][..., 0] - views["view2"][..., 0]).max() > 0.1


def test_same_seed_same_batches_other_seed_differs(randbit):
    a = _batches(pretrain_dataset(randbit.train, batch_size=32, seed=5), 3)
    b = _batches(pretrain_dataset(randbit.train, batch_size=32, seed=5), 3)
    c = _batches(pretrain_dataset(randbit.train, batch_size=32, seed=6), 1)
    for (va, ya), (vb, yb) in zip(a, b):
        np.testing.assert_array_equal(va["view1"], vb["view1"])
        np.testing.assert_array_equal(va["view2"], vb["view2"])
        np.testing.assert_array_equal(ya["label"], yb["label"])
    assert (a[0][0]["view1"] != c[0][0]["view1"]).any()


def test_each_pass_is_a_new_epoch(randbit):
    small = randbit.train.head(64)
    ds = pretrain_dataset(small, batch_size=64, seed=0)
    first = _batches(ds, 1)[0][0]["view1"]
    second = _batches(ds, 1)[0][0]["view1"]
    assert (first != second).any()


def _epoch_batches(split, first, last, seed=0):
    return _batches(pretrain_dataset(split, batch_size=32, seed=seed, epochs=(first, last)), 100)


def test_epochs_resumed_anywhere_give_the_same_batches(randbit):
    # Each epoch's order and augmentation depend on (seed, epoch) alone: a fit
    # resumed at epoch 2 sees exactly what the uninterrupted fit saw there.
    small = randbit.train.head(96)
    whole = _epoch_batches(small, 0, 4)
    assert len(whole) == 4 * 3
    for first in (1, 2, 3):
        tail = _epoch_batches(small, first, 4)
        assert len(tail) == (4 - first) * 3
        for (va, ya), (vb, yb) in zip(whole[3 * first:], tail):
            np.testing.assert_array_equal(va["view1"], vb["view1"])
            np.testing.assert_array_equal(va["view2"], vb["view2"])
            np.testing.assert_array_equal(ya["label"], yb["label"])
    # Every epoch is a new order and new crops of the same examples.
    orders = [np.concatenate([y["label"] for _, y in whole[3 * e:3 * e + 3]]) for e in range(4)]
    assert all(sorted(o) == sorted(orders[0]) for o in orders)
    assert len({o.tobytes() for o in orders}) == 4
    assert (whole[0][0]["view1"] != whole[3][0]["view1"]).any()
    other = _epoch_batches(small, 0, 1, seed=1)
    assert (other[0][0]["view1"] != whole[0][0]["view1"]).any()


@pytest.mark.parametrize("epochs", [(2, 2), (-1, 3), (3, 1), (1,), 3])
def test_bad_epochs(randbit, epochs):
    with pytest.raises(ValueError, match="epochs="):
        pretrain_dataset(randbit.train, batch_size=32, epochs=epochs)


def test_no_shuffle_keeps_order_and_remainder(randbit):
    small = randbit.train.head(70)
    ds = pretrain_dataset(small, batch_size=32, seed=0, shuffle=False, drop_remainder=False)
    batches = _batches(ds, 10)
    assert [b[1]["label"].shape[0] for b in batches] == [32, 32, 6]
    labels = np.concatenate([b[1]["label"] for b in batches])
    np.testing.assert_array_equal(labels, small.labels["label"])


def test_probe_dataset_is_clean_ordered_and_keeps_last_batch(randbit):
    split = randbit.test
    batches = list(probe_dataset(split, batch_size=300))
    assert [x.shape[0] for x, _ in batches] == [300, 300, 300, 100]
    x = np.concatenate([b[0].numpy() for b in batches])
    y = np.concatenate([b[1]["label"].numpy() for b in batches])
    np.testing.assert_array_equal(x[..., :1], split.images)
    np.testing.assert_array_equal(x[..., 1:], np.broadcast_to(split.extra[:, None, None, :], (1000, 28, 28, 7)))
    np.testing.assert_array_equal(y, split.labels["label"])
    np.testing.assert_array_equal(decode_bits(x[:, 0, 0, 1:]), split.info["bit_value"])


def test_zero_bits_pipeline_has_image_channels_only():
    ds = build_dataset("randbit", bits=0)
    (views, _), = _batches(pretrain_dataset(ds.train, batch_size=16), 1)
    assert views["view1"].shape == (16, 28, 28, 1)


@pytest.mark.parametrize("kwargs, bad", [
    ({"augment": "sepia"}, "augment='sepia'"),
    ({"batch_size": 0}, "batch_size=0"),
    ({"seed": -1}, "seed=-1"),
    ({"batch_size": 10**6}, "batch_size=1000000"),
])
def test_bad_arguments(randbit, kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        pretrain_dataset(randbit.train, **kwargs)


class _KerasLayersView:
    """A view from Keras core preprocessing layers: stateful, seeded generators."""

    stateful = True

    def __init__(self, seed):
        from keras import layers

        unit = (0.0, 1.0)
        self.layers = [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomBrightness(0.4, value_range=unit, seed=seed + 1),
            layers.RandomContrast(0.8, value_range=unit, seed=seed + 2),
        ]

    def __call__(self, images, seed):
        del seed  # The layers draw from their own generators.
        for layer in self.layers:
            images = layer(images, training=True)
        return images


def _keras_views(channels, seed):
    rng = np.random.default_rng(0)
    n, bits = 32, 5
    split = Split(
        rng.uniform(0.2, 0.8, (n, 16, 16, channels)).astype(np.float32),
        {"label": (np.arange(n) % 10).astype(np.int32)},
        extra=encode_bits(rng.integers(0, 2**bits, n), bits),
    )
    ds = pretrain_dataset(split, augment=_KerasLayersView(seed), batch_size=16, seed=seed, shuffle=False)
    return split, [(v["view1"].numpy(), v["view2"].numpy()) for v, _ in ds]


@pytest.mark.backend
@pytest.mark.parametrize("channels", [1, 3])
def test_stateful_keras_layers_run_under_any_backend_and_reproduce(channels):
    # Keras runs its preprocessing layers with TensorFlow ops inside tf.data,
    # whatever KERAS_BACKEND is; the pipeline maps a `stateful` augmentation
    # serially, so fresh layers with the same seed give the same views.
    split, batches = _keras_views(channels, seed=1)
    _, again = _keras_views(channels, seed=1)
    assert len(batches) == 2
    for i, ((v1, v2), (w1, w2)) in enumerate(zip(batches, again)):
        assert v1.shape == (16, 16, 16, channels + 5) and v1.dtype == np.float32
        expected = np.broadcast_to(split.extra[16 * i:16 * (i + 1), None, None, :], (16, 16, 16, 5))
        np.testing.assert_array_equal(v1[..., channels:], expected)
        np.testing.assert_array_equal(v2[..., channels:], expected)
        assert np.abs(v1[..., :channels] - v2[..., :channels]).max() > 0.05
        np.testing.assert_array_equal(v1, w1)
        np.testing.assert_array_equal(v2, w2)
