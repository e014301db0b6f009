"""Argument checks shared by the offline evaluation protocols.

Features and labels arrive as numpy arrays (or anything `np.asarray` accepts).
Every check raises ``ValueError("Expected ...; Received: name=value")``.
"""

import numpy as np


def check_features(features, name):
    """Returns `features` as a float32 `[N, D]` array."""
    features = np.asarray(features)
    if features.ndim != 2 or features.shape[0] < 1 or features.shape[1] < 1:
        raise ValueError(
            f"Expected `{name}` of shape [N, D] with N, D >= 1; "
            f"Received: {name}.shape={features.shape}"
        )
    if not np.issubdtype(features.dtype, np.number):
        raise ValueError(
            f"Expected `{name}` to be numeric; Received: {name}.dtype={features.dtype}"
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
            f"Expected `{name}` with {num_rows} rows (one per feature row); "
            f"Received: {name}.shape={labels.shape}"
        )
    if multi_label is None:
        multi_label = labels.ndim == 2
    if multi_label:
        if labels.ndim != 2:
            raise ValueError(
                f"Expected multi-hot `{name}` of shape [N, K] for multi_label=True; "
                f"Received: {name}.shape={labels.shape}"
            )
        if not np.all((labels == 0) | (labels == 1)):
            raise ValueError(
                f"Expected multi-hot `{name}` with values in {{0, 1}}; "
                f"Received: values {np.unique(labels)[:10].tolist()}"
            )
        if num_classes is not None and int(num_classes) != labels.shape[1]:
            raise ValueError(
                f"Expected num_classes={labels.shape[1]} (the columns of `{name}`); "
                f"Received: num_classes={num_classes}"
            )
        return labels.astype(np.float32), True, labels.shape[1]
    if labels.ndim != 1 or not (
        np.issubdtype(labels.dtype, np.integer)
        or np.all(np.mod(labels, 1) == 0)
    ):
        raise ValueError(
            f"Expected integer `{name}` of shape [N] (or multi_label=True with "
            f"multi-hot [N, K]); Received: {name}.shape={labels.shape}, "
            f"dtype={labels.dtype}"
        )
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1
    num_classes = int(num_classes)
    if num_classes < 2 or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"Expected `{name}` in [0, num_classes) with num_classes >= 2; "
            f"Received: num_classes={num_classes}, {name} range="
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels, False, num_classes


def check_pair(train_features, train_labels, test_features, test_labels,
               num_classes, multi_label):
    """Checks a train/test pair; returns arrays, `multi_label`, `num_classes`.

    Single-label `num_classes=None` is `max + 1` over train and test labels.
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


def check_positive_int(value, name, minimum=1):
    """Returns `value` as an int after checking that it is >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(
            f"Expected `{name}` to be an integer >= {minimum}; Received: {name}={value!r}"
        )
    return int(value)
