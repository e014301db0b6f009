"""Linear probe: reaches sklearn's logistic regression, multi-label, determinism."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from kcontrast.evaluation import linear_probe
from kcontrast.evaluation.lbfgs import minimize_lbfgs
from kcontrast.evaluation.linear_probe import _objective
from kcontrast.evaluation.standardize import Standardizer

pytestmark = pytest.mark.backend


def digits_split():
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order]
    return x[:1200], y[:1200], x[1200:], y[1200:]


def mixture(n, dim=64, classes=10, seed=0):
    """Overlapping Gaussian classes: a linear probe cannot be perfect."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 0.35
    y = rng.integers(0, classes, n)
    x = centres[y] + rng.normal(size=(n, dim))
    return x.astype(np.float32), y


def sklearn_accuracy(train_x, train_y, test_x, test_y):
    s = Standardizer(train_x)
    clf = LogisticRegression(max_iter=5000).fit(s(train_x), train_y)
    return clf.score(s(test_x), test_y)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_reaches_sklearn_on_digits(optimizer):
    train_x, train_y, test_x, test_y = digits_split()
    result = linear_probe(train_x, train_y, test_x, test_y, num_classes=10, seed=0,
                          optimizer=optimizer)
    reference = sklearn_accuracy(train_x, train_y, test_x, test_y)
    assert result["accuracy"] >= reference - 0.02, (result, reference)
    assert result["optimizer"] == optimizer
    assert result["num_train"] + result["num_val"] == 1200
    assert result["num_test"] == len(test_y)


def test_lbfgs_objective_has_sklearns_optimum():
    """Minimizing the probe's keras.ops objective gives sklearn's classifier."""
    x, y = mixture(600, dim=8, classes=3, seed=5)
    z = Standardizer(x)(x)
    f_and_grad = _objective(z, y, 3, False, l2=0.5 / len(z))
    theta, _, _ = minimize_lbfgs(f_and_grad, np.zeros(8 * 3 + 3), gtol=1e-7, ftol=0.0,
                                 max_iter=2000)
    logits = z @ theta[:24].reshape(8, 3) + theta[24:]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    clf = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(z, y)
    np.testing.assert_allclose(probs, clf.predict_proba(z), atol=1e-3)


def test_reaches_sklearn_on_overlapping_classes():
    x, y = mixture(3000)
    result = linear_probe(x[:2000], y[:2000], x[2000:], y[2000:], seed=1)
    reference = sklearn_accuracy(x[:2000], y[:2000], x[2000:], y[2000:])
    assert 0.3 < reference < 0.95
    assert result["accuracy"] >= reference - 0.02, (result, reference)


def test_same_seed_same_result_and_affine_invariance():
    x, y = mixture(300, dim=16, seed=2)
    kwargs = dict(seed=3, max_epochs=5)
    a = linear_probe(x[:200], y[:200], x[200:], y[200:], **kwargs)
    b = linear_probe(x[:200], y[:200], x[200:], y[200:], **kwargs)
    assert a == b
    # Standardization makes a per-feature affine map of the features irrelevant.
    scale = np.linspace(0.5, 20, 16, dtype=np.float32)
    c = linear_probe(x[:200] * scale + 7, y[:200], x[200:] * scale + 7, y[200:], **kwargs)
    assert c["accuracy"] == pytest.approx(a["accuracy"], abs=0.02)


def test_multi_label_per_class_accuracy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1500, 20)).astype(np.float32)
    w = rng.normal(size=(20, 4))
    y = (x @ w + 2.0 * rng.normal(size=(1500, 4)) > 0).astype(np.int64)
    result = linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], num_classes=4,
                          multi_label=True, seed=0)
    assert len(result["per_class_accuracy"]) == 4
    assert result["accuracy"] == pytest.approx(np.mean(result["per_class_accuracy"]))
    s = Standardizer(x[:1000])
    for c in range(4):
        ref = LogisticRegression(max_iter=2000).fit(s(x[:1000]), y[:1000, c]).score(
            s(x[1000:]), y[1000:, c])
        assert result["per_class_accuracy"][c] >= ref - 0.03


def test_bad_arguments():
    x, y = mixture(50, dim=4)
    with pytest.raises(ValueError, match="validation_fraction"):
        linear_probe(x[:40], y[:40], x[40:], y[40:], validation_fraction=1.5)
    with pytest.raises(ValueError, match="multi_label"):
        linear_probe(x[:40], y[:40], x[40:], y[40:], multi_label=True)
    with pytest.raises(ValueError, match="num_classes"):
        linear_probe(x[:40], y[:40], x[40:], y[40:], num_classes=3)
    with pytest.raises(ValueError, match="optimizer"):
        linear_probe(x[:40], y[:40], x[40:], y[40:], optimizer="sgd")
