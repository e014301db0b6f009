import json

import numpy as np
import pytest

from kcontrast.data import build_dataset
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.builders.digit_on_image import grid_offsets
from kcontrast.data.sources.mnist5k import load_mnist5k


def _build(objects, **kwargs):
    args = dict(objects=objects, digits="mnist5k", num_unique_digits=20, grid=3,
                image_size=56, digit_size=14, seed=0)
    args.update(kwargs)
    return build_dataset("digit_on_image", **args)


def test_shapes_labels_and_the_drawn_digit_is_the_labelled_one(blank_objects, digit_classifier):
    ds = _build(blank_objects)
    mnist = load_mnist5k()
    assert ds.input_shape == (56, 56, 1)
    assert ds.num_classes == {"object": 10, "digit": 10}
    assert json.loads(json.dumps(ds.config))["num_unique_digits"] == 20
    offsets = grid_offsets(56, 14, 3)
    assert offsets == [8, 25, 42]  # 0.15 / 0.45 / 0.75 of 56, rounded
    for split, source in ((ds.train, mnist.train), (ds.test, mnist.test)):
        assert split.images.dtype == np.float32
        assert 0.0 <= split.images.min() and split.images.max() <= 1.0
        assert split.labels["digit"].dtype == np.int32 and split.labels["object"].dtype == np.int32
        # Bookkeeping: the label is the source label of the recorded digit,
        np.testing.assert_array_equal(split.labels["digit"], source.labels["label"][split.info["digit_index"]])
        # and every grid copy on the (blank) object is exactly that digit.
        digits = resize_images(source.images[split.info["digit_index"]], 14)
        for y in offsets:
            for x in offsets:
                np.testing.assert_allclose(split.images[:, y:y + 14, x:x + 14], digits, atol=1e-6)
    # Pixels alone: a classifier that never saw the test digits reads the labels.
    crops = ds.test.images[:, 25:39, 25:39]
    accuracy = (digit_classifier(crops) == ds.test.labels["digit"]).mean()
    assert accuracy > 0.8


def test_pool_and_heldout_test_digits(blank_objects):
    ds = _build(blank_objects, num_unique_digits=5)
    assert len(np.unique(ds.train.info["digit_index"])) == 5
    # Test digits come from mnist5k's test split: indices range over all of it.
    assert len(np.unique(ds.test.info["digit_index"])) > 5
    pooled = _build(blank_objects, num_unique_digits=5, test_digits="pool")
    assert set(pooled.test.info["digit_index"]) <= set(ds.train.info["digit_index"])


def test_deterministic_pairing_and_seed(blank_objects):
    a, b = _build(blank_objects, seed=3), _build(blank_objects, seed=3)
    c = _build(blank_objects, seed=4)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    np.testing.assert_array_equal(a.train.labels["digit"], b.train.labels["digit"])
    assert (a.train.info["digit_index"] != c.train.info["digit_index"]).any()


@pytest.mark.parametrize("merge", ["max", "add"])
def test_merge_over_an_object(merge, make_source):
    rng = np.random.default_rng(0)
    objects = make_source("noise", rng.uniform(0, 0.5, (20, 28, 28, 3)).astype(np.float32),
                          rng.uniform(0, 0.5, (10, 28, 28, 3)).astype(np.float32))
    ds = _build(objects, merge=merge, image_size=28, digit_size=7, digit_intensity=0.5, num_unique_digits=3)
    assert ds.input_shape == (28, 28, 3)
    digits = resize_images(load_mnist5k().train.images[ds.train.info["digit_index"]], 7) * 0.5
    obj = objects.train.images[ds.train.info["object_index"]]
    y = x = grid_offsets(28, 7, 3)[1]
    region, under = ds.train.images[:, y:y + 7, x:x + 7], obj[:, y:y + 7, x:x + 7]
    expected = np.maximum(under, digits) if merge == "max" else np.minimum(under + digits, 1.0)
    np.testing.assert_allclose(region, expected, atol=1e-6)
    # Between the copies the object shows through unchanged.
    np.testing.assert_allclose(ds.train.images[:, :4, :4], obj[:, :4, :4], atol=1e-6)


def test_errors(blank_objects):
    with pytest.raises(ValueError, match="num_unique_digits=4001"):
        _build(blank_objects, num_unique_digits=4001)
    with pytest.raises(ValueError, match="digit_size=60"):
        _build(blank_objects, digit_size=60)
    with pytest.raises(ValueError, match="digit_size=20"):
        _build(blank_objects, digit_size=20)  # 0.75 * 56 + 20 > 56
    with pytest.raises(ValueError, match="seed=-2"):
        _build(blank_objects, seed=-2)
    with pytest.raises(ValueError, match="merge='mean'"):
        _build(blank_objects, merge="mean")


def test_default_objects_are_fashion_mnist(fashion_mnist_dir):
    ds = build_dataset("digit_on_image", num_train=100, num_test=20, data_dir=fashion_mnist_dir)
    assert ds.config["objects"] == "fashion_mnist"
    assert ds.config["data_dir"] == fashion_mnist_dir
    assert ds.input_shape == (64, 64, 1)
    assert len(ds.train) == 100 and len(ds.test) == 20
    assert set(ds.train.labels) == {"object", "digit"}


def test_masks_separate_digit_ink_object_and_background(make_source):
    # Objects: a bright square on black, so object pixels are known exactly.
    objects = np.zeros((8, 56, 56, 1), np.float32)
    objects[:, 10:40, 12:44] = 0.3
    ds = _build(make_source("squares", objects, objects[:4]), num_unique_digits=3,
                num_train=None, num_test=None)
    mnist = load_mnist5k()
    offsets = grid_offsets(56, 14, 3)
    for split, source in ((ds.train, mnist.train), (ds.test, mnist.test)):
        masks = split.info["masks"]
        assert masks.dtype == np.uint8 and masks.shape == split.images.shape[:3]
        digits = resize_images(source.images[split.info["digit_index"]], 14)[..., 0]
        expected = np.zeros(masks.shape, np.uint8)
        expected[:, 10:40, 12:44] = 1
        for y in offsets:
            for x in offsets:
                region = expected[:, y:y + 14, x:x + 14]
                region[digits > 0.5] = 2
        np.testing.assert_array_equal(masks, expected)
    assert set(np.unique(ds.train.info["masks"])) == {0, 1, 2}


# ------------------------------------------------ per-epoch redraw, geometry
def _identity(images, seed):
    return images


def _epoch_labels(pipeline):
    return np.concatenate([y["digit"].numpy() for _, y in pipeline])


@pytest.mark.parametrize("merge", ["max", "add"])
def test_redraw_composites_the_canvases_the_builder_draws(merge, make_source):
    from kcontrast.data.builders.digit_on_image import DigitRedraw

    rng = np.random.default_rng(1)
    objects = make_source("noise", rng.uniform(0, 0.6, (24, 28, 28, 3)).astype(np.float32),
                          rng.uniform(0, 0.6, (8, 28, 28, 3)).astype(np.float32))
    ds = _build(objects, merge=merge, num_unique_digits=7, redraw=True,
                digit_intensity=0.7, num_train=None, num_test=None)
    redraw = ds.train.redraw
    assert isinstance(redraw, DigitRedraw) and ds.test.redraw is None
    assert ds.config["redraw"] is True
    index = np.arange(0, 24, 2)
    seed = np.array([3, 4], np.int64)
    images, labels = redraw(index, seed)
    draw = redraw.draw(index, seed).numpy()
    assert set(draw) <= set(range(7)) and len(set(draw)) > 1
    # The same canvases the builder draws in numpy, for the drawn pool digits.
    pool = np.unique(ds.train.info["digit_index"])
    mnist = load_mnist5k().train
    pool_ids = redraw.pool_index
    assert sorted(pool_ids) == sorted(pool)
    from kcontrast.data.builders.digit_on_image import _draw
    expected, _ = _draw(objects.train.images[index], None, resize_images(mnist.images, 14),
                        mnist.labels["label"], pool_ids[draw], grid_offsets(56, 14, 3),
                        merge, 0.7, 56)
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(labels["digit"].numpy(), mnist.labels["label"][pool_ids[draw]])


def test_redraw_gives_a_new_digit_every_epoch_deterministically(blank_objects, digit_classifier):
    from kcontrast.data.pipeline import pretrain_dataset

    fixed = _build(blank_objects, num_unique_digits=20)
    ds = _build(blank_objects, num_unique_digits=20, redraw=True)
    # The probes see the fixed first draw: the split's own arrays are unchanged.
    np.testing.assert_array_equal(ds.train.images, fixed.train.images)
    np.testing.assert_array_equal(ds.train.labels["digit"], fixed.train.labels["digit"])

    def pipeline(seed):
        return pretrain_dataset(ds.train, augment=_identity, batch_size=20, seed=seed,
                                shuffle=False)

    a, b = pipeline(5), pipeline(5)
    first, second = _epoch_labels(a), _epoch_labels(a)
    assert (first != second).mean() > 0.5          # a new pairing each epoch
    np.testing.assert_array_equal(first, _epoch_labels(b))   # same seed, same draws
    np.testing.assert_array_equal(second, _epoch_labels(b))
    assert (first != _epoch_labels(pipeline(6))).any()
    pool_labels = set(load_mnist5k().train.labels["label"][ds.train.info["digit_index"]])
    assert set(first) | set(second) <= set(range(10))
    # Both views hold the same digit, and it is the labelled one (read off
    # the pixels by a classifier that never sees the builder's bookkeeping).
    views, y = next(iter(pipeline(5)))
    v1, v2 = views["view1"].numpy(), views["view2"].numpy()
    np.testing.assert_array_equal(v1, v2)
    assert (digit_classifier(v1[:, 25:39, 25:39]) == y["digit"].numpy()).mean() > 0.8
    assert len(pool_labels) > 1
    # A split cut by head() keeps its redraw.
    assert ds.train.head(10).redraw is ds.train.redraw


def test_redraw_without_it_every_epoch_has_the_fixed_pairing(blank_objects):
    from kcontrast.data.pipeline import pretrain_dataset

    ds = _build(blank_objects, num_unique_digits=20)
    assert ds.train.redraw is None and ds.config["redraw"] is False
    p = pretrain_dataset(ds.train, augment=_identity, batch_size=20, shuffle=False)
    np.testing.assert_array_equal(_epoch_labels(p), ds.train.labels["digit"])
    np.testing.assert_array_equal(_epoch_labels(p), ds.train.labels["digit"])


def test_companion_geometry_puts_an_eighth_side_digit_on_a_3x3_grid(blank_objects):
    ds = _build(blank_objects, geometry="companion", image_size=64, grid=1, digit_size=30,
                num_unique_digits=5)
    assert ds.config["geometry"] == "companion"
    assert (ds.config["grid"], ds.config["digit_size"]) == (3, 8)
    offsets = grid_offsets(64, 8, 3)
    assert offsets == [10, 29, 48]  # 0.15 / 0.45 / 0.75 of 64
    digits = resize_images(load_mnist5k().train.images[ds.train.info["digit_index"]], 8)
    for y in offsets:
        for x in offsets:
            np.testing.assert_allclose(ds.train.images[:, y:y + 8, x:x + 8], digits, atol=1e-6)
    # Ink only inside the nine copies.
    inside = np.zeros((64, 64), bool)
    for y in offsets:
        for x in offsets:
            inside[y:y + 8, x:x + 8] = True
    assert ds.train.images[:, ~inside].max() == 0.0
    assert _build(blank_objects, geometry="companion", image_size=224,
                  num_train=2, num_test=2).config["digit_size"] == 28


def test_redraw_and_geometry_errors(blank_objects):
    with pytest.raises(ValueError, match="geometry='paper'"):
        _build(blank_objects, geometry="paper")
    with pytest.raises(ValueError, match="redraw='yes'"):
        _build(blank_objects, redraw="yes")
