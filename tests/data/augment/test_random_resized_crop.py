import numpy as np
import tensorflow as tf

from kcontrast.data.augment.random_resized_crop import random_resized_crop
from kcontrast.data.augment.random_resized_crop import sample_boxes


def test_boxes_lie_inside_and_respect_scale_and_ratio():
    boxes = sample_boxes(2000, 28, 40, tf.constant([3, 4]), scale=(0.5, 1.0), ratio=(0.75, 4 / 3)).numpy()
    y0, x0, y1, x1 = boxes.T
    assert (boxes >= 0).all() and (boxes <= 1 + 1e-6).all()
    assert (y1 > y0).all() and (x1 > x0).all()
    area = (y1 - y0) * (x1 - x0)
    full = np.isclose(area, 1.0)  # examples that fell back to the whole image
    assert full.mean() < 0.2
    assert (area[~full] >= 0.5 - 1e-5).all() and (area[~full] <= 1 + 1e-5).all()
    pixel_ratio = ((x1 - x0) * 40) / ((y1 - y0) * 28)
    assert (pixel_ratio[~full] >= 0.75 - 1e-4).all() and (pixel_ratio[~full] <= 4 / 3 + 1e-4).all()


def test_full_box_is_identity_and_seed_is_deterministic():
    x = tf.random.stateless_uniform((4, 28, 28, 1), [0, 0])
    same = random_resized_crop(x, tf.constant([1, 1]), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_allclose(same.numpy(), x.numpy(), atol=1e-5)
    a = random_resized_crop(x, tf.constant([5, 6])).numpy()
    b = random_resized_crop(x, tf.constant([5, 6])).numpy()
    c = random_resized_crop(x, tf.constant([5, 7])).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    assert a.shape == (4, 28, 28, 1)


def test_crop_shows_the_boxed_region():
    # A horizontal ramp: the crop's mean column value equals the box centre.
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32)[None, None, :, None], (16, 64, 1, 1))
    seed = tf.constant([9, 9])
    boxes = sample_boxes(16, 64, 64, seed, (0.5, 1.0), (0.75, 4 / 3)).numpy()
    out = random_resized_crop(ramp, seed, (0.5, 1.0), (0.75, 4 / 3)).numpy()
    centre = (boxes[:, 1] + boxes[:, 3]) / 2
    np.testing.assert_allclose(out.mean(axis=(1, 2, 3)), centre, atol=1e-3)


def test_flip_rides_on_the_box():
    x = tf.random.stateless_uniform((64, 12, 12, 1), [0, 5])
    seed = tf.constant([3, 3])
    plain = random_resized_crop(x, seed, (1.0, 1.0), (1.0, 1.0)).numpy()
    flipped = random_resized_crop(x, seed, (1.0, 1.0), (1.0, 1.0), flip=True).numpy()
    mirrored = np.all(np.isclose(flipped, plain[:, :, ::-1], atol=1e-5), axis=(1, 2, 3))
    same = np.all(np.isclose(flipped, plain, atol=1e-5), axis=(1, 2, 3))
    assert (mirrored | same).all()
    assert 0.2 < mirrored.mean() < 0.8
