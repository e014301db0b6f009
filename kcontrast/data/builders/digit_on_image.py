"""DigitOnImage: an MNIST digit drawn over an object image (DigitOnImageNet).

Two competing features share every image: the object (`object` label) and
the digit (`digit` label). Following the companion code, one digit is
replicated on a `grid` x `grid` lattice whose top-left offsets are evenly
spaced from 0.15 to 0.75 of the side (0.15 / 0.45 / 0.75 for grid=3; the
centre for grid=1) and merged by per-pixel max (the paper's text says channel
addition: merge="add").

Geometry: geometry="custom" (the default) uses `grid` and `digit_size` as
given; geometry="companion" is the companion code's: the digit at 1/8 of the
image side (28 px on ImageNet's 224; `digit_size` becomes
max(1, round(image_size / 8)), 8 px on a 64 px canvas) on a 3x3 grid
(`grid` becomes 3); `Dataset.config` records the sizes used.

Digit pairing: the training digits form a pool of `num_unique_digits` digits
(the first ones of a seeded permutation of the digit source's train split);
each training object gets one pool digit, drawn once from the seed, so both
views see the same digit. With redraw=False (the default) every epoch sees
that same pairing. With redraw=True the pretraining pipeline draws a new pool
digit for every object at every epoch (the companion code draws one at every
load): the train split's `redraw` (`DigitRedraw`) composites the canvases
per batch inside tf.data from a stateless seed, so a run is still
deterministic given its seed; the split's `images` and labels keep the fixed
first draw, which is what the probes see. The more unique digits, the
easier the digit feature is to learn as a feature rather than by heart.
Test digits come from the digit source's *test* split (test_digits="heldout",
the default), never from the pool, so a digit probe scored on the test split
measures digit features, not memorisation of the pool; test_digits="pool"
reuses the pool (to measure memorisation).

Masks (`info["masks"]`, uint8 [N, S, S]), for local-feature scores:
2 where a digit copy's own resized ink (before `digit_intensity`, max over
channels) is above `INK_THRESHOLD` (0.5), whether or not the merge lets it
show; else 1 where the resized object image (max over channels) is above
`OBJECT_THRESHOLD` (0.1); else 0, background. The object mask is meaningful
for objects on a dark background (Fashion-MNIST, MNIST); on a photograph
nearly every pixel counts as object.

>>> ds = digit_on_image(objects="mnist5k", num_unique_digits=10, image_size=64)  # doctest: +SKIP
>>> ds.train.labels.keys()  # doctest: +SKIP
dict_keys(['object', 'digit'])
"""

import numpy as np

from kcontrast import checks
from kcontrast.data.builders.canvas import MERGES
from kcontrast.data.builders.canvas import paste
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.builders.canvas import resize_to
from kcontrast.data.builders.multi_digits import INK_THRESHOLD
from kcontrast.data.sources import resolve_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split
from kcontrast.data.stream import refuse_streams

_SALT = 0xD161
OBJECT_THRESHOLD = 0.1  # an object pixel is brighter than this (masks)
MASK_BACKGROUND, MASK_OBJECT, MASK_DIGIT = 0, 1, 2
TEST_DIGITS = ("heldout", "pool")
GEOMETRIES = ("custom", "companion")


def companion_digit_size(image_size):
    """The companion code's digit side: 1/8 of the image side (28 of 224)."""
    return max(1, int(round(image_size / 8)))


class DigitRedraw:
    """Composites objects with freshly drawn pool digits, in TensorFlow.

    The `Split.redraw` of DigitOnImage's train split when redraw=True: the
    pretraining pipeline calls it on each batch with a stateless seed, so
    every epoch pairs every object with a new pool digit (uniformly drawn,
    as the fixed pairing is) while the run stays reproducible.

    Args:
        objects: float32 [N, S, S, C], the resized objects without digits.
        digits: float32 [P, d, d, 1], the pool's resized digits.
        digit_labels: int [P], their classes.
        offsets: the grid's top-left offsets (rows and columns).
        merge: "max" or "add" (as `canvas.paste`).
        intensity: digits are scaled by this before merging.
        pool_index: optional int [P], each pool digit's index into the digit
            source's train split (bookkeeping, as `info["digit_index"]`).

    Call: `(index int [B], seed int [2]) -> (images float32 [B, S, S, C],
    {"digit": int32 [B]})`; the same canvases `digit_on_image` draws in
    numpy for the digits `draw(index, seed)` picks.
    """

    def __init__(self, objects, digits, digit_labels, offsets, merge, intensity,
                 pool_index=None):
        import tensorflow as tf

        self.pool_index = None if pool_index is None else np.asarray(pool_index, np.int64)
        self.objects = tf.constant(np.asarray(objects, np.float32))
        self.digits = tf.constant(np.asarray(digits, np.float32) * float(intensity))
        self.digit_labels = tf.constant(np.asarray(digit_labels, np.int32))
        self.offsets = [int(o) for o in offsets]
        self.merge = merge

    def draw(self, index, seed):
        """Pool positions int32 [B] of the digits drawn for one batch."""
        import tensorflow as tf

        return tf.random.stateless_uniform(
            tf.shape(index)[:1], seed=seed, minval=0,
            maxval=int(self.digits.shape[0]), dtype=tf.int32)

    def __call__(self, index, seed):
        import tensorflow as tf

        draw = self.draw(index, seed)
        objects = tf.gather(self.objects, index)
        patch = tf.gather(self.digits, draw)
        side, size = int(self.objects.shape[1]), int(self.digits.shape[1])
        copies = [tf.pad(patch, [[0, 0], [y, side - y - size], [x, side - x - size], [0, 0]])
                  for y in self.offsets for x in self.offsets]
        if self.merge == "max":
            layer = tf.reduce_max(tf.stack(copies), axis=0)
            images = tf.maximum(objects, layer)
        else:  # sequential clipped additions of non-negative copies = one clip
            images = tf.minimum(objects + tf.add_n(copies), 1.0)
        return images, {"digit": tf.gather(self.digit_labels, draw)}


def grid_offsets(image_size, digit_size, grid):
    """Top-left pixel offsets of the grid (same for rows and columns)."""
    if grid == 1:
        return [(image_size - digit_size) // 2]
    fractions = np.linspace(0.15, 0.75, grid)
    return [int(round(f * image_size)) for f in fractions]


def _check(image_size, digit_size, grid, merge, intensity, num_unique_digits, test_digits):
    for name, value in (("image_size", image_size), ("digit_size", digit_size), ("grid", grid)):
        checks.check_positive_int(value, name)
    if digit_size > image_size:
        raise ValueError(
            f"Expected digit_size <= image_size ({image_size}); Received: digit_size={digit_size}"
        )
    last = max(grid_offsets(image_size, digit_size, grid))
    if last + digit_size > image_size:
        raise ValueError(
            f"Expected the {grid}x{grid} grid of digits to fit the {image_size}px canvas "
            f"(last offset {last} + digit_size must be <= {image_size}); "
            f"Received: digit_size={digit_size}"
        )
    checks.check_choice(merge, MERGES, "merge")
    checks.check_in_range(intensity, "digit_intensity", 0, 1, open_low=True)
    checks.check_positive_int(num_unique_digits, "num_unique_digits", allow_none=True)
    checks.check_choice(test_digits, TEST_DIGITS, "test_digits")


def _subset(split, limit, rng):
    if limit is None or limit >= len(split):
        return np.arange(len(split))
    return np.sort(rng.choice(len(split), size=limit, replace=False))


def _draw(objects, object_labels, digits, digit_labels, digit_ids, offsets, merge, intensity, image_size):
    """The canvases float32 [N, S, S, C] and their masks uint8 [N, S, S]."""
    canvases = resize_to(objects, (image_size, image_size))
    masks = np.where(canvases.max(axis=-1) > OBJECT_THRESHOLD, MASK_OBJECT,
                     MASK_BACKGROUND).astype(np.uint8)
    channels = canvases.shape[-1]
    patches = digits * intensity
    if channels != 1:
        patches = np.repeat(patches, channels, axis=-1)
    ink = digits.max(axis=-1) > INK_THRESHOLD
    size = digits.shape[1]
    for i, d in enumerate(digit_ids):
        for y in offsets:
            for x in offsets:
                paste(canvases, i, patches[d], y, x, merge)
                masks[i, y:y + size, x:x + size][ink[d]] = MASK_DIGIT
    return canvases, masks


def digit_on_image(objects="fashion_mnist", digits="mnist5k", num_unique_digits=100,
                   grid=3, image_size=64, digit_size=16, merge="max",
                   digit_intensity=1.0, test_digits="heldout", num_train=5000,
                   num_test=1000, redraw=False, geometry="custom", seed=0,
                   data_dir=None):
    """Builds DigitOnImage.

    Args:
        objects: object source name (fashion_mnist; cifar10, imagenet2012, any
            tfds name where available: only the first 4 * max(num_train,
            num_test) examples per split are read, resized to image_size) or
            a `Dataset`.
        digits: digit source name (mnist5k) or a `Dataset`.
        num_unique_digits: size of the training digit pool (None: all digits
            of the digit source's train split).
        grid: the digit is replicated on a grid x grid lattice.
        image_size: canvas side; objects are resized to it.
        digit_size: side of each digit copy (digits are resized to it).
        geometry: "custom" (grid and digit_size as given) or "companion"
            (3x3 grid, digit_size = round(image_size / 8); see the module
            docstring).
        merge: "max" (companion code) or "add" (paper text).
        digit_intensity: digits are scaled by this before merging, in (0, 1].
        test_digits: "heldout" (digit source's test split) or "pool".
        num_train, num_test: objects kept per split (a seeded subset; None: all).
        redraw: bool; True gives the train split a `DigitRedraw` so that the
            pretraining pipeline pairs each object with a new pool digit at
            every epoch (the split's images keep the first, fixed draw).
        seed: int seed of the subset, the pool and the pairing.
        data_dir: passed to the sources.

    Returns:
        `Dataset` "digit_on_image": images float32 [N, S, S, C] (C of the
        objects), labels {"object": int32 [N], "digit": int32 [N]}, info
        {"digit_index": int64 [N] (index into the digit split used),
        "object_index": int64 [N], "masks": uint8 [N, S, S] (0 background,
        1 object, 2 digit; see the module docstring)}; with redraw, the
        train split's `redraw` is a `DigitRedraw`.
    """
    checks.check_choice(geometry, GEOMETRIES, "geometry")
    if not isinstance(redraw, (bool, np.bool_)):
        raise ValueError(f"Expected redraw to be a bool; Received: redraw={redraw!r}")
    checks.check_positive_int(image_size, "image_size")
    if geometry == "companion":
        grid, digit_size = 3, companion_digit_size(image_size)
    _check(image_size, digit_size, grid, merge, digit_intensity, num_unique_digits, test_digits)
    seed = checks.check_seed(seed)
    num_train = checks.check_positive_int(num_train, "num_train", allow_none=True)
    num_test = checks.check_positive_int(num_test, "num_test", allow_none=True)
    # A tfds object source (cifar10, imagenet2012) is read only as far as
    # needed, at the canvas size; the seeded subset is then drawn from that.
    limits = [n for n in (num_train, num_test) if n is not None]
    read = None if len(limits) < 2 else 4 * max(limits)
    refuse_streams("digit_on_image", objects=objects, digits=digits)
    object_source = resolve_source(objects, data_dir, max_examples=read, image_size=(image_size, image_size))
    digit_source = resolve_source(digits, data_dir)
    available = len(digit_source.train)
    if num_unique_digits is None:
        num_unique_digits = available
    if num_unique_digits > available:
        raise ValueError(
            f"Expected num_unique_digits <= {available} (the digits in the train split "
            f"of '{digit_source.name}'); Received: num_unique_digits={num_unique_digits}"
        )
    offsets = grid_offsets(image_size, digit_size, grid)
    pool_rng = np.random.default_rng([seed, 2, _SALT])
    pool = pool_rng.permutation(available)[:num_unique_digits]
    train_digits = resize_images(digit_source.train.images, digit_size)
    splits = {}
    for split_id, name, limit in ((0, "train", num_train), (1, "test", num_test)):
        rng = np.random.default_rng([seed, split_id, _SALT])
        obj_split = getattr(object_source, name)
        keep = _subset(obj_split, limit, rng)
        if name == "train" or test_digits == "pool":
            digit_split, digit_images = digit_source.train, train_digits
            digit_ids = pool[rng.integers(0, len(pool), size=len(keep))]
        else:
            digit_split = digit_source.test
            digit_images = resize_images(digit_split.images, digit_size)
            digit_ids = rng.integers(0, len(digit_split), size=len(keep))
        object_labels = np.asarray(obj_split.labels["label"])[keep].astype(np.int32)
        images, masks = _draw(
            obj_split.images[keep], object_labels, digit_images,
            digit_split.labels["label"], digit_ids, offsets, merge,
            float(digit_intensity), image_size,
        )
        again = None
        if redraw and name == "train":
            again = DigitRedraw(
                resize_to(obj_split.images[keep], (image_size, image_size)),
                train_digits[pool], np.asarray(digit_source.train.labels["label"])[pool],
                offsets, merge, digit_intensity, pool_index=pool)
        splits[name] = Split(
            images,
            {"object": object_labels,
             "digit": np.asarray(digit_split.labels["label"])[digit_ids].astype(np.int32)},
            info={"digit_index": digit_ids.astype(np.int64), "object_index": keep.astype(np.int64),
                  "masks": masks},
            redraw=again,
        )
    return Dataset(
        name="digit_on_image",
        config={
            "objects": object_source.name, "digits": digit_source.name,
            "num_unique_digits": int(num_unique_digits), "grid": int(grid),
            "image_size": int(image_size), "digit_size": int(digit_size), "merge": merge,
            "digit_intensity": float(digit_intensity), "test_digits": test_digits,
            "num_train": num_train, "num_test": num_test, "redraw": bool(redraw),
            "geometry": geometry, "seed": int(seed),
            "data_dir": None if data_dir is None else str(data_dir),
        },
        train=splits["train"],
        test=splits["test"],
        num_classes={"object": object_source.num_classes["label"],
                     "digit": digit_source.num_classes["label"]},
    )
