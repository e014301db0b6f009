"""The one offline evaluation path: linear probe and weighted kNN for every
label of a dataset, under a recorded protocol.

``kcontrast.run`` (after pretraining) and ``kcontrast.probe`` (on an export)
both call ``evaluate_labels`` with the protocol stored in the point's config
(``kcontrast.config.eval_section``), so the two commands give the same
numbers on the same features::

    protocol = {"linear": {"optimizer": "lbfgs"},      # or "adam"
                "knn": {"k": 20, "temperature": 0.07}}
    for label in labels:
        results[label] = {"linear": linear_probe(..., **protocol["linear"]),
                          "knn": knn_classify(..., **protocol["knn"])}

Multi-hot labels (names in ``multi_label``) report per-class and mean
accuracy.
"""

import time

from kcontrast.evaluation.knn import knn_classify
from kcontrast.evaluation.linear_probe import linear_probe

DEFAULT_PROTOCOL = {"linear": {"optimizer": "lbfgs"},
                    "knn": {"k": 20, "temperature": 0.07}}


def protocol_of(config):
    """The ``{"linear": {...}, "knn": {...}}`` protocol of a point config's
    ``eval`` section (missing parts take ``DEFAULT_PROTOCOL``)."""
    section = dict((config or {}).get("eval") or {})
    return {"linear": {**DEFAULT_PROTOCOL["linear"], **dict(section.get("linear") or {})},
            "knn": {**DEFAULT_PROTOCOL["knn"], **dict(section.get("knn") or {})}}


def evaluate_labels(train_features, train_labels, test_features, test_labels,
                    num_classes=None, multi_label=(), protocol=None, seed=0,
                    log=None, names=None):
    """Runs the linear probe and kNN on one feature array for each label.

    Args:
        train_features, test_features: float ``[N, D]`` / ``[M, D]``.
        train_labels, test_labels: dict label -> ``[N]`` / ``[M]`` (or
            multi-hot ``[N, K]`` / ``[M, K]``); the test dict must hold every
            train label.
        num_classes: optional dict label -> classes.
        multi_label: label names whose labels are multi-hot.
        protocol: ``{"linear": linear_probe kwargs, "knn": knn_classify
            kwargs}``; missing parts take ``DEFAULT_PROTOCOL``.
        seed: linear-probe seed.
        log: optional callable taking one progress line (what runs, and for
            how long).
        names: optional dict label -> the metric name it is reported under
            (a probe set's ``{"presence": "presence4"}``); log lines name
            both, ``linear probe presence4 (= presence, ...)``.

    Returns:
        dict label -> {"linear": dict, "knn": dict} (see ``linear_probe``,
        ``knn_classify``).

    >>> evaluate_labels(x, {"digit": y}, x_test, {"digit": y_test})  # doctest: +SKIP
    {'digit': {'linear': {'accuracy': ...}, 'knn': {'accuracy': ...}}}
    """
    missing = sorted(set(train_labels) - set(test_labels))
    if missing:
        raise ValueError(
            f"Expected test labels for every train label; Received: missing={missing}")
    protocol = protocol_of({"eval": protocol})
    num_classes = dict(num_classes or {})
    shape = f"{len(train_features)}x{train_features.shape[-1]}"
    names = dict(names or {})
    results = {}
    for name in train_labels:
        # "presence4 (= presence, " for a renamed label, "label (" otherwise.
        shown = (f"{names[name]} (= {name}, " if names.get(name, name) != name
                 else f"{name} (")
        multi = name in set(multi_label)
        classes = num_classes.get(name)
        start = time.perf_counter()
        linear = linear_probe(train_features, train_labels[name], test_features,
                              test_labels[name], num_classes=classes,
                              multi_label=multi, seed=seed, **protocol["linear"])
        middle = time.perf_counter()
        if log:
            log(f"linear probe {shown}{protocol['linear']['optimizer']}, "
                f"{shape} features): {linear['accuracy']:.4f} in {middle - start:.1f}s")
        knn = knn_classify(train_features, train_labels[name], test_features,
                           test_labels[name], num_classes=classes,
                           multi_label=multi, **protocol["knn"])
        if log:
            log(f"kNN {shown}k={protocol['knn']['k']}): {knn['accuracy']:.4f} "
                f"in {time.perf_counter() - middle:.1f}s")
        results[name] = {"linear": linear, "knn": knn}
    return results


def label_metrics(results, names=None):
    """``linear/<name>``, ``knn/<name>`` (and for multi-hot labels
    ``map/<name>``, ``chance_map/<name>``, ``f1/<name>``) from
    ``evaluate_labels`` results; ``names`` maps a dataset label to the
    metric's name."""
    names = dict(names or {})
    metrics = {}
    for label, result in results.items():
        name = names.get(label, label)
        metrics[f"linear/{name}"] = float(result["linear"]["accuracy"])
        metrics[f"knn/{name}"] = float(result["knn"]["accuracy"])
        if "mean_average_precision" in result["linear"]:
            metrics[f"map/{name}"] = result["linear"]["mean_average_precision"]
            metrics[f"chance_map/{name}"] = result["linear"]["chance_map"]
            metrics[f"f1/{name}"] = result["linear"]["micro_f1"]
    return metrics
