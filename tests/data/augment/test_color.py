import numpy as np
import pytest
import tensorflow as tf

from kcontrast.data.augment import color


def _images(shape=(6, 5, 7, 3), seed=0):
    return tf.random.stateless_uniform(shape, [seed, 1])


def _saturate(images, factor):
    """The saturation step of the jitter: gray + factor * (x - gray)."""
    return color.apply_color_matrix(images, color.saturation_matrix(factor))


def _rotate_hue(images, delta):
    """The hue step of the jitter: a rotation about the gray axis by delta turns."""
    return color.apply_color_matrix(images, color.hue_matrix(delta))


def test_saturation_zero_is_luma_one_is_identity():
    x = _images()
    gray = _saturate(x, tf.zeros(6)).numpy()
    luma = (x.numpy() * color.LUMA).sum(-1, keepdims=True)
    np.testing.assert_allclose(gray, np.broadcast_to(luma, gray.shape), atol=1e-5)
    np.testing.assert_allclose(_saturate(x, tf.ones(6)).numpy(), x.numpy(), atol=1e-5)


def test_hue_full_turn_is_identity_keeps_luma_and_grays():
    x = _images()
    np.testing.assert_allclose(_rotate_hue(x, tf.zeros(6)).numpy(), x.numpy(), atol=1e-5)
    np.testing.assert_allclose(_rotate_hue(x, tf.ones(6)).numpy(), x.numpy(), atol=1e-5)
    # Mid-range colours (no clipping): the rotation keeps each pixel's mean.
    mid = 0.4 + 0.2 * x
    shifted = _rotate_hue(mid, tf.fill([6], 0.3)).numpy()
    np.testing.assert_allclose(shifted.mean(-1), mid.numpy().mean(-1), atol=1e-5)
    assert np.abs(shifted - mid.numpy()).max() > 0.01
    gray = tf.tile(x[..., :1], [1, 1, 1, 3])
    np.testing.assert_allclose(_rotate_hue(gray, tf.fill([6], 0.3)).numpy(), gray.numpy(), atol=1e-5)


def test_hue_third_turn_equals_the_hsv_shift():
    x = _images()
    ours = _rotate_hue(x, tf.fill([6], 1 / 3)).numpy()
    np.testing.assert_allclose(ours, tf.image.adjust_hue(x, 1 / 3).numpy(), atol=1e-5)
    np.testing.assert_allclose(ours, np.roll(x.numpy(), 1, axis=-1), atol=1e-5)


def test_hue_shift_moves_a_primary_towards_the_next():
    red = tf.constant([[[[0.8, 0.2, 0.2]]]])
    out = _rotate_hue(red, tf.constant([0.25])).numpy()[0, 0, 0]
    assert out[1] == out.max()  # A quarter turn takes red most of the way to green.


def test_brightness_and_contrast_match_numpy():
    x = _images()
    f = tf.constant([0.5, 1.0, 1.5, 0.2, 1.8, 1.1])
    np.testing.assert_allclose(
        color.adjust_brightness(x, f).numpy(), np.clip(x.numpy() * f.numpy()[:, None, None, None], 0, 1), atol=1e-6
    )
    mean = x.numpy().mean(axis=(1, 2), keepdims=True)
    expected = np.clip((x.numpy() - mean) * f.numpy()[:, None, None, None] + mean, 0, 1)
    np.testing.assert_allclose(color.adjust_contrast(x, f).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("channels", [1, 3])
def test_jitter_range_determinism_and_probability(channels):
    x = _images((64, 8, 8, channels))
    seed = tf.constant([4, 2])
    a = color.color_jitter(x, seed, strength=1.0).numpy()
    b = color.color_jitter(x, seed, strength=1.0).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.shape == x.shape
    changed = np.abs(a - x.numpy()).max(axis=(1, 2, 3)) > 1e-4
    assert 0.5 < changed.mean() < 1.0  # p=0.8 of the examples
    none = color.color_jitter(x, seed, strength=1.0, probability=0.0).numpy()
    np.testing.assert_allclose(none, x.numpy(), atol=1e-5)


def test_random_order_differs_from_fixed_order():
    x = _images((64, 4, 4, 3))
    seed = tf.constant([1, 2])
    a = color.color_jitter(x, seed, 1.0, 1.0, random_order=True).numpy()
    b = color.color_jitter(x, seed, 1.0, 1.0, random_order=False).numpy()
    assert np.abs(a - b).max() > 1e-3


def test_grayscale_probability_one_and_zero():
    x = _images()
    gray = color.random_grayscale(x, tf.constant([0, 0]), 1.0).numpy()
    luma = (x.numpy() * color.LUMA).sum(-1)
    for c in range(3):
        np.testing.assert_allclose(gray[..., c], luma, atol=1e-5)
    np.testing.assert_array_equal(color.random_grayscale(x, tf.constant([0, 0]), 0.0).numpy(), x.numpy())
    one = _images((6, 5, 7, 1))
    np.testing.assert_array_equal(color.random_grayscale(one, tf.constant([0, 0]), 1.0).numpy(), one.numpy())


def test_solarize():
    x = _images()
    out = color.random_solarize(x, tf.constant([0, 0]), probability=1.0).numpy()
    np.testing.assert_allclose(out, np.where(x.numpy() >= 0.5, 1 - x.numpy(), x.numpy()))
