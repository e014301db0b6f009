"""The SimCLR augmentation, composed from per-example stateless ops.

Order, per view and per example: random resized crop (back to the input
size) -> horizontal flip -> colour jitter (p, random order) -> grayscale ->
Gaussian blur -> solarization. Each stage gets its own seed split from the
view's seed, so a view is a pure function of (images, seed).

>>> import tensorflow as tf
>>> aug = SimCLRAugment(**PRESETS["cifar"])
>>> aug(tf.random.uniform((4, 32, 32, 3)), tf.constant([0, 1])).shape
TensorShape([4, 32, 32, 3])
"""

import dataclasses

import tensorflow as tf

from kcontrast import checks
from kcontrast.data.augment.blur import random_gaussian_blur
from kcontrast.data.augment.color import color_jitter
from kcontrast.data.augment.color import random_grayscale
from kcontrast.data.augment.color import random_solarize
from kcontrast.data.augment.random_resized_crop import random_resized_crop


@dataclasses.dataclass(frozen=True)
class SimCLRAugment:
    """A configurable SimCLR view: `aug(images [B,H,W,C], seed [2]) -> images`.

    Attributes:
        crop_scale: (min, max) crop area fraction; None disables cropping.
        crop_ratio: (min, max) crop aspect ratio (w / h).
        flip: random horizontal flip with p=0.5.
        jitter_strength: s; 0 disables colour jitter.
        jitter_probability: chance to jitter an example.
        grayscale_probability: chance to turn an example gray.
        blur_probability: chance to blur an example (sigma U[blur_sigma]).
        blur_sigma: (min, max) sigma in pixels.
        solarize_probability: chance to solarize an example.
    """

    crop_scale: tuple | None = (0.08, 1.0)
    crop_ratio: tuple = (3 / 4, 4 / 3)
    flip: bool = True
    jitter_strength: float = 1.0
    jitter_probability: float = 0.8
    grayscale_probability: float = 0.2
    blur_probability: float = 0.0
    blur_sigma: tuple = (0.1, 2.0)
    solarize_probability: float = 0.0

    def __post_init__(self):
        for name in ("jitter_probability", "grayscale_probability",
                     "blur_probability", "solarize_probability"):
            checks.check_in_range(getattr(self, name), name, 0, 1)
        checks.check_non_negative(self.jitter_strength, "jitter_strength")
        if self.crop_scale is not None and not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            raise ValueError(
                f"Expected 0 < crop_scale[0] <= crop_scale[1] <= 1; Received: crop_scale={self.crop_scale}"
            )

    def __call__(self, images, seed):
        images = tf.convert_to_tensor(images, tf.float32)
        seeds = tf.random.experimental.stateless_split(seed, 6)
        if self.crop_scale is not None:
            # The flip rides on the crop box (x0 and x1 swapped): no extra pass.
            images = random_resized_crop(
                images, seeds[0], self.crop_scale, self.crop_ratio, flip=self.flip
            )
        elif self.flip:
            b = tf.shape(images)[0]
            flip = tf.random.stateless_uniform(tf.reshape(b, [1]), seeds[1]) < 0.5
            images = tf.where(flip[:, None, None, None], tf.reverse(images, [2]), images)
        if self.jitter_strength > 0 and self.jitter_probability > 0:
            images = color_jitter(images, seeds[2], self.jitter_strength, self.jitter_probability)
        images = random_grayscale(images, seeds[3], self.grayscale_probability)
        images = random_gaussian_blur(images, seeds[4], self.blur_probability, self.blur_sigma)
        images = random_solarize(images, seeds[5], self.solarize_probability)
        return images

    def get_config(self):
        return dataclasses.asdict(self)


PRESETS = {
    # SimCLR's CIFAR-10 recipe: crop 0.08-1, flip, jitter s=0.5, gray p=0.2, no blur.
    "cifar": dict(crop_scale=(0.08, 1.0), jitter_strength=0.5, blur_probability=0.0),
    # SimCLR's ImageNet recipe: as above with s=1.0 and blur p=0.5.
    "imagenet": dict(crop_scale=(0.08, 1.0), jitter_strength=1.0, blur_probability=0.5),
}
