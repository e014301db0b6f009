import numpy as np
import pytest
from loss_helpers import np_logsumexp_distribution
from loss_helpers import np_normalize
from loss_helpers import evaluate
from loss_helpers import random_pair

from kcontrast.losses import logsumexp_distribution

pytestmark = pytest.mark.backend


# Every (n, d) pair once, every temperature twice (the losses built on this
# function repeat the check through their own references).
CASES = [(2, 8, 0.05), (2, 128, 1.0), (7, 8, 0.2), (7, 128, 0.05),
         (64, 8, 1.0), (64, 128, 0.2)]


@pytest.mark.parametrize("n, d, t", CASES)
def test_matches_reference(n, d, t):
    h1, h2 = random_pair(n, d, seed=n * d)
    h = np_normalize(np.concatenate([h1, h2])).astype("float32")
    np.testing.assert_allclose(evaluate(lambda x: logsumexp_distribution(x, t),
                                        h),
                               np_logsumexp_distribution(h, t),
                               rtol=1e-5, atol=1e-5)


def test_invariant_to_row_order():
    h1, h2 = random_pair(6, 8)
    a = float(logsumexp_distribution(np.concatenate([h1, h2]), 0.5))
    b = float(logsumexp_distribution(np.concatenate([h2, h1]), 0.5))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_gathered_rows():
    h_all = np_normalize(random_pair(12, 8)[0]).astype("float32")
    h = h_all[4:8]
    got = float(logsumexp_distribution(h, 0.2, h_all))
    np.testing.assert_allclose(got, np_logsumexp_distribution(h, 0.2, h_all),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(logsumexp_distribution(h_all, 0.2)),
                               float(logsumexp_distribution(h_all, 0.2,
                                                            h_all)))


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature=0"):
        logsumexp_distribution(np.ones((4, 2)), 0)
    with pytest.raises(ValueError, match=r"batch size >= 2.*\(1, 2\)"):
        logsumexp_distribution(np.ones((1, 2)), 1.0)
    with pytest.raises(ValueError, match=r"h.shape=\(4,\)"):
        logsumexp_distribution(np.ones(4), 1.0)
