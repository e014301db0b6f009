import keras
import numpy as np
import pytest
from loss_helpers import np_alignment
from loss_helpers import np_logsumexp
from loss_helpers import np_logsumexp_distribution
from loss_helpers import np_normalize
from loss_helpers import evaluate
from loss_helpers import random_pair

from kcontrast.losses import DecoupledNTXent
from kcontrast.losses import NTXent

pytestmark = pytest.mark.backend


def reference_decoupled(z1, z2, t, lam, scale=1.0):
    h1, h2 = np_normalize(z1), np_normalize(z2)
    h = np.concatenate([h1, h2])
    return scale * (np_alignment(h1, h2)
                    + lam * np_logsumexp_distribution(h, t))


@pytest.mark.parametrize("n, d, t", [(2, 8, 0.05), (2, 128, 1.0),
                                     (7, 8, 0.2), (7, 128, 0.05),
                                     (64, 8, 1.0), (64, 128, 0.2)])
def test_matches_reference(n, d, t):
    z1, z2 = random_pair(n, d, seed=n * d + 1)
    got = evaluate(DecoupledNTXent(temperature=t, lambda_weight=0.3,
                                   scale=2.0), z1, z2)
    np.testing.assert_allclose(got, reference_decoupled(z1, z2, t, 0.3, 2.0),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n, d, t", [(2, 8, 0.05), (7, 128, 0.2),
                                     (64, 8, 1.0), (16, 32, 0.5)])
def test_relation_to_nt_xent(n, d, t):
    """DecoupledNTXent(lambda=t) = t NTXent + (1-d) A + t S + 1 - t log d."""
    z1, z2 = random_pair(n, d, seed=n + d)
    h1, h2 = np_normalize(z1), np_normalize(z2)
    h = np.concatenate([h1, h2])
    # S: mean over rows of softplus(self logit - logsumexp over the others).
    s = 0.0
    for i in range(2 * n):
        others = np_logsumexp([h[i] @ h[k] / t for k in range(2 * n)
                               if k != i])
        s += np.logaddexp(0.0, h[i] @ h[i] / t - others)
    s /= 2 * n
    a = np_alignment(h1, h2)
    decoupled = evaluate(DecoupledNTXent(temperature=t, lambda_weight=t),
                         z1, z2)
    nt = evaluate(NTXent(temperature=t), z1, z2)
    rhs = t * nt + (1 - d) * a + t * s + 1 - t * np.log(d)
    np.testing.assert_allclose(decoupled, rhs, rtol=1e-5, atol=1e-5)
    # scale = d, lambda = t / d weights the alignment as NT-Xent does.
    rescaled = evaluate(DecoupledNTXent(temperature=t, lambda_weight=t / d,
                                        scale=d), z1, z2)
    np.testing.assert_allclose(rescaled, t * nt + t * s + 1 - t * np.log(d),
                               rtol=1e-5, atol=1e-5)


def test_symmetric_in_views():
    z1, z2 = random_pair(9, 16, seed=2)
    loss = DecoupledNTXent()
    np.testing.assert_allclose(float(loss(z1, z2)), float(loss(z2, z1)),
                               rtol=1e-5, atol=1e-6)


def test_config_round_trip():
    loss = DecoupledNTXent(temperature=0.5, lambda_weight=0.2, scale=3.0)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss))
    assert type(restored) is DecoupledNTXent
    assert restored.get_config() == loss.get_config()
