import numpy as np
import pytest
from keras import ops
from loss_helpers import np_sliced_wasserstein
from loss_helpers import evaluate
from loss_helpers import random_pair
from loss_helpers import value_and_grad

from kcontrast.losses import random_orthogonal
from kcontrast.losses import sliced_wasserstein

pytestmark = pytest.mark.backend


def np_orthogonal(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return (q * np.sign(np.diag(r))).astype("float32")


@pytest.mark.parametrize("n", [2, 7, 64])
@pytest.mark.parametrize("d", [8, 128])
def test_matches_reference(n, d):
    h1, h2 = random_pair(n, d, seed=n + 3 * d)
    h = np.concatenate([h1, h2])
    prior = np.random.default_rng(1).normal(size=h.shape).astype("float32")
    w = np_orthogonal(d, seed=2)
    np.testing.assert_allclose(evaluate(sliced_wasserstein, h, prior, w),
                               np_sliced_wasserstein(h, prior, w),
                               rtol=1e-5, atol=1e-5)


def test_rectangular_projection():
    h = np.random.default_rng(0).normal(size=(10, 6)).astype("float32")
    prior = np.random.default_rng(1).uniform(-1, 1, (10, 6)).astype("float32")
    w = np.random.default_rng(2).normal(size=(6, 3)).astype("float32")
    np.testing.assert_allclose(float(sliced_wasserstein(h, prior, w)),
                               np_sliced_wasserstein(h, prior, w), rtol=1e-5)


@pytest.mark.parametrize("n, d", [(2, 8), (64, 128)])
def test_zero_when_prior_is_a_permutation_of_h(n, d):
    h = np.random.default_rng(n).normal(size=(2 * n, d)).astype("float32")
    perm = np.random.default_rng(d).permutation(2 * n)
    w = np_orthogonal(d, seed=3)
    assert abs(evaluate(sliced_wasserstein, h, h[perm], w)) <= 1e-6


def test_random_orthogonal_is_orthogonal_and_seeded():
    w = ops.convert_to_numpy(random_orthogonal(16, seed=5))
    np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-5)
    again = ops.convert_to_numpy(random_orthogonal(16, seed=5))
    np.testing.assert_array_equal(w, again)
    other = ops.convert_to_numpy(random_orthogonal(16, seed=6))
    assert not np.allclose(w, other)


def test_gradients_finite_with_ties():
    """Tied values (all-zero h) sort stably; the gradient stays finite."""
    h = np.zeros((8, 4), "float32")
    prior = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    w = np_orthogonal(4, seed=0)
    value, (grad,) = value_and_grad(
        lambda x: sliced_wasserstein(x, prior, w), h)
    assert np.isfinite(value) and np.all(np.isfinite(grad))


def test_bad_shapes():
    w = np.eye(4, dtype="float32")
    with pytest.raises(ValueError, match=r"prior_samples.shape=\(5, 4\)"):
        sliced_wasserstein(np.ones((6, 4)), np.ones((5, 4)), w)
    with pytest.raises(ValueError, match=r"projection.shape=\(3, 3\)"):
        sliced_wasserstein(np.ones((6, 4)), np.ones((6, 4)), np.eye(3))
    with pytest.raises(ValueError, match=r"h.shape=\(6,\)"):
        sliced_wasserstein(np.ones(6), np.ones(6), w)
