"""The losses on the keras.losses.Loss contract: per-anchor values, the
three reductions and sample_weight, against float64 NumPy values computed
by hand here (one value per anchor view, `[n, 2]`)."""

import keras
import numpy as np
import pytest
from loss_helpers import np_normalize
from loss_helpers import random_pair

from kcontrast.losses import DecoupledNTXent
from kcontrast.losses import GeneralizedContrastiveLoss
from kcontrast.losses import NTXent
from kcontrast.losses import SWDHypercube
from kcontrast.losses import SWDHypersphere
from kcontrast.losses import SWDNormal
from kcontrast.losses import nt_xent

pytestmark = pytest.mark.backend

N, D = 6, 5


def np_lse(x, axis=-1):
    """Row-wise logsumexp over the last axis (-inf entries allowed)."""
    assert axis == -1
    m = np.max(x, axis=-1, keepdims=True)
    return m[..., 0] + np.log(np.sum(np.exp(x - m), axis=-1))


def np_nt_xent_values(z1, z2, t, form):
    h1, h2 = np_normalize(z1), np_normalize(z2)
    n = len(h1)
    if form == "companion":
        logits = h1 @ h2.T / t
        diag = np.diag(logits)
        a = np_lse(logits, -1) - diag            # view 1 anchors vs view 2
        b = np_lse(logits.T, -1) - diag          # view 2 anchors vs view 1
        return 2.0 * np.stack([a, b], axis=1)
    h = np.concatenate([h1, h2])
    s = h @ h.T / t
    partner = np.concatenate([np.arange(n) + n, np.arange(n)])
    pos = s[np.arange(2 * n), partner]
    np.fill_diagonal(s, -np.inf)
    ce = np_lse(s, -1) - pos
    return np.stack([ce[:n], ce[n:]], axis=1)


def np_alignment_values(h1, h2):
    return np.sum((h1 - h2) ** 2, axis=-1) / (2 * h1.shape[1])


def np_decoupled_values(z1, z2, t, lam, scale):
    h1, h2 = np_normalize(z1), np_normalize(z2)
    n, d = h1.shape
    h = np.concatenate([h1, h2])
    rows = np_lse(h @ h.T / t, -1) - np.log(d)
    dist = np.stack([rows[:n], rows[n:]], axis=1)
    return scale * (np_alignment_values(h1, h2)[:, None] + lam * dist)


CASES = {
    "nt_xent_simclr": (lambda **kw: NTXent(0.3, form="simclr", **kw),
                       lambda z1, z2: np_nt_xent_values(z1, z2, 0.3, "simclr")),
    "nt_xent_cross_view": (lambda **kw: NTXent(0.3, form="cross_view", **kw),
                           lambda z1, z2: np_nt_xent_values(z1, z2, 0.3, "simclr")),
    "nt_xent_companion": (lambda **kw: NTXent(0.3, form="companion", **kw),
                          lambda z1, z2: np_nt_xent_values(z1, z2, 0.3, "companion")),
    "decoupled": (lambda **kw: DecoupledNTXent(0.5, 0.2, scale=2.0, **kw),
                  lambda z1, z2: np_decoupled_values(z1, z2, 0.5, 0.2, 2.0)),
    "generalized_logsumexp": (
        lambda **kw: GeneralizedContrastiveLoss("logsumexp", lambda_weight=0.7,
                                                temperature=0.4, **kw),
        lambda z1, z2: np_decoupled_values(z1, z2, 0.4, 0.7, 1.0)),
}


def _np(x):
    return keras.ops.convert_to_numpy(x).astype(np.float64)


@pytest.mark.parametrize("case", sorted(CASES))
def test_reduction_none_is_the_per_anchor_values(case):
    make, reference = CASES[case]
    z1, z2 = random_pair(N, D, seed=3)
    values = _np(make(reduction="none")(z1, z2))
    assert values.shape == (N, 2)
    np.testing.assert_allclose(values, reference(z1, z2), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sum_and_mean_agree_with_the_values(case):
    make, reference = CASES[case]
    z1, z2 = random_pair(N, D, seed=4)
    expected = reference(z1, z2)
    total = float(make(reduction="sum")(z1, z2))
    mean = float(make()(z1, z2))
    assert total == pytest.approx(expected.sum(), rel=2e-5)
    assert mean == pytest.approx(expected.mean(), rel=2e-5)
    assert mean == pytest.approx(total / (2 * N), rel=1e-6)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sample_weight_weights_the_anchors(case):
    make, reference = CASES[case]
    z1, z2 = random_pair(N, D, seed=5)
    expected = reference(z1, z2)
    rng = np.random.default_rng(0)
    per_example = rng.uniform(0, 2, size=(N,)).astype("float32")
    per_anchor = rng.uniform(0, 2, size=(N, 2)).astype("float32")
    loss = make()
    got = float(loss(z1, z2, sample_weight=per_example))
    assert got == pytest.approx(
        np.sum(expected * per_example[:, None]) / (2 * N), rel=2e-5)
    got = float(loss(z1, z2, sample_weight=per_anchor))
    assert got == pytest.approx(np.sum(expected * per_anchor) / (2 * N), rel=2e-5)
    # Weight 0 on one example removes both of its anchors from the sum.
    mask = np.ones(N, "float32")
    mask[2] = 0.0
    got = float(make(reduction="sum")(z1, z2, sample_weight=mask))
    assert got == pytest.approx(np.delete(expected, 2, axis=0).sum(), rel=2e-5)


@pytest.mark.parametrize("form", ["simclr", "cross_view", "companion"])
def test_nt_xent_function_is_the_mean_of_the_values(form):
    z1, z2 = random_pair(N, D, seed=6)
    assert float(nt_xent(z1, z2, 0.3, form)) == pytest.approx(
        np_nt_xent_values(z1, z2, 0.3, form).mean(), rel=2e-5)


@pytest.mark.parametrize("cls, normalized", [
    (SWDNormal, False), (SWDHypersphere, True), (SWDHypercube, False)])
def test_swd_batch_term_is_attributed_equally_to_every_anchor(cls, normalized):
    # values[i, v] = scale * (alignment_i + lambda * SWD(batch)): the same
    # SWD for every anchor, so the mean is the loss and a weight scales one
    # anchor's share of the batch statistic.
    z1, z2 = random_pair(N, D, seed=7)
    values = _np(cls(lambda_weight=3.0, scale=0.5, seed=11,
                     reduction="none")(z1, z2))
    assert values.shape == (N, 2)
    h1, h2 = (np_normalize(z1), np_normalize(z2)) if normalized else (
        np.float64(z1), np.float64(z2))
    swd_share = values - 0.5 * np_alignment_values(h1, h2)[:, None]
    np.testing.assert_allclose(swd_share, swd_share[0, 0], rtol=1e-5, atol=1e-6)
    assert swd_share[0, 0] > 0
    # Same seed, same draws: the reduced forms agree with the values.
    weights = np.arange(1, N + 1, dtype="float32")
    mean = float(cls(lambda_weight=3.0, scale=0.5, seed=11)(z1, z2))
    weighted = float(cls(lambda_weight=3.0, scale=0.5, seed=11,
                         reduction="sum")(z1, z2, sample_weight=weights))
    assert mean == pytest.approx(values.mean(), rel=1e-5)
    assert weighted == pytest.approx(np.sum(values * weights[:, None]), rel=1e-5)


def test_gather_must_be_auto_none_or_callable():
    with pytest.raises(ValueError, match="gather='auto', None or a callable"):
        NTXent(gather="global")
    assert NTXent().gather == "auto" and NTXent(gather=None).gather is None


@pytest.mark.parametrize("prior, alias", [
    ("normal", SWDNormal), ("hypersphere", SWDHypersphere), ("hypercube", SWDHypercube)])
def test_swd_is_one_class_and_the_old_names_are_that_class(prior, alias):
    from kcontrast.losses import SWD

    z1, z2 = random_pair(N, D, seed=8)
    one = _np(SWD(prior, lambda_weight=2.0, seed=5, reduction="none")(z1, z2))
    old = _np(alias(lambda_weight=2.0, seed=5, reduction="none")(z1, z2))
    np.testing.assert_array_equal(one, old)
    assert isinstance(alias(), SWD) and alias().prior == prior
    # Saved configs of the old classes still load, as the old class.
    loaded = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(alias(lambda_weight=2.0, seed=5)))
    assert type(loaded) is alias and loaded.lambda_weight == 2.0
    np.testing.assert_array_equal(
        _np(SWD.from_config(SWD(prior, seed=5).get_config())(z1, z2)),
        _np(SWD(prior, seed=5)(z1, z2)))
