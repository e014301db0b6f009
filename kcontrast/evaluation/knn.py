"""Weighted k-nearest-neighbour classification on frozen features.

The instance-discrimination kNN protocol (Wu et al. 2018): cosine similarity,
the k most similar training rows vote with weight exp(sim / t).

    s_ij = <x_i, x_j> / (|x_i| |x_j|)                 test row i, training row j
    N_i = the k training rows with the largest s_ij
    w_ij = exp(s_ij / t)                              j in N_i
    single-label: score_ic = sum_{j in N_i} w_ij [y_j = c],  prediction argmax_c
    multi-label:  score_ic = sum_j w_ij y_jc / sum_j w_ij,   present if >= 0.5

The weights are computed as exp((s_ij - max_j s_ij) / t), which leaves every
vote ratio unchanged and never overflows at small t.

Memory: the training features are L2-normalized into one float32 copy; test
rows are processed `batch_size` at a time, so the largest temporary is a
`[batch_size, N_train]` similarity block (256 x 60,000 floats = 61 MB), never
the full `[N_test, N_train]` matrix.
"""

import numpy as np

from kcontrast import checks


def _normalize(features):
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def knn_scores(train_features, train_labels, query_features, num_classes,
               multi_label=False, k=20, temperature=0.07, batch_size=256):
    """Vote scores `[M, C]` of the weighted kNN (see the module docstring).

    Args:
        train_features: float32 `[N, D]`.
        train_labels: int `[N]`, or multi-hot float `[N, C]` if `multi_label`.
        query_features: float32 `[M, D]`.
        num_classes: C.
        multi_label, k, temperature, batch_size: as in `knn_classify`.

    Returns:
        float32 `[M, C]`: summed weights per class (single-label) or the
        weighted share of neighbours with the class present (multi-label).
    """
    bank = _normalize(train_features).astype(np.float32, copy=False)
    k = min(k, bank.shape[0])
    if not multi_label:
        one_hot = np.eye(num_classes, dtype=np.float32)
    scores = np.empty((query_features.shape[0], num_classes), np.float32)
    for start in range(0, query_features.shape[0], batch_size):
        query = _normalize(query_features[start:start + batch_size])
        sims = query @ bank.T                                    # [B, N]
        n = sims.shape[1]
        top = np.argpartition(sims, n - k, axis=1)[:, n - k:].copy()   # [B, k]
        top_sims = np.take_along_axis(sims, top, axis=1)
        del sims
        weights = np.exp((top_sims - top_sims.max(1, keepdims=True)) / temperature)
        if multi_label:
            votes = np.einsum("bk,bkc->bc", weights, train_labels[top])
            votes /= weights.sum(1, keepdims=True)
        else:
            votes = np.einsum("bk,bkc->bc", weights, one_hot[train_labels[top]])
        scores[start:start + batch_size] = votes
    return scores


def knn_classify(train_features, train_labels, test_features, test_labels,
                 num_classes=None, *, multi_label=None, k=20, temperature=0.07,
                 batch_size=256):
    """Weighted kNN accuracy of test rows against a bank of training rows.

    Args:
        train_features, test_features: float `[N, D]` / `[M, D]` arrays.
        train_labels, test_labels: int `[N]` / `[M]` class ids, or multi-hot
            `[N, K]` / `[M, K]` presence labels.
        num_classes: number of classes (inferred from the training labels
            if None) or `K` for multi-label (checked).
        multi_label: True for multi-hot labels; None infers it from the rank.
        k: neighbours per test row (capped at N).
        temperature: t in exp(sim / t).
        batch_size: test rows per similarity block; results do not depend
            on it.

    Returns:
        dict: `accuracy` (top-1, or the mean of `per_class_accuracy` for
        multi-label), `per_class_accuracy` (multi-label only), `k`,
        `temperature`, `num_train`, `num_test`.

    >>> x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]], np.float32)
    >>> knn_classify(x, [0, 0, 1], x[:1], [0], k=2)["accuracy"]
    1.0
    """
    (train_features, train_labels, test_features, test_labels,
     multi_label, num_classes) = checks.check_train_test(
        train_features, train_labels, test_features, test_labels,
        num_classes, multi_label)
    k = checks.check_positive_int(k, "k")
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    temperature = checks.check_positive(temperature, "temperature")
    scores = knn_scores(train_features, train_labels, test_features, num_classes,
                        multi_label=multi_label, k=k, temperature=float(temperature),
                        batch_size=batch_size)
    result = {"k": min(k, train_features.shape[0]), "temperature": float(temperature),
              "num_train": int(train_features.shape[0]),
              "num_test": int(test_features.shape[0])}
    if multi_label:
        per_class = ((scores >= 0.5) == (test_labels > 0.5)).mean(0)
        result["accuracy"] = float(per_class.mean())
        result["per_class_accuracy"] = [float(a) for a in per_class]
    else:
        result["accuracy"] = float((scores.argmax(1) == test_labels).mean())
    return result
