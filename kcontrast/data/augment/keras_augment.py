"""The SimCLR view from Keras 3 core preprocessing layers, for tf.data.

An alternative to `kcontrast.data.augment.simclr.SimCLRAugment` for users who prefer
Keras' layers: RandomBrightness, RandomContrast, RandomSaturation, RandomHue
(colour jitter), RandomGrayscale, RandomGaussianBlur and Solarization. The
random resized crop (and flip) stays `kcontrast.data.augment.random_resized_crop`,
because Keras core has no random *resized* crop. Inside tf.data, Keras runs
these layers with TensorFlow ops whatever KERAS_BACKEND is (its DataLayer
switches backend in a tf graph); tests check tensorflow, jax and torch.

Differences from `SimCLRAugment` (why the stateless version is the default):
- randomness comes from each layer's stateful SeedGenerator, seeded at
  construction, so the augmentation is reproducible only when batches pass
  through it in order: it sets `stateful = True` and `pretrain_dataset` then
  maps it without parallelism (slower). Build a new object per pipeline.
- the jitter ops run in a fixed order (brightness, contrast, saturation,
  hue), not a random one; each layer has its own seed (RandomColorJitter
  would give its four sub-layers the same seed, correlating the factors).
- brightness is additive (Keras' RandomBrightness, as in SimCLR v1); the
  blur sigma is drawn once per batch (RandomGaussianBlur), not per example.
The jitter probability p is applied per example on top of the layers.

>>> import tensorflow as tf
>>> aug = KerasSimCLRAugment(seed=0)  # doctest: +SKIP
>>> aug(tf.random.uniform((4, 32, 32, 3)), tf.constant([0, 1])).shape  # doctest: +SKIP
TensorShape([4, 32, 32, 3])
"""

import tensorflow as tf

from kcontrast.data.augment.random_resized_crop import random_resized_crop


class KerasSimCLRAugment:
    """`aug(images [B, H, W, C] in [0, 1], seed [2]) -> images`, Keras layers inside.

    `seed` (the per-batch seed) drives the crop, the flip and the per-example
    jitter probability; the layers use their own generators seeded from
    `seed` given here at construction.
    """

    stateful = True

    def __init__(self, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3), flip=True,
                 jitter_strength=0.5, jitter_probability=0.8, grayscale_probability=0.2,
                 blur_probability=0.0, blur_sigma=(0.1, 2.0), blur_kernel_size=3,
                 solarize_probability=0.0, seed=0):
        from keras import layers

        if not 0.0 <= jitter_strength <= 1.0:
            raise ValueError(
                f"Expected jitter_strength in [0, 1]; Received: jitter_strength={jitter_strength}"
            )
        self.crop_scale, self.crop_ratio, self.flip = crop_scale, crop_ratio, flip
        self.jitter_probability = jitter_probability
        s = jitter_strength
        low, high = max(0.0, 1.0 - 0.8 * s), 1.0 + 0.8 * s
        unit = (0.0, 1.0)
        self.jitter = [
            layers.RandomBrightness(0.8 * s, value_range=unit, seed=seed),
            layers.RandomContrast(0.8 * s, value_range=unit, seed=seed + 1),
            # Keras' saturation factor f scales saturation by f / (1 - f).
            layers.RandomSaturation((low / (1 + low), high / (1 + high)), value_range=unit, seed=seed + 2),
            # Keras' hue shift is +-factor / 2 of a turn.
            layers.RandomHue((0.0, 0.4 * s), value_range=unit, seed=seed + 3),
        ] if s > 0 else []
        self.grayscale = (layers.RandomGrayscale(grayscale_probability, seed=seed + 4)
                          if grayscale_probability > 0 else None)
        self.blur = (layers.RandomGaussianBlur((blur_probability, blur_probability), blur_kernel_size,
                                               blur_sigma, value_range=unit, seed=seed + 5)
                     if blur_probability > 0 else None)
        self.solarize = (layers.Solarization(threshold_factor=(0.5, 0.5), value_range=unit, seed=seed + 6)
                         if solarize_probability > 0 else None)
        self.solarize_probability = solarize_probability

    def _where(self, probability, seed, new, old):
        draw = tf.random.stateless_uniform(tf.shape(old)[:1], seed)
        return tf.where((draw < probability)[:, None, None, None], new, old)

    def __call__(self, images, seed):
        images = tf.convert_to_tensor(images, tf.float32)
        seeds = tf.random.experimental.stateless_split(seed, 3)
        if self.crop_scale is not None:
            images = random_resized_crop(images, seeds[0], self.crop_scale, self.crop_ratio, flip=self.flip)
        rgb = images.shape[-1] == 3
        if self.jitter:
            jittered = images
            for layer in self.jitter if rgb else self.jitter[:2]:
                jittered = layer(jittered, training=True)
            images = self._where(self.jitter_probability, seeds[1], jittered, images)
        if self.grayscale is not None and rgb:
            images = self.grayscale(images, training=True)
        if self.blur is not None:
            images = self.blur(images, training=True)
        if self.solarize is not None:
            images = self._where(self.solarize_probability, seeds[2], self.solarize(images, training=True), images)
        return tf.clip_by_value(images, 0.0, 1.0)
