"""Per-example colour ops for SimCLR: jitter, grayscale, solarization.

All ops take float32 [B, H, W, C] in [0, 1] (C = 1 or 3) and an int tensor
seed [2], draw one random value per example with stateless ops, and return
the same shape, clipped to [0, 1]. Grayscale inputs (C = 1) go through
brightness and contrast; saturation, hue and grayscale leave them unchanged.

Speed: brightness, saturation, hue and grayscale are linear maps of the RGB
vector, so each is a per-example 3x3 matrix applied with one batched einsum.
Hue is a rotation of the RGB cube about its gray diagonal by 2*pi*delta: it
keeps grays and each pixel's channel mean, moves colours in the HSV hue
direction, and equals the HSV hue shift at multiples of 1/3 turn (channel
permutations). In between it is an approximation of the HSV shift that
SimCLR uses (per-pixel differences are of the order of the shift itself for
small deltas), chosen because `tf.image.rgb_to_hsv` + `hsv_to_rgb` cost ~45 ms
per 256x32x32x3 batch here (~2 ms for the matrix), too slow to feed training. Saturation blends with the luma
image (gray + f * (x - gray)), as torchvision does.

Why not the Keras core layers (RandomColorJitter, RandomGrayscale,
Solarization): they draw from a stateful SeedGenerator, so they cannot be keyed
to a per-batch seed and are not reproducible under a parallel tf.data map;
RandomColorJitter also applies its ops always and in a fixed order, whereas
SimCLR applies jitter with p=0.8 in a random order per example.

>>> import tensorflow as tf
>>> x = tf.random.uniform((4, 8, 8, 3))
>>> color_jitter(x, tf.constant([0, 1]), strength=0.5).shape
TensorShape([4, 8, 8, 3])
"""

import math

import numpy as np
import tensorflow as tf

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _uniform(batch, seed, low=0.0, high=1.0):
    return tf.random.stateless_uniform(tf.reshape(batch, [1]), seed, low, high)


def apply_color_matrix(images, matrix):
    """x'[b, h, w, :] = matrix[b] @ x[b, h, w, :], clipped to [0, 1]."""
    out = tf.einsum("bhwc,bdc->bhwd", images, matrix)
    return tf.clip_by_value(out, 0.0, 1.0)


def brightness_matrix(factor):
    """[B] -> [B, 3, 3]: multiply by factor."""
    return factor[:, None, None] * tf.eye(3)


def saturation_matrix(factor):
    """[B] -> [B, 3, 3]: gray + factor * (x - gray)."""
    to_gray = tf.ones((3, 1)) * tf.constant(LUMA)[None, :]
    f = factor[:, None, None]
    return f * tf.eye(3) + (1.0 - f) * to_gray


def hue_matrix(delta):
    """[B] -> [B, 3, 3]: rotate RGB about the gray axis by 2*pi*delta.

    Rodrigues' rotation about u = (1, 1, 1) / sqrt(3): M = cos(a) I +
    sin(a) [u]x + (1 - cos(a)) u u^T. A third of a turn permutes the channels
    (R -> G -> B), exactly as an HSV hue shift of 1/3 does; grays stay put.
    """
    angle = 2.0 * math.pi * delta
    c, s = tf.cos(angle)[:, None, None], tf.sin(angle)[:, None, None]
    u = np.full(3, 1.0 / math.sqrt(3.0), np.float32)
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], np.float32)
    outer = np.outer(u, u).astype(np.float32)
    return c * tf.eye(3) + s * tf.constant(cross) + (1.0 - c) * tf.constant(outer)


def grayscale_matrix(apply):
    """bool [B] -> [B, 3, 3]: luma in every channel where apply, else identity."""
    to_gray = tf.ones((3, 1)) * tf.constant(LUMA)[None, :]
    return tf.where(apply[:, None, None], to_gray, tf.eye(3))


def adjust_brightness(images, factor):
    """Multiplies example i by factor[i] (SimCLR v2's multiplicative brightness)."""
    return tf.clip_by_value(images * factor[:, None, None, None], 0.0, 1.0)


def adjust_contrast(images, factor):
    """Scales each channel's deviation from its per-image mean by factor [B]."""
    mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
    out = (images - mean) * factor[:, None, None, None] + mean
    return tf.clip_by_value(out, 0.0, 1.0)


def _affine(images, matrix, bias):
    """clip(matrix[b] @ x + bias[b], 0, 1) per pixel."""
    out = tf.einsum("bhwc,bdc->bhwd", images, matrix) + bias[:, None, None, :]
    return tf.clip_by_value(out, 0.0, 1.0)


def _color_jitter(images, seed, strength, probability, random_order):
    b = tf.shape(images)[0]
    rgb = images.shape[-1] == 3
    seeds = tf.random.experimental.stateless_split(seed, 6)
    apply = _uniform(b, seeds[0]) < probability
    jitter = 0.8 * strength
    low = max(0.0, 1.0 - jitter)
    brightness = _uniform(b, seeds[1], low, 1.0 + jitter)
    contrast = _uniform(b, seeds[2], low, 1.0 + jitter)
    saturation = _uniform(b, seeds[3], low, 1.0 + jitter)
    hue = _uniform(b, seeds[4], -0.2 * strength, 0.2 * strength)
    if random_order:
        # order[:, p] is the op (0 brightness, 1 contrast, 2 saturation, 3 hue)
        # applied at position p to each example.
        order = tf.argsort(tf.random.stateless_uniform(tf.stack([b, 4]), seeds[5]), axis=1)
    else:
        order = tf.tile(tf.range(4)[None], tf.stack([b, 1]))
    for position in range(4):
        op = tf.where(apply, order[:, position], -1)
        if rgb:
            # One affine map per example and position: brightness, saturation
            # and hue are 3x3 matrices; contrast f * x + (1 - f) * mean is the
            # matrix f * I plus a per-channel bias; the others are identity.
            f = tf.where(tf.equal(op, 1), contrast, 1.0)[:, None, None]
            matrix = tf.where(
                tf.equal(op, 0)[:, None, None], brightness_matrix(brightness),
                tf.where(
                    tf.equal(op, 2)[:, None, None], saturation_matrix(saturation),
                    tf.where(tf.equal(op, 3)[:, None, None], hue_matrix(hue), f * tf.eye(3)),
                ),
            )
            bias = (1.0 - f[:, :, 0]) * tf.reduce_mean(images, axis=[1, 2])
            images = _affine(images, matrix, bias)
        else:
            images = adjust_brightness(images, tf.where(tf.equal(op, 0), brightness, 1.0))
            images = adjust_contrast(images, tf.where(tf.equal(op, 1), contrast, 1.0))
    return images


def color_jitter(images, seed, strength=1.0, probability=0.8, random_order=True):
    """SimCLR colour jitter of strength s, per example.

    Brightness, contrast and saturation factors ~ U[max(0, 1 - 0.8s), 1 + 0.8s],
    hue delta ~ U[-0.2s, 0.2s]; an example is jittered with `probability`, its
    four ops in a random order (or brightness, contrast, saturation, hue).
    Values are clipped to [0, 1] after every op.

    Args:
        images: float32 [B, H, W, C] in [0, 1], C = 1 or 3.
        seed: int tensor [2].
        strength: s >= 0.
        probability: chance that an example is jittered at all.
        random_order: shuffle the four ops per example.

    Returns:
        float32 [B, H, W, C] in [0, 1].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    return _color_jitter(images, seed, float(strength), float(probability), bool(random_order))


def random_grayscale(images, seed, probability=0.2):
    """Replaces an example by its luma (kept as 3 channels) with `probability`."""
    if images.shape[-1] == 1 or probability <= 0:
        return images
    apply = _uniform(tf.shape(images)[0], seed) < probability
    return apply_color_matrix(images, grayscale_matrix(apply))


def random_solarize(images, seed, probability=0.0, threshold=0.5):
    """Inverts pixels >= threshold (x -> 1 - x) in an example with `probability`."""
    if probability <= 0:
        return images
    apply = _uniform(tf.shape(images)[0], seed) < probability
    solarized = tf.where(images >= threshold, 1.0 - images, images)
    return tf.where(apply[:, None, None, None], solarized, images)
