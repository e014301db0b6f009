"""Argument checks shared by the whole package.

Every check raises ``ValueError("Expected ...; Received: name=value")``, naming
the bad value as the caller spelled it, and returns the value normalised
(`int` or `float`), so that a constructor can write
``self.k = check_positive_int(k, "k")``. Booleans are never numbers here.

Scalars: `check_int`, `check_positive_int`, `check_seed`, `check_in_range`,
`check_positive`, `check_non_negative`, `check_choice`.
Static shapes (a dimension unknown at trace time, None, is not checked):
`check_rank`, `check_same_shape`, `check_min_batch`, `check_views`.
Arrays of the evaluation protocols (numpy, converted on the way):
`check_features` (float32 [N, D]), `check_labels` (class ids [N] or
multi-hot [N, K]), `check_train_test` (both splits together).

>>> check_positive_int(3, "k")
3
>>> check_in_range(0.5, "p", 0, 1)
0.5
>>> check_choice("max", ("max", "add"), "merge")
'max'
>>> check_seed(-1)
Traceback (most recent call last):
...
ValueError: Expected seed to be an int >= 0; Received: seed=-1
"""

import math
import operator

import numpy as np

_BOOLS = (bool, np.bool_)


def _bounds(low, high, open_low, open_high):
    if low is not None and high is not None:
        return f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    if low is not None:
        return f"{'>' if open_low else '>='} {low}"
    if high is not None:
        return f"{'<' if open_high else '<='} {high}"
    return ""


def check_int(value, name, minimum=None, maximum=None, allow_none=False):
    """Returns `value` as an int after checking minimum <= value <= maximum.

    `allow_none=True` lets None through (returned as is).
    """
    if value is None and allow_none:
        return None
    try:  # ints and numpy integers (0-d integer arrays too), never bools or floats
        number = None if isinstance(value, _BOOLS) else operator.index(value)
    except TypeError:
        number = None
    ok = number is not None and (minimum is None or number >= minimum) and (
        maximum is None or number <= maximum)
    if not ok:
        what = " ".join(filter(None, ["an int", _bounds(minimum, maximum, False, False),
                                      "or None" if allow_none else ""]))
        raise ValueError(f"Expected {name} to be {what}; Received: {name}={value!r}")
    return number


def check_positive_int(value, name, minimum=1, allow_none=False):
    """Returns `value` as an int after checking that it is >= `minimum` (1)."""
    return check_int(value, name, minimum=minimum, allow_none=allow_none)


def check_seed(seed, name="seed", allow_none=False):
    """Returns `seed` as an int after checking that it is an int >= 0."""
    return check_int(seed, name, minimum=0, allow_none=allow_none)


def check_in_range(value, name, low=None, high=None, open_low=False, open_high=False):
    """Returns `value` as a float after checking low <= value <= high.

    `open_low` / `open_high` make a bound strict; None means unbounded. NaN
    and non-numbers (strings, bools) are refused.
    """
    try:  # numbers, numpy scalars and 0-d arrays; never strings or bools
        number = None if isinstance(value, (*_BOOLS, str, bytes)) else float(value)
    except (TypeError, ValueError):
        number = None
    ok = number is not None and not math.isnan(number)
    if ok:
        if low is not None:
            ok = number > low if open_low else number >= low
        if ok and high is not None:
            ok = number < high if open_high else number <= high
    if not ok:
        what = " ".join(filter(None, ["a number", _bounds(low, high, open_low, open_high)]))
        raise ValueError(f"Expected {name} to be {what}; Received: {name}={value!r}")
    return number


def check_positive(value, name):
    """Returns `value` as a float after checking that it is > 0."""
    return check_in_range(value, name, low=0, open_low=True)


def check_non_negative(value, name):
    """Returns `value` as a float after checking that it is >= 0."""
    return check_in_range(value, name, low=0)


def check_choice(value, choices, name):
    """Returns `value` after checking that it is one of `choices`."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a dict or set
        ok = False
    if not ok:
        raise ValueError(
            f"Expected {name} to be one of {sorted(choices)}; Received: {name}={value!r}")
    return value


def check_rank(x, rank, name, layout):
    """Checks that `x` (anything with `.shape`) has `rank` dims, e.g. layout "[batch, dim]"."""
    shape = tuple(x.shape)
    if len(shape) != rank:
        raise ValueError(
            f"Expected {name} of rank {rank} with shape {layout}; Received: {name}.shape={shape}")


def check_same_shape(a, b, names):
    """Checks that `a` and `b` agree on every statically known dimension."""
    sa, sb = tuple(a.shape), tuple(b.shape)
    if len(sa) != len(sb) or any(
            p is not None and q is not None and p != q for p, q in zip(sa, sb)):
        raise ValueError(
            f"Expected {names[0]} and {names[1]} of the same shape; "
            f"Received: {names[0]}.shape={sa}, {names[1]}.shape={sb}")


def check_min_batch(x, name, min_batch=2):
    """Checks that the static batch size of `x` is at least `min_batch`."""
    batch = x.shape[0]
    if batch is not None and batch < min_batch:
        raise ValueError(
            f"Expected {name} with batch size >= {min_batch} (the loss needs "
            f"negatives); Received: {name}.shape={tuple(x.shape)}")


def check_views(z1, z2, names=("z1", "z2"), min_batch=2):
    """Checks two views' embeddings: both [batch, dim], the same shape, batch >= min_batch."""
    check_rank(z1, 2, names[0], "[batch, dim]")
    check_rank(z2, 2, names[1], "[batch, dim]")
    check_same_shape(z1, z2, names)
    if min_batch:
        check_min_batch(z1, names[0], min_batch)


def check_features(features, name):
    """Returns `features` as a float32 `[N, D]` array."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise ValueError(
            f"Expected {name} of shape [N, D] with N, D >= 1; "
            f"Received: {name}.shape={features.shape}"
        )
    if not np.issubdtype(features.dtype, np.number):
        raise ValueError(
            f"Expected {name} to be numeric; Received: {name}.dtype={features.dtype}"
        )
    return features.astype(np.float32, copy=False)


def check_labels(labels, num_rows, name, multi_label, num_classes):
    """Checks labels against the features and returns `(labels, multi_label, num_classes)`.

    Single-label: int `[N]` in `[0, num_classes)`. Multi-label: multi-hot
    `[N, K]` of 0/1. `multi_label=None` infers the kind from the rank.
    `num_classes=None` infers it (`max + 1`, or `K`).
    """
    labels = np.asarray(labels)
    if labels.shape[:1] != (num_rows,):
        raise ValueError(
            f"Expected {name} with {num_rows} rows (one per feature row); "
            f"Received: {name}.shape={labels.shape}"
        )
    if multi_label is None:
        multi_label = labels.ndim == 2
    if multi_label:
        if labels.ndim != 2:
            raise ValueError(
                f"Expected multi-hot {name} of shape [N, K] for multi_label=True; "
                f"Received: {name}.shape={labels.shape}"
            )
        if not np.all((labels == 0) | (labels == 1)):
            raise ValueError(
                f"Expected multi-hot {name} with values in {{0, 1}}; "
                f"Received: values {np.unique(labels)[:10].tolist()}"
            )
        if num_classes is not None and int(num_classes) != labels.shape[1]:
            raise ValueError(
                f"Expected num_classes={labels.shape[1]} (the columns of {name}); "
                f"Received: num_classes={num_classes}"
            )
        return labels.astype(np.float32), True, labels.shape[1]
    if labels.ndim != 1 or not (
        np.issubdtype(labels.dtype, np.integer)
        or np.all(np.mod(labels, 1) == 0)
    ):
        raise ValueError(
            f"Expected integer {name} of shape [N] (or multi_label=True with "
            f"multi-hot [N, K]); Received: {name}.shape={labels.shape}, "
            f"dtype={labels.dtype}"
        )
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    num_classes = int(num_classes)
    if num_classes < 2 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"Expected {name} in [0, num_classes) with num_classes >= 2; "
            f"Received: num_classes={num_classes}, {name} range="
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels, False, num_classes


def check_train_test(train_features, train_labels, test_features, test_labels,
                     num_classes, multi_label):
    """Checks the inputs of an evaluation protocol: train and test features and labels.

    Returns `(train_features, train_labels, test_features, test_labels,
    multi_label, num_classes)`, converted as `check_features` and
    `check_labels` do; the features must have the same width. Single-label
    `num_classes=None` is `max + 1` over train and test labels.
    """
    train_features = check_features(train_features, "train_features")
    test_features = check_features(test_features, "test_features")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "Expected train and test features of the same width; Received: "
            f"train_features.shape={train_features.shape}, "
            f"test_features.shape={test_features.shape}"
        )
    if num_classes is None and not multi_label:
        labels = [np.asarray(train_labels), np.asarray(test_labels)]
        if all(l.ndim == 1 and l.size for l in labels):
            num_classes = int(max(l.max() for l in labels)) + 1
    train_labels, multi_label, num_classes = check_labels(
        train_labels, train_features.shape[0], "train_labels", multi_label,
        num_classes)
    test_labels, _, _ = check_labels(
        test_labels, test_features.shape[0], "test_labels", multi_label,
        num_classes)
    return (train_features, train_labels, test_features, test_labels,
            multi_label, num_classes)
