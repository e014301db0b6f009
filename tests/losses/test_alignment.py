import numpy as np
import pytest
from loss_helpers import np_alignment
from loss_helpers import evaluate
from loss_helpers import random_pair

from kcontrast.losses import alignment

pytestmark = pytest.mark.backend


@pytest.mark.parametrize("n", [2, 7, 64])
@pytest.mark.parametrize("d", [8, 128])
def test_matches_reference(n, d):
    h1, h2 = random_pair(n, d, seed=n + d)
    np.testing.assert_allclose(evaluate(alignment, h1, h2),
                               np_alignment(h1, h2), rtol=1e-5, atol=1e-5)


def test_symmetric_and_zero_on_equal_views():
    h1, h2 = random_pair(5, 8)
    assert float(alignment(h1, h2)) == pytest.approx(float(alignment(h2, h1)))
    assert float(alignment(h1, h1)) == 0.0


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"h2.shape=\(3, 4\)"):
        alignment(np.ones((3, 5)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"h1.shape=\(3,\)"):
        alignment(np.ones(3), np.ones(3))
