"""Modified MultiDigits: two digits of different sizes, never overlapping.

Digit A has side `size_a` and digit B side `size_b` on a `canvas_size`
canvas; A is placed uniformly among the positions that leave room for B
beside it, then B uniformly among all the positions where it does not
overlap A (exact sampling, no rejection loop).
Growing `size_a` with `size_b` fixed is the paper's probe of feature
suppression: the large digit stays well learned while the small one's probe
accuracy collapses. Labels: `digit_a`, `digit_b` (int32). info: `boxes`
int32 [N, 2, 4] as (y, x, height, width) for A then B, `digit_index`, and
`masks` uint8 [N, H, W]: 0 background, 1 digit A, 2 digit B, a digit's
pixels being those of its box where its resized ink is above 0.5
(`multi_digits.draw_masks`; the digits never overlap).

>>> ds = modified_multi_digits(size_a=32, size_b=16, canvas_size=56, num_train=50, num_test=10)
>>> sorted(ds.train.labels)
['digit_a', 'digit_b']
"""

import numpy as np

from kcontrast import checks
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.builders.multi_digits import draw_digits
from kcontrast.data.builders.multi_digits import draw_masks
from kcontrast.data.sources import resolve_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split
from kcontrast.data.stream import refuse_streams

_SALT = 0x3D17


def _sample(rng, valid):
    """Uniform choice of a True cell per row of valid [n, py, px] -> int [n, 2]."""
    n, _, width = valid.shape
    flat = valid.reshape(n, -1)
    k = (rng.random(n) * flat.sum(1)).astype(np.int64)  # the k-th valid cell
    index = np.argmax(np.cumsum(flat, axis=1) > k[:, None], axis=1)
    return np.stack([index // width, index % width], axis=-1)


def _place_pair(rng, n, size_a, size_b, canvas_size):
    # A goes where B still fits beside it (left/right or above/below) ...
    pa = np.arange(canvas_size - size_a + 1)
    room = (pa >= size_b) | (pa + size_a <= canvas_size - size_b)
    a = _sample(rng, np.broadcast_to(room[:, None] | room[None, :], (n, len(pa), len(pa))))
    # ... then B anywhere its interval misses A's on at least one axis.
    pb = np.arange(canvas_size - size_b + 1)
    apart_y = (pb[None] + size_b <= a[:, :1]) | (pb[None] >= a[:, :1] + size_a)
    apart_x = (pb[None] + size_b <= a[:, 1:]) | (pb[None] >= a[:, 1:] + size_a)
    b = _sample(rng, apart_y[:, :, None] | apart_x[:, None, :])
    return np.stack([a, b], axis=1)


def modified_multi_digits(size_a=40, size_b=20, canvas_size=64, digits="mnist5k",
                          num_train=5000, num_test=1000, seed=0, data_dir=None):
    """Builds Modified MultiDigits.

    Args:
        size_a, size_b: sides of digits A and B in pixels.
        canvas_size: canvas side; size_a + size_b must be <= canvas_size.
        digits: digit source name or `Dataset`.
        num_train, num_test: canvases per split.
        seed: int seed.
        data_dir: passed to the digit source.

    Returns:
        `Dataset` "modified_multi_digits" with labels digit_a, digit_b.
    """
    size_a = checks.check_positive_int(size_a, "size_a")
    size_b = checks.check_positive_int(size_b, "size_b")
    canvas_size = checks.check_positive_int(canvas_size, "canvas_size")
    num_train = checks.check_positive_int(num_train, "num_train")
    num_test = checks.check_positive_int(num_test, "num_test")
    seed = checks.check_seed(seed)
    for name, value in (("size_a", size_a), ("size_b", size_b)):
        if value > canvas_size:
            raise ValueError(
                f"Expected digits no larger than the canvas ({canvas_size}px); Received: {name}={value}"
            )
    if size_a + size_b > canvas_size:
        raise ValueError(
            f"Expected size_a + size_b <= canvas_size ({canvas_size}) so that the digits fit "
            f"without overlap; Received: size_a={size_a}, size_b={size_b}"
        )
    refuse_streams("modified_multi_digits", digits=digits)
    source = resolve_source(digits, data_dir)
    num_classes = source.num_classes["label"]
    splits = {}
    for split_id, name, n in ((0, "train", num_train), (1, "test", num_test)):
        rng = np.random.default_rng([seed, split_id, _SALT])
        digit_split = getattr(source, name)
        ids = rng.integers(0, len(digit_split), size=(n, 2))
        sizes = np.broadcast_to(np.array([size_a, size_b]), (n, 2))
        corners = _place_pair(rng, n, size_a, size_b, canvas_size)
        digit_sets = {int(s): resize_images(digit_split.images, int(s)) for s in {size_a, size_b}}
        canvases = np.zeros((n, canvas_size, canvas_size, digit_split.images.shape[-1]), np.float32)
        draw_digits(canvases, digit_sets, ids, corners, sizes)
        classes = np.asarray(digit_split.labels["label"])[ids].astype(np.int32)
        boxes = np.concatenate([corners, np.stack([sizes, sizes], -1)], -1).astype(np.int32)
        splits[name] = Split(
            canvases, {"digit_a": classes[:, 0], "digit_b": classes[:, 1]},
            info={"boxes": boxes, "digit_index": ids.astype(np.int64),
                  "masks": draw_masks(canvases.shape[:3], digit_sets, ids, corners, sizes)},
        )
    return Dataset(
        name="modified_multi_digits",
        config={"size_a": int(size_a), "size_b": int(size_b), "canvas_size": int(canvas_size),
                "digits": source.name, "num_train": int(num_train), "num_test": int(num_test),
                "seed": int(seed), "data_dir": None if data_dir is None else str(data_dir)},
        train=splits["train"],
        test=splits["test"],
        num_classes={"digit_a": num_classes, "digit_b": num_classes},
    )
