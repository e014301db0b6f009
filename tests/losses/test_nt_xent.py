import keras
import numpy as np
import pytest
from loss_helpers import np_logsumexp
from loss_helpers import np_normalize
from loss_helpers import evaluate
from loss_helpers import random_pair
from loss_helpers import value_and_grad

from kcontrast.losses import NTXent
from kcontrast.losses import nt_xent

pytestmark = [pytest.mark.backend, pytest.mark.matrix]


def reference_nt_xent(z1, z2, t):
    """Slow float64 SimCLR-form NT-Xent: loops over the 2n anchors."""
    h = np_normalize(np.concatenate([z1, z2], axis=0))
    n2 = h.shape[0]
    n = n2 // 2
    total = 0.0
    for i in range(n2):
        partner = (i + n) % n2
        logits = [h[i] @ h[k] / t for k in range(n2) if k != i]
        total += np_logsumexp(logits) - h[i] @ h[partner] / t
    return total / n2


def reference_companion(z1, z2, t, z1_all=None, z2_all=None, offset=0):
    """Slow float64 companion form: for each local anchor i, a softmax
    cross-entropy over the other view's (gathered) rows, target its own
    partner; mean over the n anchors per direction, directions summed."""
    h1, h2 = np_normalize(z1), np_normalize(z2)
    a1 = h1 if z1_all is None else np_normalize(z1_all)
    a2 = h2 if z2_all is None else np_normalize(z2_all)
    n = len(h1)
    total = 0.0
    for ha, ab in ((h1, a2), (h2, a1)):
        direction = 0.0
        for i in range(n):
            logits = [ha[i] @ ab[k] / t for k in range(len(ab))]
            direction += np_logsumexp(logits) - ha[i] @ ab[offset + i] / t
        total += direction / n
    return total


# Every (n, d) pair with two of the three temperatures: one per form (each
# form sees every n, d and t; test_forms_agree ties the forms together).
SIMCLR_CASES = [(2, 8, 0.05), (2, 128, 1.0), (7, 8, 0.2),
                (7, 128, 0.05), (64, 8, 1.0), (64, 128, 0.2)]
CROSS_VIEW_CASES = [(2, 8, 1.0), (2, 128, 0.2), (7, 8, 0.05),
                    (7, 128, 1.0), (64, 8, 0.2), (64, 128, 0.05)]


@pytest.mark.parametrize(
    "n, d, t, form",
    [case + ("simclr",) for case in SIMCLR_CASES]
    + [case + ("cross_view",) for case in CROSS_VIEW_CASES])
def test_matches_numpy_reference(n, d, t, form):
    z1, z2 = random_pair(n, d, seed=n * 1000 + d)
    expected = reference_nt_xent(z1, z2, t)
    got = evaluate(NTXent(temperature=t, form=form), z1, z2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


COMPANION_CASES = [(2, 8, 0.2), (2, 128, 0.05), (7, 8, 1.0),
                   (7, 128, 0.2), (64, 8, 0.05), (64, 128, 1.0)]


@pytest.mark.parametrize("n, d, t", COMPANION_CASES)
def test_companion_matches_numpy_reference(n, d, t):
    z1, z2 = random_pair(n, d, seed=n * 1000 + d + 1)
    expected = reference_companion(z1, z2, t)
    got = evaluate(NTXent(temperature=t, form="companion"), z1, z2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_companion_is_the_columns_of_the_cross_view_matrix():
    """Direction 2 -> 1 is the cross-entropy over the columns of
    L = h1 h2^T / t, the same matrix as direction 1 -> 2 (rows)."""
    n, t = 9, 0.1
    z1, z2 = random_pair(n, 16, seed=11)
    h1, h2 = np_normalize(z1), np_normalize(z2)
    logits = h1 @ h2.T / t
    rows = np.mean([np_logsumexp(logits[i]) - logits[i, i] for i in range(n)])
    cols = np.mean([np_logsumexp(logits[:, i]) - logits[i, i] for i in range(n)])
    got = evaluate(lambda x, y: nt_xent(x, y, t, form="companion"), z1, z2)
    np.testing.assert_allclose(got, rows + cols, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("t", [0.05, 0.2, 1.0])
def test_companion_relation_to_cross_view(t):
    """2 * cross_view - companion is exactly the same-view-negatives term
    of the docstring: a factor 2, plus a positive data-dependent term."""
    n = 12
    z1, z2 = random_pair(n, 32, seed=12)
    h1, h2 = np_normalize(z1), np_normalize(z2)
    cross = h1 @ h2.T / t
    extra = 0.0
    for logits, same in ((cross, h1 @ h1.T / t), (cross.T, h2 @ h2.T / t)):
        for i in range(n):
            others = [same[i, k] for k in range(n) if k != i]
            extra += np.log1p(np.exp(np_logsumexp(others)
                                     - np_logsumexp(logits[i]))) / n
    companion = evaluate(lambda x, y: nt_xent(x, y, t, form="companion"), z1, z2)
    cross_view = evaluate(lambda x, y: nt_xent(x, y, t, form="cross_view"), z1, z2)
    assert extra > 0
    np.testing.assert_allclose(2 * cross_view - companion, extra,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("t", [0.05, 0.2, 1.0])
def test_forms_agree(t):
    z1, z2 = random_pair(16, 32, seed=3)
    a = evaluate(lambda x, y: nt_xent(x, y, t, form="simclr"), z1, z2)
    b = evaluate(lambda x, y: nt_xent(x, y, t, form="cross_view"), z1, z2)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("form", ["simclr", "cross_view", "companion"])
def test_symmetric_in_views(form):
    z1, z2 = random_pair(9, 16, seed=4)
    loss = NTXent(0.2, form=form)
    a, b = evaluate(loss, z1, z2), evaluate(loss, z2, z1)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_keras_cv_simclr_loss_is_twice_ours():
    """keras_cv.losses.SimCLRLoss sums the a->b and b->a cross-entropies
    (like google-research/simclr) where we average them: it is exactly 2x
    NT-Xent for rows whose squared norm exceeds its 1e-7 clamp.

    Run under TensorFlow only: importing keras_cv costs seconds on every
    backend (it imports TensorFlow), and this compares definitions; the
    NumPy reference above covers the backends."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("definition check, run once under tensorflow")
    keras_cv = pytest.importorskip("keras_cv")
    for t in (0.05, 0.2, 1.0):
        z1, z2 = random_pair(12, 32, seed=5)
        theirs = float(keras_cv.losses.SimCLRLoss(temperature=t)(z1, z2))
        ours = float(NTXent(temperature=t)(z1, z2))
        np.testing.assert_allclose(theirs, 2.0 * ours, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("form", ["simclr", "cross_view", "companion"])
def test_identity_gather_gives_same_loss(form):
    z1, z2 = random_pair(8, 16, seed=6)
    plain = float(NTXent(0.2, form=form)(z1, z2))
    gathered = float(NTXent(0.2, form=form, gather=lambda z: (z, 0))(z1, z2))
    np.testing.assert_allclose(gathered, plain, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("form", ["simclr", "cross_view"])
def test_global_negatives_match_reference(form):
    """Replica 1 of 3: local anchors against all gathered views."""
    n, d, t = 4, 8, 0.2
    z1_all, z2_all = random_pair(3 * n, d, seed=7)
    offset = n
    z1, z2 = z1_all[offset:offset + n], z2_all[offset:offset + n]
    got = evaluate(lambda *z: nt_xent(z[0], z[1], t, form, z[2], z[3],
                                      offset), z1, z2, z1_all, z2_all)
    h = np_normalize(np.concatenate([z1_all, z2_all], axis=0))
    big_n = 3 * n
    anchors = [offset + i for i in range(n)]
    anchors += [big_n + offset + i for i in range(n)]
    total = 0.0
    for i in anchors:
        partner = (i + big_n) % (2 * big_n)
        logits = [h[i] @ h[k] / t for k in range(2 * big_n) if k != i]
        total += np_logsumexp(logits) - h[i] @ h[partner] / t
    np.testing.assert_allclose(got, total / (2 * n), rtol=1e-5, atol=1e-5)


def test_companion_global_negatives_match_reference():
    """Replica 1 of 3: local anchors against every gathered row of the
    other view."""
    n, d, t = 4, 8, 0.2
    z1_all, z2_all = random_pair(3 * n, d, seed=7)
    offset = n
    z1, z2 = z1_all[offset:offset + n], z2_all[offset:offset + n]
    got = evaluate(lambda *z: nt_xent(z[0], z[1], t, "companion", z[2], z[3],
                                      offset), z1, z2, z1_all, z2_all)
    expected = reference_companion(z1, z2, t, z1_all, z2_all, offset)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


# The SimCLR form (the registry's nt_xent) is checked with every loss in
# test_generalized.py.
@pytest.mark.parametrize("form", ["cross_view", "companion"])
@pytest.mark.parametrize("case", ["t=0.01", "zeros", "bfloat16", "float16"])
def test_finite_loss_and_gradients(form, case):
    z1, z2 = random_pair(8, 16, seed=8)
    t = 0.2
    if case == "t=0.01":
        t = 0.01
    elif case == "zeros":
        z1 = np.zeros_like(z1)
        z2 = np.zeros_like(z2)
    loss = NTXent(temperature=t, form=form)
    if case in ("bfloat16", "float16"):
        z1 = keras.ops.cast(z1, case)
        z2 = keras.ops.cast(z2, case)
        value = loss(z1, z2)
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        z1 = keras.ops.convert_to_numpy(keras.ops.cast(z1, "float32"))
        z2 = keras.ops.convert_to_numpy(keras.ops.cast(z2, "float32"))
    value, grads = value_and_grad(lambda a, b: loss(a, b), z1, z2)
    assert np.isfinite(value)
    for g in grads:
        assert np.all(np.isfinite(g))


def test_returns_float32_scalar():
    z1, z2 = random_pair(4, 8)
    value = NTXent()(z1, z2)
    assert tuple(value.shape) == ()
    assert keras.backend.standardize_dtype(value.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
        ({"form": "bogus"}, "form='bogus'"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NTXent(**kwargs)


@pytest.mark.parametrize(
    "shape1, shape2, match",
    [
        ((4, 8), (4, 9), r"z2.shape=\(4, 9\)"),
        ((4, 8), (5, 8), r"z2.shape=\(5, 8\)"),
        ((4, 8, 1), (4, 8, 1), r"z1.shape=\(4, 8, 1\)"),
        ((8,), (8,), r"z1.shape=\(8,\)"),
        ((1, 8), (1, 8), r"batch size >= 2.*z1.shape=\(1, 8\)"),
    ],
)
def test_bad_shapes(shape1, shape2, match):
    with pytest.raises(ValueError, match=match):
        NTXent()(np.ones(shape1, "float32"), np.ones(shape2, "float32"))


@pytest.mark.parametrize("form", ["simclr", "cross_view", "companion"])
def test_config_round_trip(form):
    loss = NTXent(temperature=0.3, form=form, name="my_loss")
    config = keras.saving.serialize_keras_object(loss)
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, NTXent)
    assert restored.get_config() == loss.get_config()
    z1, z2 = random_pair(5, 8)
    np.testing.assert_allclose(float(restored(z1, z2)), float(loss(z1, z2)))
