"""MultiDigits: several MNIST digits on one canvas.

Each canvas holds `num_digits` digits drawn (with replacement) from the digit
source's split of the same name, each resized to a random side in
`digit_size_range`, merged by per-pixel max on a black canvas. Slots are
numbered in reading order (top to bottom, then left to right) of the grid
cells the digits occupy (of their top-left corners when overlap is allowed),
so `digit_0` is the top-left-most digit; with placement="grid" slot i is
always cell i of the grid.

Placement:
- allow_overlap=False (default): the canvas is cut into a g x g grid of
  cells of pitch canvas_size / g, with g = canvas_size // max digit size;
  each digit takes a distinct random cell ("random": at a random position
  inside it; "grid": cells 0..num_digits-1 in reading order, centred), so
  digits never overlap. More digits than cells is an error.
- allow_overlap=True: positions are uniform over the canvas ("random") or
  the cell grid is used anyway ("grid").

Labels: `digit_0` ... `digit_{n-1}` (int32 class) and `presence` (multi-hot
float32 [10]: which classes appear). info: `boxes` int32 [N, n, 4] as
(y, x, height, width) in pixels, `digit_index` int64 [N, n], and `masks`
uint8 [N, H, W], the per-pixel object masks: 0 background, j + 1 where
digit j (slot `digit_j`) is drawn, i.e. inside its box where its own resized
ink is above `INK_THRESHOLD` (0.5); where two digits' ink overlaps, the
brighter one (the one the max merge shows) wins, the lower slot on a tie.

>>> ds = multi_digits(num_digits=2, canvas_size=56, num_train=100, num_test=20)
>>> ds.train.images.shape, sorted(ds.train.labels)
((100, 56, 56, 1), ['digit_0', 'digit_1', 'presence'])
"""

import numpy as np

from kcontrast import checks
from kcontrast.data.builders.canvas import paste
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.sources import resolve_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split
from kcontrast.data.stream import refuse_streams

_SALT = 0x3D16
PLACEMENTS = ("random", "grid")
INK_THRESHOLD = 0.5  # a digit pixel belongs to the digit above this ink value


def _place(rng, n, num_digits, sizes, canvas_size, placement, allow_overlap):
    """Top-left corners int [n, num_digits, 2] for digits of `sizes` [n, num_digits],
    and a slot key [n, num_digits] whose ascending order is the reading order."""
    max_size = int(sizes.max())
    if allow_overlap and placement == "random":
        slack = canvas_size - sizes + 1
        corners = (rng.random((n, num_digits, 2)) * slack[..., None]).astype(np.int64)
        return corners, corners[..., 0] * canvas_size + corners[..., 1]
    cells = canvas_size // max_size
    pitch = canvas_size / cells
    if placement == "grid":
        cell = np.broadcast_to(np.arange(num_digits), (n, num_digits))
        jitter = np.full((n, num_digits, 2), 0.5)
    else:
        cell = np.argsort(rng.random((n, cells * cells)), axis=1)[:, :num_digits]
        jitter = rng.random((n, num_digits, 2))
    origin = np.stack([cell // cells, cell % cells], axis=-1) * pitch
    corner = np.floor(origin + jitter * (pitch - sizes[..., None]))
    corner = np.clip(corner, 0, canvas_size - sizes[..., None]).astype(np.int64)
    return corner, cell


def draw_digits(canvases, digit_sets, ids, corners, sizes, merge="max"):
    """Pastes digit_sets[size][ids[i, j]] at corners[i, j] on canvases[i]."""
    for i in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            s = int(sizes[i, j])
            paste(canvases, i, digit_sets[s][ids[i, j]], int(corners[i, j, 0]), int(corners[i, j, 1]), merge)


def draw_masks(shape, digit_sets, ids, corners, sizes, threshold=INK_THRESHOLD):
    """Per-pixel object masks of digits drawn by `draw_digits`.

    Args:
        shape: (N, H, W) of the canvases.
        digit_sets, ids, corners, sizes: as for `draw_digits`.
        threshold: ink value (max over channels of the resized digit) above
            which a pixel belongs to the digit.

    Returns:
        uint8 [N, H, W] (uint16 beyond 254 digits): 0 background, j + 1 for
        digit j; where inks overlap, the highest ink wins (ties: lowest j).
    """
    dtype = np.uint8 if ids.shape[1] < 255 else np.uint16
    masks = np.zeros(shape, dtype)
    best = np.full(shape, float(threshold), np.float32)
    for i in range(ids.shape[0]):
        for j in range(ids.shape[1]):
            s = int(sizes[i, j])
            y, x = int(corners[i, j, 0]), int(corners[i, j, 1])
            ink = digit_sets[s][ids[i, j]].max(axis=-1)
            region = best[i, y:y + s, x:x + s]
            wins = ink > region
            masks[i, y:y + s, x:x + s][wins] = j + 1
            region[wins] = ink[wins]
    return masks


def multi_digits(num_digits=3, canvas_size=64, digit_size_range=(20, 28),
                 placement="random", allow_overlap=False, digits="mnist5k",
                 num_train=5000, num_test=1000, seed=0, data_dir=None):
    """Builds MultiDigits.

    Args:
        num_digits: digits per canvas.
        canvas_size: canvas side in pixels.
        digit_size_range: (min, max) digit side in pixels, inclusive.
        placement: "random" or "grid" (see the module docstring).
        allow_overlap: let digits overlap.
        digits: digit source name (mnist5k) or a `Dataset`.
        num_train, num_test: canvases per split.
        seed: int seed of digits, sizes and positions.
        data_dir: passed to the digit source.

    Returns:
        `Dataset` "multi_digits" (labels digit_0.., presence; multi_label
        {"presence"}).
    """
    num_digits = checks.check_positive_int(num_digits, "num_digits")
    canvas_size = checks.check_positive_int(canvas_size, "canvas_size")
    num_train = checks.check_positive_int(num_train, "num_train")
    num_test = checks.check_positive_int(num_test, "num_test")
    seed = checks.check_seed(seed)
    low, high = digit_size_range
    low = checks.check_positive_int(low, "digit_size_range[0]")
    high = checks.check_positive_int(high, "digit_size_range[1]")
    if high < low:
        raise ValueError(
            f"Expected digit_size_range (min, max) with min <= max; Received: digit_size_range={digit_size_range}"
        )
    if high > canvas_size:
        raise ValueError(
            f"Expected digits no larger than the canvas ({canvas_size}px); "
            f"Received: digit_size_range={tuple(digit_size_range)}"
        )
    checks.check_choice(placement, PLACEMENTS, "placement")
    cells = (canvas_size // high) ** 2
    if num_digits > cells and (not allow_overlap or placement == "grid"):
        raise ValueError(
            f"Expected at most {cells} digits of up to {high}px to fit a {canvas_size}px canvas "
            f"without overlap ({canvas_size // high}x{canvas_size // high} cells); "
            f"Received: num_digits={num_digits}"
        )
    refuse_streams("multi_digits", digits=digits)
    source = resolve_source(digits, data_dir)
    num_classes = source.num_classes["label"]
    splits = {}
    for split_id, name, n in ((0, "train", num_train), (1, "test", num_test)):
        rng = np.random.default_rng([seed, split_id, _SALT])
        digit_split = getattr(source, name)
        ids = rng.integers(0, len(digit_split), size=(n, num_digits))
        sizes = rng.integers(low, high + 1, size=(n, num_digits))
        corners, key = _place(rng, n, num_digits, sizes, canvas_size, placement, allow_overlap)
        if placement == "random":
            # Slots in reading order (of the cells; of the corners if overlapping).
            order = np.argsort(key, axis=1, kind="stable")
            ids, sizes = np.take_along_axis(ids, order, 1), np.take_along_axis(sizes, order, 1)
            corners = np.take_along_axis(corners, order[..., None], 1)
        digit_sets = {int(s): resize_images(digit_split.images, int(s)) for s in np.unique(sizes)}
        canvases = np.zeros((n, canvas_size, canvas_size, digit_split.images.shape[-1]), np.float32)
        draw_digits(canvases, digit_sets, ids, corners, sizes)
        classes = np.asarray(digit_split.labels["label"])[ids].astype(np.int32)
        labels = {f"digit_{j}": classes[:, j] for j in range(num_digits)}
        presence = np.zeros((n, num_classes), np.float32)
        np.put_along_axis(presence, classes, 1.0, axis=1)
        labels["presence"] = presence
        boxes = np.concatenate([corners, np.stack([sizes, sizes], -1)], -1).astype(np.int32)
        masks = draw_masks(canvases.shape[:3], digit_sets, ids, corners, sizes)
        splits[name] = Split(canvases, labels, info={"boxes": boxes, "digit_index": ids.astype(np.int64),
                                                     "masks": masks})
    num = {f"digit_{j}": num_classes for j in range(num_digits)}
    num["presence"] = num_classes
    return Dataset(
        name="multi_digits",
        config={
            "num_digits": int(num_digits), "canvas_size": int(canvas_size),
            "digit_size_range": [int(low), int(high)], "placement": placement,
            "allow_overlap": bool(allow_overlap), "digits": source.name,
            "num_train": int(num_train), "num_test": int(num_test), "seed": int(seed),
            "data_dir": None if data_dir is None else str(data_dir),
        },
        train=splits["train"],
        test=splits["test"],
        num_classes=num,
        multi_label={"presence"},
    )
