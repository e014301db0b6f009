import numpy as np
import tensorflow as tf

from kcontrast.data.augment.blur import gaussian_blur
from kcontrast.data.augment.blur import random_gaussian_blur


def _reference_blur(image, sigma, k):
    # Slow reference: separable Gaussian, reflect padding, one image at a time.
    r = k // 2
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
    h, w, _ = image.shape
    rows = sum(kernel[i] * padded[:, i:i + w] for i in range(k))
    return sum(kernel[i] * rows[i:i + h] for i in range(k))


def test_matches_reference_per_example_sigma():
    x = tf.random.stateless_uniform((3, 12, 10, 3), [0, 0])
    sigma = np.array([0.3, 1.0, 2.5], np.float32)
    out = gaussian_blur(x, tf.constant(sigma), 5).numpy()
    for i in range(3):
        np.testing.assert_allclose(out[i], _reference_blur(x.numpy()[i], sigma[i], 5), atol=1e-5)


def test_constant_image_stays_constant_and_probability():
    x = tf.fill((8, 16, 16, 1), 0.7)
    np.testing.assert_allclose(random_gaussian_blur(x, tf.constant([1, 1]), 1.0).numpy(), 0.7, atol=1e-5)
    noise = tf.random.stateless_uniform((8, 16, 16, 3), [1, 0])
    np.testing.assert_array_equal(random_gaussian_blur(noise, tf.constant([1, 1]), 0.0).numpy(), noise.numpy())
    blurred = random_gaussian_blur(noise, tf.constant([1, 1]), 1.0, sigma=(1.0, 2.0)).numpy()
    assert (blurred.std(axis=(1, 2, 3)) < noise.numpy().std(axis=(1, 2, 3))).all()
