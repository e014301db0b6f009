"""extract_features streams batches through a dict-returning model; evaluate_labels."""

import numpy as np
import pytest

from kcontrast.evaluation import evaluate_labels, extract_features


def feature_fn(images):
    """A real (numpy) feature function: two named features per image."""
    flat = images.reshape(images.shape[0], -1)
    return {"mean": flat.mean(1, keepdims=True), "flat": flat}


def batches(images, labels, batch_size):
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size], {
            name: value[start:start + batch_size] for name, value in labels.items()}


def test_streams_in_order_and_keeps_only_requested_names():
    rng = np.random.default_rng(0)
    images = rng.random((10, 2, 2, 1), dtype=np.float32)
    labels = {"digit": np.arange(10), "presence": rng.integers(0, 2, (10, 3))}
    features, got = extract_features(feature_fn, batches(images, labels, 3), ["flat"])
    assert list(features) == ["flat"]
    np.testing.assert_array_equal(features["flat"], images.reshape(10, 4))
    np.testing.assert_array_equal(got["digit"], labels["digit"])
    np.testing.assert_array_equal(got["presence"], labels["presence"])
    everything, _ = extract_features(feature_fn, batches(images, labels, 4))
    assert sorted(everything) == ["flat", "mean"]


def test_unknown_name_lists_the_available_ones():
    images = np.zeros((4, 2, 2, 1), np.float32)
    with pytest.raises(ValueError, match=r"among \['flat', 'mean'\]"):
        extract_features(feature_fn, batches(images, {}, 2), ["projection"])


def test_evaluate_labels_reports_every_label():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    digit = (x[:, 0] > 0).astype(np.int64)
    presence = (x[:, 1:3] > 0).astype(np.int64)
    train = {"digit": digit[:200], "presence": presence[:200]}
    test = {"digit": digit[200:], "presence": presence[200:]}
    results = evaluate_labels(x[:200], train, x[200:], test, multi_label=("presence",),
                              protocol={"linear": {"max_epochs": 20}})
    assert sorted(results) == ["digit", "presence"]
    assert len(results["presence"]["linear"]["per_class_accuracy"]) == 2
    assert len(results["presence"]["knn"]["per_class_accuracy"]) == 2
    for name in results:
        assert results[name]["linear"]["accuracy"] > 0.8
        assert results[name]["knn"]["accuracy"] > 0.8
    with pytest.raises(ValueError, match="missing"):
        evaluate_labels(x[:200], train, x[200:], {"digit": digit[200:]})
