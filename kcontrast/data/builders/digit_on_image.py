"""DigitOnImage: an MNIST digit drawn over an object image (DigitOnImageNet).

Two competing features share every image: the object (`object` label) and
the digit (`digit` label). Following the companion code, one digit is
replicated on a `grid` x `grid` lattice whose top-left offsets are evenly
spaced from 0.15 to 0.75 of the side (0.15 / 0.45 / 0.75 for grid=3; the
centre for grid=1) and merged by per-pixel max (the paper's text says channel
addition: merge="add").

Digit pairing: the training digits form a pool of `num_unique_digits` digits
(the first ones of a seeded permutation of the digit source's train split);
each training object gets one pool digit, drawn once from the seed, so both
views and every epoch see the same pairing. The more unique digits, the
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
                   num_test=1000, seed=0, data_dir=None):
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
        merge: "max" (companion code) or "add" (paper text).
        digit_intensity: digits are scaled by this before merging, in (0, 1].
        test_digits: "heldout" (digit source's test split) or "pool".
        num_train, num_test: objects kept per split (a seeded subset; None: all).
        seed: int seed of the subset, the pool and the pairing.
        data_dir: passed to the sources.

    Returns:
        `Dataset` "digit_on_image": images float32 [N, S, S, C] (C of the
        objects), labels {"object": int32 [N], "digit": int32 [N]}, info
        {"digit_index": int64 [N] (index into the digit split used),
        "object_index": int64 [N], "masks": uint8 [N, S, S] (0 background,
        1 object, 2 digit; see the module docstring)}.
    """
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
        splits[name] = Split(
            images,
            {"object": object_labels,
             "digit": np.asarray(digit_split.labels["label"])[digit_ids].astype(np.int32)},
            info={"digit_index": digit_ids.astype(np.int64), "object_index": keep.astype(np.int64),
                  "masks": masks},
        )
    return Dataset(
        name="digit_on_image",
        config={
            "objects": object_source.name, "digits": digit_source.name,
            "num_unique_digits": int(num_unique_digits), "grid": int(grid),
            "image_size": int(image_size), "digit_size": int(digit_size), "merge": merge,
            "digit_intensity": float(digit_intensity), "test_digits": test_digits,
            "num_train": num_train, "num_test": num_test, "seed": int(seed),
            "data_dir": None if data_dir is None else str(data_dir),
        },
        train=splits["train"],
        test=splits["test"],
        num_classes={"object": object_source.num_classes["label"],
                     "digit": digit_source.num_classes["label"]},
    )
