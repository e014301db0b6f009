"""Weighted kNN against a slow reference; batching, memory and invariances."""

import tracemalloc

import numpy as np
import pytest

from kcontrast.evaluation import knn_classify
from kcontrast.evaluation.knn import knn_scores


def reference_scores(train_x, train_y, test_x, num_classes, k, t, multi_label):
    """One test row at a time, full similarity list, explicit sort."""
    train_n = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    out = []
    for row in test_x:
        sims = train_n @ (row / np.linalg.norm(row))
        nearest = np.argsort(-sims, kind="stable")[:k]
        w = np.exp(sims[nearest].astype(np.float64) / t)
        if multi_label:
            out.append((w[:, None] * train_y[nearest]).sum(0) / w.sum())
        else:
            votes = np.zeros(num_classes)
            for j, weight in zip(nearest, w):
                votes[train_y[j]] += weight
            out.append(votes)
    return np.array(out)


def clusters(n, dim=16, classes=5, seed=0, noise=1.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = rng.integers(0, classes, n)
    x = centres[y] + noise * rng.normal(size=(n, dim))
    return x.astype(np.float32), y


@pytest.mark.parametrize("k,t", [(1, 0.07), (5, 0.07), (20, 0.5), (20, 0.07)])
def test_matches_reference(k, t):
    x, y = clusters(300)
    scores = knn_scores(x[:200], y[:200], x[200:], 5, k=k, temperature=t)
    ref = reference_scores(x[:200], y[:200], x[200:], 5, k, t, False)
    # Both sides scale each row by a constant; compare the normalized votes.
    np.testing.assert_allclose(scores / scores.sum(1, keepdims=True),
                               ref / ref.sum(1, keepdims=True), atol=1e-5)
    result = knn_classify(x[:200], y[:200], x[200:], y[200:], k=k, temperature=t)
    assert result["accuracy"] == pytest.approx(float((ref.argmax(1) == y[200:]).mean()))


def test_multi_label_matches_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(250, 8)).astype(np.float32)
    y = (x[:, :3] > 0).astype(np.int64)          # 3 presence labels
    ref = reference_scores(x[:200], y[:200], x[200:], 3, 10, 0.1, True)
    result = knn_classify(x[:200], y[:200], x[200:], y[200:], k=10, temperature=0.1,
                          multi_label=True)
    per_class = ((ref >= 0.5) == (y[200:] > 0.5)).mean(0)
    np.testing.assert_allclose(result["per_class_accuracy"], per_class)
    assert result["accuracy"] == pytest.approx(per_class.mean())
    assert result["accuracy"] > 0.8


def test_batch_size_does_not_change_the_answer():
    x, y = clusters(600, seed=2)
    full = knn_scores(x[:400], y[:400], x[400:], 5, batch_size=200)
    for batch_size in (1, 7, 64):
        np.testing.assert_allclose(
            knn_scores(x[:400], y[:400], x[400:], 5, batch_size=batch_size), full,
            rtol=1e-5)


def test_memory_is_one_block_not_the_full_matrix():
    rng = np.random.default_rng(3)
    n_train, n_test, dim = 20_000, 2_000, 8
    train = rng.normal(size=(n_train, dim)).astype(np.float32)
    test = rng.normal(size=(n_test, dim)).astype(np.float32)
    labels = rng.integers(0, 10, n_train)
    full_matrix = n_test * n_train * 4                       # 160 MB
    tracemalloc.start()
    knn_scores(train, labels, test, 10, batch_size=64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # One normalized bank (0.6 MB) plus a [64, 20000] similarity block and
    # its partition indices (15 MB); the full matrix alone would be 160 MB.
    assert peak < full_matrix / 4, peak


def test_cosine_ignores_row_scale_and_small_temperature_is_1nn():
    x, y = clusters(300, seed=4)
    scale = np.random.default_rng(5).uniform(0.1, 10, size=(300, 1)).astype(np.float32)
    a = knn_classify(x[:200], y[:200], x[200:], y[200:])
    b = knn_classify(x[:200] * scale[:200], y[:200], x[200:] * scale[200:], y[200:])
    assert a["accuracy"] == b["accuracy"]
    tiny = knn_scores(x[:200], y[:200], x[200:], 5, k=20, temperature=1e-4)
    one = knn_scores(x[:200], y[:200], x[200:], 5, k=1)
    assert np.all(np.isfinite(tiny))
    np.testing.assert_array_equal(tiny.argmax(1), one.argmax(1))


@pytest.mark.parametrize("kwargs,match", [
    ({"k": 0}, "k"),
    ({"temperature": 0.0}, "temperature"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments(kwargs, match):
    x, y = clusters(20)
    with pytest.raises(ValueError, match=match):
        knn_classify(x[:10], y[:10], x[10:], y[10:], **kwargs)


def test_bad_shapes():
    x, y = clusters(20)
    with pytest.raises(ValueError, match="same width"):
        knn_classify(x[:10], y[:10], x[10:, :3], y[10:])
    with pytest.raises(ValueError, match="rows"):
        knn_classify(x[:10], y[:9], x[10:], y[10:])
    with pytest.raises(ValueError, match="num_classes"):
        knn_classify(x[:10], y[:10], x[10:], y[10:], num_classes=2)
