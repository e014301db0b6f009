"""Per-example Gaussian blur with stateless randomness, vectorised.

Each example gets its own sigma ~ U[sigma_min, sigma_max] (pixels) and is
blurred with probability p by a separable kernel of odd size (default: about
10% of the image side, as in SimCLR), reflect-padded. The per-example kernels
run as one depthwise convolution: the batch is folded into the channels.

Why not Keras' RandomGaussianBlur: it draws one sigma per batch (not per
example) from a stateful SeedGenerator.

>>> import tensorflow as tf
>>> random_gaussian_blur(tf.ones((2, 16, 16, 3)), tf.constant([0, 1]), 1.0).shape
TensorShape([2, 16, 16, 3])
"""

import tensorflow as tf


def gaussian_blur(images, sigma, kernel_size):
    """Blurs example i of images [B, H, W, C] with sigma[i] (pixels)."""
    radius = kernel_size // 2
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x[None, :] / sigma[:, None]))  # [B, K]
    kernel = kernel / tf.reduce_sum(kernel, axis=1, keepdims=True)
    shape = tf.shape(images)
    b, h, w, c = shape[0], shape[1], shape[2], shape[3]
    # Fold the batch into channels: [1, H, W, B*C], channel index = i*C + ch.
    folded = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), tf.stack([1, h, w, b * c]))
    per_channel = tf.reshape(tf.repeat(kernel, c, axis=0), tf.stack([b * c, kernel_size]))
    kx = tf.reshape(tf.transpose(per_channel), tf.stack([1, kernel_size, b * c, 1]))
    ky = tf.reshape(tf.transpose(per_channel), tf.stack([kernel_size, 1, b * c, 1]))
    pad = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
    folded = tf.pad(folded, pad, mode="REFLECT")
    folded = tf.nn.depthwise_conv2d(folded, kx, [1, 1, 1, 1], "VALID")
    folded = tf.nn.depthwise_conv2d(folded, ky, [1, 1, 1, 1], "VALID")
    out = tf.transpose(tf.reshape(folded, tf.stack([h, w, b, c])), [2, 0, 1, 3])
    return tf.ensure_shape(out, images.shape)


def random_gaussian_blur(images, seed, probability=0.5, sigma=(0.1, 2.0), kernel_size=None):
    """Blurs each example with `probability`, sigma ~ U[sigma] per example.

    Args:
        images: float32 [B, H, W, C].
        seed: int tensor [2].
        probability: chance to blur an example.
        sigma: (min, max) standard deviation in pixels.
        kernel_size: odd int; default max(3, side // 10) made odd. Must be
            smaller than 2 * min(H, W) - 1 for the reflect padding.
    """
    if probability <= 0:
        return images
    if kernel_size is None:
        side = min(int(images.shape[1]), int(images.shape[2]))
        kernel_size = max(3, side // 10)
    kernel_size = int(kernel_size) | 1
    seeds = tf.random.experimental.stateless_split(seed, 2)
    b = tf.shape(images)[0]
    apply = tf.random.stateless_uniform(tf.reshape(b, [1]), seeds[0]) < probability
    s = tf.random.stateless_uniform(tf.reshape(b, [1]), seeds[1], sigma[0], sigma[1])
    blurred = gaussian_blur(images, s, kernel_size)
    return tf.clip_by_value(tf.where(apply[:, None, None, None], blurred, images), 0.0, 1.0)
