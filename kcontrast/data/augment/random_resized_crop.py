"""Random resized crop, vectorised over a batch with stateless randomness.

Why `tf.image` and not a Keras layer: Keras 3 core has no random *resized*
crop (RandomCrop crops a fixed size) and keras-cv's RandomResizedCrop draws from
a stateful generator, so a batch cannot be tied to a per-batch seed. Here each
example gets its own box (area fraction in `scale`, aspect ratio w/h in
`ratio`, log-uniform), drawn with `tf.random.stateless_uniform` from the
given seed, and one `tf.image.crop_and_resize` call crops and resizes the whole
batch back to (H, W).

Box sampling follows the usual rule: up to `attempts` candidates per example,
the first that fits inside the image wins; an example with no fitting
candidate keeps the whole image.

>>> import tensorflow as tf
>>> x = tf.random.uniform((8, 28, 28, 1))
>>> random_resized_crop(x, seed=tf.constant([1, 2])).shape
TensorShape([8, 28, 28, 1])
"""

import math

import tensorflow as tf


def sample_boxes(batch_size, height, width, seed, scale=(0.5, 1.0),
                 ratio=(3 / 4, 4 / 3), attempts=10):
    """Samples normalized crop boxes [B, 4] (y0, x0, y1, x1) in [0, 1].

    Args:
        batch_size, height, width: int or scalar int tensors.
        seed: int tensor [2] for the stateless ops.
        scale: (min, max) area of the crop as a fraction of the image.
        ratio: (min, max) aspect ratio (width / height) of the crop in pixels.
        attempts: candidates per example.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    shape = tf.stack([batch_size, attempts])
    area = tf.random.stateless_uniform(shape, seeds[0], scale[0], scale[1])
    log_r = tf.random.stateless_uniform(
        shape, seeds[1], math.log(ratio[0]), math.log(ratio[1])
    )
    r = tf.exp(log_r)
    aspect = tf.cast(width, tf.float32) / tf.cast(height, tf.float32)
    # Crop of area a*H*W pixels with w/h = r: w = sqrt(a*H*W*r), h = sqrt(a*H*W/r);
    # as fractions of W and H: fw = sqrt(a*r/aspect), fh = sqrt(a*aspect/r).
    fw = tf.sqrt(area * r / aspect)
    fh = tf.sqrt(area * aspect / r)
    fits = tf.logical_and(fw <= 1.0, fh <= 1.0)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)
    any_fit = tf.reduce_any(fits, axis=1)
    fw = tf.where(any_fit, tf.gather(fw, first, batch_dims=1), 1.0)
    fh = tf.where(any_fit, tf.gather(fh, first, batch_dims=1), 1.0)
    offsets = tf.random.stateless_uniform(tf.stack([batch_size, 2]), seeds[2])
    y0 = offsets[:, 0] * (1.0 - fh)
    x0 = offsets[:, 1] * (1.0 - fw)
    return tf.stack([y0, x0, y0 + fh, x0 + fw], axis=1)


def random_resized_crop(images, seed, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3),
                        size=None, attempts=10, flip=False):
    """Crops a random box per example and resizes it (bilinear).

    Args:
        images: float32 [B, H, W, C].
        seed: int tensor [2].
        scale, ratio, attempts: see `sample_boxes`.
        size: output (H', W'); default the input (H, W).
        flip: also flip each crop left-right with p=0.5, for free: the box's
            x0 and x1 are swapped, which `crop_and_resize` reads as a flip.

    Returns:
        float32 [B, H', W', C].
    """
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    if size is None:
        size = (images.shape[1], images.shape[2])
        if size[0] is None or size[1] is None:
            size = tf.stack([h, w])
    boxes = sample_boxes(b, h, w, seed, scale, ratio, attempts)
    if flip:
        flip_seed = tf.random.experimental.stateless_fold_in(seed, 1)
        flipped = tf.random.stateless_uniform(tf.reshape(b, [1]), flip_seed) < 0.5
        y0, x0, y1, x1 = tf.unstack(boxes, axis=1)
        boxes = tf.stack(
            [y0, tf.where(flipped, x1, x0), y1, tf.where(flipped, x0, x1)], axis=1
        )
    return tf.image.crop_and_resize(
        images, boxes, tf.range(b), size, method="bilinear"
    )
