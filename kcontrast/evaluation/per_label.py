"""Linear probe and weighted kNN for every label of a dataset.

    for label in labels:
        results[label] = {"linear": linear_probe(...), "knn": knn_classify(...)}

Multi-hot labels (names in `multi_label`) report per-class and mean accuracy.
"""

from kcontrast.evaluation.knn import knn_classify
from kcontrast.evaluation.linear_probe import linear_probe


def evaluate_labels(train_features, train_labels, test_features, test_labels,
                    num_classes=None, multi_label=(), seed=0, k=20,
                    temperature=0.07, linear_kwargs=None):
    """Runs both protocols on one feature array for each label.

    Args:
        train_features, test_features: float `[N, D]` / `[M, D]`.
        train_labels, test_labels: dict label -> `[N]` / `[M]` (or multi-hot
            `[N, K]` / `[M, K]`); the test dict must hold every train label.
        num_classes: optional dict label -> classes.
        multi_label: label names whose labels are multi-hot.
        seed: linear-probe seed.
        k, temperature: kNN parameters.
        linear_kwargs: extra `linear_probe` arguments.

    Returns:
        dict label -> {"linear": dict, "knn": dict} (see `linear_probe`,
        `knn_classify`).

    >>> evaluate_labels(x, {"digit": y}, x_test, {"digit": y_test})  # doctest: +SKIP
    {'digit': {'linear': {'accuracy': ...}, 'knn': {'accuracy': ...}}}
    """
    missing = sorted(set(train_labels) - set(test_labels))
    if missing:
        raise ValueError(
            f"Expected test labels for every train label; Received: missing={missing}")
    num_classes = dict(num_classes or {})
    results = {}
    for name in train_labels:
        multi = name in set(multi_label)
        classes = num_classes.get(name)
        results[name] = {
            "linear": linear_probe(train_features, train_labels[name], test_features,
                                   test_labels[name], num_classes=classes,
                                   multi_label=multi, seed=seed, **dict(linear_kwargs or {})),
            "knn": knn_classify(train_features, train_labels[name], test_features,
                                test_labels[name], num_classes=classes,
                                multi_label=multi, k=k, temperature=temperature),
        }
    return results
