"""Streamed tfds splits, for real: tiny tfds datasets are prepared on disk
(`tfds_fixtures`) and read through `StreamSplit`, the pipelines and the
builders, next to the in-memory path they must agree with."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # the fixture builders sit beside this file

import tfds_fixtures  # noqa: E402
from kcontrast.data import build_dataset, load_source  # noqa: E402
from kcontrast.data.pipeline import pretrain_dataset, probe_dataset  # noqa: E402
from kcontrast.data.sources.tfds_source import load_tfds, stream_tfds  # noqa: E402
from kcontrast.data.stream import is_stream  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
SMALL = "kcontrast_stream_images/n200"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    tfds_fixtures.prepare(path, sizes=(200,))
    return str(path)


def _gather(ds):
    images, labels = [], []
    for x, y in ds.as_numpy_iterator():
        images.append(x)
        labels.append(y["label"])
    return np.concatenate(images), np.concatenate(labels)


def test_a_streamed_split_holds_no_arrays_and_knows_its_shape(data_dir):
    ds = stream_tfds(SMALL, data_dir=data_dir)
    assert is_stream(ds.train) and is_stream(ds.test)
    assert len(ds.train) == 200 and len(ds.test) == 50
    assert ds.input_shape == (48, 48, 3) and ds.num_classes == {"label": 10}
    for split in (ds.train, ds.test):
        fields = [getattr(split, f.name) for f in dataclasses.fields(split)]
        assert not any(isinstance(v, np.ndarray) for v in fields)
        assert not hasattr(split, "images")
    assert len(ds.train.head(30)) == 30 and ds.train.head(500) is ds.train


def test_streamed_probe_batches_equal_the_in_memory_split(data_dir):
    memory = load_tfds(SMALL, data_dir=data_dir)
    streamed = stream_tfds(SMALL, data_dir=data_dir)
    for name in ("train", "test"):
        a, b = getattr(memory, name), getattr(streamed, name)
        images, labels = _gather(probe_dataset(b, batch_size=64))
        np.testing.assert_array_equal(images, a.images)
        np.testing.assert_array_equal(labels, a.labels["label"])
    # head() cuts the same rows; a resize matches load_tfds' resize.
    images, _ = _gather(probe_dataset(streamed.train.head(7), batch_size=4))
    np.testing.assert_array_equal(images, memory.train.images[:7])
    small = load_tfds(SMALL, data_dir=data_dir, image_size=(16, 16), max_examples=9)
    images, _ = _gather(probe_dataset(
        stream_tfds(SMALL, data_dir=data_dir, image_size=(16, 16)).test.head(9), batch_size=4))
    np.testing.assert_allclose(images, small.test.images, atol=1e-5)


def test_streamed_pretraining_batches_are_seeded_and_reshuffled(data_dir):
    split = stream_tfds(SMALL, data_dir=data_dir).train
    ds = pretrain_dataset(split, augment="companion", batch_size=32, seed=3)
    epochs = [[(v["view1"].numpy(), y["label"].numpy()) for v, y in ds] for _ in range(2)]
    assert len(epochs[0]) == 200 // 32
    views, labels = epochs[0][0]
    assert views.shape == (32, 48, 48, 3) and views.dtype == np.float32
    assert 0.0 <= views.min() and views.max() <= 1.0
    # Every example once per pass: 20 per class (drop_remainder=False).
    seen = np.concatenate([y["label"].numpy() for _, y in pretrain_dataset(
        split, batch_size=32, seed=3, drop_remainder=False)])
    assert len(seen) == 200 and set(np.bincount(seen, minlength=10)) == {20}
    again = [(v["view1"].numpy(), y["label"].numpy()) for v, y in
             pretrain_dataset(split, augment="companion", batch_size=32, seed=3)]
    np.testing.assert_array_equal(again[0][0], epochs[0][0][0])   # same seed, same batches
    assert not np.array_equal(epochs[0][0][1], epochs[1][0][1])  # a new order each pass


def test_streamed_epochs_resume_their_augmentation_and_reshuffle_each_epoch(data_dir):
    split = stream_tfds(SMALL, data_dir=data_dir).train
    steps = 200 // 32

    def batches(first, shuffle):
        return [(v["view1"].numpy(), y["label"].numpy()) for v, y in pretrain_dataset(
            split, augment="companion", batch_size=32, seed=3, epochs=(first, 3),
            shuffle=shuffle)]

    shuffled = batches(0, True)
    assert len(shuffled) == 3 * steps
    assert not np.array_equal(shuffled[0][1], shuffled[steps][1])  # a new order each epoch
    # In a fixed order, a pass from epoch 2 has epoch 2's augmentation.
    whole, tail = batches(0, False), batches(2, False)
    assert len(tail) == steps
    for (va, ya), (vb, yb) in zip(whole[2 * steps:], tail):
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(va, vb)
    assert not np.array_equal(whole[0][0], whole[steps][0])  # new crops each epoch


def test_randbit_streams_with_bits_fixed_per_example(data_dir):
    ds = build_dataset("randbit", base=SMALL, bits=6, seed=1, data_dir=data_dir, stream=True)
    assert is_stream(ds.train) and ds.input_shape == (48, 48, 9)
    # Probe pass twice, in order: the bits of an example never change.
    first, _ = _gather(probe_dataset(ds.test, batch_size=16))
    second, _ = _gather(probe_dataset(ds.test, batch_size=50))
    bits = first[:, 0, 0, 3:]
    np.testing.assert_array_equal(first, second)
    assert set(np.unique(first[..., 3:])) <= {0.0, 1.0}
    assert np.all(first[..., 3:] == bits[:, None, None, :])      # constant planes
    values = (bits * 2 ** np.arange(6)).sum(1)
    assert len(np.unique(values)) > 30                           # 50 draws of 64 values
    # Both views carry the example's bits, and shuffled passes keep them.
    images = {}
    for _ in range(2):
        for views, _ in pretrain_dataset(ds.test, batch_size=10, seed=0):
            v1, v2 = views["view1"].numpy(), views["view2"].numpy()
            np.testing.assert_array_equal(v1[..., 3:], v2[..., 3:])
            for row in v1[:, 0, 0, 3:]:
                images.setdefault(tuple(row), 0)
    # The set of bit patterns seen is the probe pass's.
    assert set(images) == {tuple(b) for b in bits}
    # Another seed, other bits; the test split differs from the train split.
    other = build_dataset("randbit", base=SMALL, bits=6, seed=2, data_dir=data_dir, stream=True)
    assert not np.array_equal(_gather(probe_dataset(other.test, 50))[0][:, 0, 0, 3:], bits)


def test_composite_builders_refuse_a_stream_in_one_line(data_dir):
    streamed = load_source(SMALL, data_dir=data_dir, stream=True)
    for name, kwargs in [("multi_digits", {"digits": streamed}),
                         ("modified_multi_digits", {"digits": streamed}),
                         ("digit_on_image", {"objects": streamed})]:
        with pytest.raises(ValueError, match=f"{name}'s") as info:
            build_dataset(name, **kwargs)
        message = str(info.value)
        assert "\n" not in message and "only randbit streams" in message


def test_a_dataset_that_cannot_be_downloaded_names_data_dir_fast(tmp_path):
    empty = tmp_path / "empty"
    for stream in (False, True):
        with pytest.raises(ValueError, match="--data_dir") as info:
            load_source("kcontrast_offline", data_dir=str(empty), stream=stream)
        assert "kcontrast_offline" in str(info.value) and "\n" not in str(info.value)
    assert not empty.exists()


@pytest.mark.slow
def test_memory_stays_flat_as_the_dataset_grows(tmp_path):
    """One pass over 1,000 and over 4,000 images of 48x48x3 (a float32 split
    of 4,000 is 105 MB), each in a fresh process: streamed, the peak
    resident growth stays below that and does not grow with the dataset;
    read into memory (the control, showing the measurement sees a split),
    it exceeds it."""
    tfds_fixtures.prepare(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, HERE, os.environ.get("PYTHONPATH", "")]))
    growth = {}
    for mode in ("stream", "memory"):
        out = subprocess.run([sys.executable, os.path.join(HERE, "tfds_fixtures.py"),
                              str(tmp_path), mode], env=env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        growth[mode] = dict(zip(tfds_fixtures.SIZES, eval(out.stdout.strip().splitlines()[-1])))
    split_mb = 4000 * 48 * 48 * 3 * 4 / 2**20
    assert growth["stream"][4000] < 0.75 * split_mb, growth
    assert growth["stream"][4000] - growth["stream"][1000] < 0.25 * split_mb, growth
    assert growth["memory"][4000] > split_mb, growth
