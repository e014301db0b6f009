import numpy as np
import pytest

from kcontrast.metrics import contrastive_accuracy

pytestmark = pytest.mark.backend


def reference_accuracy(z1, z2):
    h = np.concatenate([z1, z2], axis=0).astype(np.float64)
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    n2 = h.shape[0]
    hits = 0
    for i in range(n2):
        sims = [(h[i] @ h[k], k) for k in range(n2) if k != i]
        best = max(sims, key=lambda s: s[0])[1]
        hits += best == (i + n2 // 2) % n2
    return hits / n2


@pytest.mark.parametrize("n, d, noise", [(2, 8, 0.5), (7, 8, 2.0),
                                         (64, 16, 1.5)])
def test_matches_reference(n, d, noise):
    rng = np.random.default_rng(n)
    z1 = rng.normal(size=(n, d)).astype("float32")
    z2 = (z1 + noise * rng.normal(size=(n, d))).astype("float32")
    expected = reference_accuracy(z1, z2)
    assert 0.0 < expected < 1.0 or n == 2
    np.testing.assert_allclose(float(contrastive_accuracy(z1, z2)), expected)


def test_perfect_and_bad_shape():
    z1 = np.random.default_rng(0).normal(size=(6, 32)).astype("float32")
    assert float(contrastive_accuracy(z1, z1)) == 1.0
    with pytest.raises(ValueError, match="z2.shape"):
        contrastive_accuracy(z1, z1[:, :4])
