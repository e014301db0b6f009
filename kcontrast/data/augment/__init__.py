"""Augmentation presets: per-view, per-example, stateless, vectorised.

Modules: `random_resized_crop`, `color` (jitter, grayscale, solarize),
`blur`, and `simclr` (the SimCLR view composed from them).

An augmentation is a callable `fn(images, seed) -> images` on float32
[B, H, W, C] in [0, 1] with an int tensor seed [2]; the same seed gives the
same output. `make_augmentation(name)` returns a preset from `AUGMENTATIONS`:

- "companion": the RandBits companion code: random crop (area 0.5-1, aspect
  3/4-4/3) resized back to the input size, nothing else.
- "cifar": SimCLR on CIFAR (crop 0.08-1, flip, jitter s=0.5 p=0.8, gray 0.2).
- "imagenet": SimCLR on ImageNet (as cifar with s=1.0, blur p=0.5).
- "none": identity.

>>> import tensorflow as tf
>>> aug = make_augmentation("companion")
>>> aug(tf.zeros((4, 28, 28, 1)), tf.constant([0, 1])).shape
TensorShape([4, 28, 28, 1])
"""

from kcontrast.data.augment.random_resized_crop import random_resized_crop
from kcontrast.data.augment.simclr import PRESETS
from kcontrast.data.augment.simclr import SimCLRAugment


def companion(images, seed):
    """Random crop (area 0.5-1, aspect 3/4-4/3) resized to the input size."""
    return random_resized_crop(images, seed, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3))


def identity(images, seed):
    """No augmentation."""
    del seed
    return images


AUGMENTATIONS = {
    "companion": lambda: companion,
    "cifar": lambda: SimCLRAugment(**PRESETS["cifar"]),
    "imagenet": lambda: SimCLRAugment(**PRESETS["imagenet"]),
    "none": lambda: identity,
}


def make_augmentation(augment):
    """Returns an augmentation callable.

    Args:
        augment: a preset name (a key of `AUGMENTATIONS`) or a callable
            `fn(images, seed) -> images`, returned as is.
    """
    if callable(augment):
        return augment
    if augment not in AUGMENTATIONS:
        raise ValueError(
            f"Expected augment to be one of {sorted(AUGMENTATIONS)} or a "
            f"callable; Received: augment={augment!r}"
        )
    return AUGMENTATIONS[augment]()
