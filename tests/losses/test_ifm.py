"""Implicit feature modification (IFM) on NT-Xent and decoupled NT-Xent,
against slow float64 NumPy references written from the definition."""

import keras
import numpy as np
import pytest
from loss_helpers import evaluate
from loss_helpers import np_logsumexp
from loss_helpers import np_normalize
from loss_helpers import random_pair

from kcontrast.losses import DecoupledNTXent
from kcontrast.losses import GeneralizedContrastiveLoss
from kcontrast.losses import NTXent
from kcontrast.losses import SWDNormal
from kcontrast.losses import make_loss
from kcontrast.losses import nt_xent
from kcontrast.losses.ifm import check_ifm
from kcontrast.losses.params import loss_params

pytestmark = pytest.mark.backend


def reference_simclr_ifm(z1, z2, t, eps, w, z1_all=None, z2_all=None,
                         offset=0):
    """SimCLR-form NT-Xent by loops over the local anchors: the perturbed
    loss has the positive cosine - eps and every negative + eps; mixed."""
    h1, h2 = np_normalize(z1), np_normalize(z2)
    a1 = h1 if z1_all is None else np_normalize(z1_all)
    a2 = h2 if z2_all is None else np_normalize(z2_all)
    n, big_n = len(h1), len(a1)
    a = np.concatenate([a1, a2])
    anchors = [(h1[i], offset + i, big_n + offset + i) for i in range(n)]
    anchors += [(h2[i], big_n + offset + i, offset + i) for i in range(n)]

    def loss(e):
        total = 0.0
        for h, self_col, pos_col in anchors:
            logits = []
            for k in range(2 * big_n):
                if k == self_col:
                    continue
                shift = -e if k == pos_col else e
                logits.append((h @ a[k] + shift) / t)
            total += np_logsumexp(logits) - (h @ a[pos_col] - e) / t
        return total / len(anchors)

    return (1 - w) * loss(0.0) + w * loss(eps)


def reference_companion_ifm(z1, z2, t, eps, w):
    """Companion form (n x n cross-view logits, directions summed)."""
    h1, h2 = np_normalize(z1), np_normalize(z2)
    n = len(h1)

    def loss(e):
        total = 0.0
        for ha, hb in ((h1, h2), (h2, h1)):
            direction = 0.0
            for i in range(n):
                logits = [(ha[i] @ hb[k] + (-e if k == i else e)) / t
                          for k in range(n)]
                direction += np_logsumexp(logits) - (ha[i] @ hb[i] - e) / t
            total += direction / n
        return total

    return (1 - w) * loss(0.0) + w * loss(eps)


def reference_decoupled_ifm(z1, z2, t, lam, scale, eps, w, z1_all=None,
                            z2_all=None, offset=0):
    """scale * mix(A + lam D, A_eps + lam D_eps): A_eps has each pair's
    cosine lowered by eps; D_eps each row's positive - eps, every other
    row but itself + eps."""
    h1, h2 = np_normalize(z1), np_normalize(z2)
    a1 = h1 if z1_all is None else np_normalize(z1_all)
    a2 = h2 if z2_all is None else np_normalize(z2_all)
    n, d = h1.shape
    big_n = len(a1)
    a = np.concatenate([a1, a2])
    rows = [(h1[i], offset + i, big_n + offset + i) for i in range(n)]
    rows += [(h2[i], big_n + offset + i, offset + i) for i in range(n)]

    def loss(e):
        align = np.mean([np.sum((h1[i] - h2[i]) ** 2) / 2 for i in range(n)])
        align = (align + e) / d  # mean over n*d elements of the perturbed
        dist = 0.0
        for h, self_col, pos_col in rows:
            scores = []
            for k in range(2 * big_n):
                shift = 0.0 if k == self_col else (-e if k == pos_col else e)
                scores.append((h @ a[k] + shift) / t)
            dist += np_logsumexp(scores)
        dist = dist / len(rows) - np.log(d)
        return align + lam * dist

    return scale * ((1 - w) * loss(0.0) + w * loss(eps))


CASES = [(2, 8, 0.05, 0.1, 0.5), (7, 128, 0.2, 0.2, 1.0),
         (16, 8, 1.0, 0.05, 0.3), (64, 32, 0.1, 0.1, 0.5)]


@pytest.mark.parametrize("form", ["simclr", "cross_view"])
@pytest.mark.parametrize("n, d, t, eps, w", CASES)
def test_nt_xent_ifm_matches_reference(n, d, t, eps, w, form):
    z1, z2 = random_pair(n, d, seed=n + d)
    loss = NTXent(temperature=t, form=form, ifm_epsilon=eps, ifm_weight=w)
    np.testing.assert_allclose(evaluate(loss, z1, z2),
                               reference_simclr_ifm(z1, z2, t, eps, w),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n, d, t, eps, w", CASES)
def test_companion_ifm_matches_reference(n, d, t, eps, w):
    z1, z2 = random_pair(n, d, seed=n + d + 1)
    loss = NTXent(temperature=t, form="companion", ifm_epsilon=eps,
                  ifm_weight=w)
    np.testing.assert_allclose(evaluate(loss, z1, z2),
                               reference_companion_ifm(z1, z2, t, eps, w),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["simclr", "cross_view"])
def test_nt_xent_ifm_global_negatives(form):
    """With gathered projections the local rows sit at `offset`."""
    z1_all, z2_all = random_pair(12, 16, seed=3)
    z1, z2 = z1_all[4:8], z2_all[4:8]
    got = evaluate(lambda *z: nt_xent(z[0], z[1], 0.2, form, z[2], z[3], 4,
                                      ifm_epsilon=0.1, ifm_weight=0.5),
                   z1, z2, z1_all, z2_all)
    expected = reference_simclr_ifm(z1, z2, 0.2, 0.1, 0.5, z1_all, z2_all, 4)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n, d, t, eps, w", CASES)
def test_decoupled_ifm_matches_reference(n, d, t, eps, w):
    z1, z2 = random_pair(n, d, seed=n * d)
    loss = DecoupledNTXent(temperature=t, lambda_weight=0.3, scale=2.0,
                           ifm_epsilon=eps, ifm_weight=w)
    expected = reference_decoupled_ifm(z1, z2, t, 0.3, 2.0, eps, w)
    np.testing.assert_allclose(evaluate(loss, z1, z2), expected,
                               rtol=1e-5, atol=1e-5)


def test_decoupled_ifm_global_negatives():
    z1_all, z2_all = random_pair(10, 8, seed=5)
    gathered = iter([z1_all, z2_all])  # apply_gather asks view 1, then 2
    loss = DecoupledNTXent(temperature=0.5, lambda_weight=0.2,
                           ifm_epsilon=0.2, ifm_weight=0.7,
                           gather=lambda z: (next(gathered), 6))
    got = float(loss(z1_all[6:9], z2_all[6:9]))
    expected = reference_decoupled_ifm(z1_all[6:9], z2_all[6:9], 0.5, 0.2,
                                       1.0, 0.2, 0.7, z1_all, z2_all, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda e, w: NTXent(0.2, ifm_epsilon=e, ifm_weight=w),
    lambda e, w: NTXent(0.2, form="companion", ifm_epsilon=e, ifm_weight=w),
    lambda e, w: DecoupledNTXent(ifm_epsilon=e, ifm_weight=w)])
def test_ifm_off_is_the_standard_loss_and_on_is_harder(make):
    z1, z2 = random_pair(8, 16, seed=1)
    standard = evaluate(make(0.0, 0.5), z1, z2)
    assert evaluate(make(0.0, 1.0), z1, z2) == pytest.approx(standard, rel=1e-6)
    assert evaluate(make(0.3, 0.0), z1, z2) == pytest.approx(standard, rel=1e-6)
    # Raising negatives and lowering the positive can only raise the loss.
    half = evaluate(make(0.1, 0.5), z1, z2)
    full = evaluate(make(0.1, 1.0), z1, z2)
    assert standard < half < full
    assert half == pytest.approx((standard + full) / 2, rel=1e-5)


def test_ifm_gradient_is_finite_and_differs():
    z1, z2 = random_pair(8, 16, seed=2)
    from loss_helpers import value_and_grad

    _, plain = value_and_grad(NTXent(0.2), z1, z2)
    _, grads = value_and_grad(NTXent(0.2, ifm_epsilon=0.1), z1, z2)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert not np.allclose(plain[0], grads[0])


@pytest.mark.parametrize("kwargs, bad", [
    ({"ifm_epsilon": -0.1}, "ifm_epsilon=-0.1"),
    ({"ifm_weight": 1.5}, "ifm_weight=1.5"),
    ({"ifm_weight": -0.2}, "ifm_weight=-0.2"),
    ({"ifm_epsilon": "x"}, "ifm_epsilon='x'")])
@pytest.mark.parametrize("cls", [NTXent, DecoupledNTXent])
def test_bad_ifm_values_raise(cls, kwargs, bad):
    with pytest.raises(ValueError, match="Expected .*Received: " + bad):
        cls(**kwargs)
    with pytest.raises(ValueError, match=bad):
        check_ifm(kwargs.get("ifm_epsilon", 0.0), kwargs.get("ifm_weight", 0.5))


def test_swd_refuses_ifm():
    with pytest.raises(ValueError, match="ifm_epsilon=0.1"):
        GeneralizedContrastiveLoss("swd", ifm_epsilon=0.1)


def test_config_keys_and_round_trip():
    assert loss_params("nt_xent")[-2:] == ("ifm_epsilon", "ifm_weight")
    assert "ifm_epsilon" in loss_params("decoupled_nt_xent")
    assert "ifm_epsilon" not in loss_params("swd_normal")
    for loss in (make_loss("nt_xent", ifm_epsilon=0.1, ifm_weight=0.25),
                 make_loss("decoupled_nt_xent", ifm_epsilon=0.2),
                 SWDNormal(seed=1)):
        again = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(loss))
        assert again.get_config() == loss.get_config()
    assert again.get_config().get("ifm_epsilon") is None
