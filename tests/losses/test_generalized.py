import keras
import numpy as np
import pytest
from keras import ops
from loss_helpers import np_alignment
from loss_helpers import np_logsumexp_distribution
from loss_helpers import np_normalize
from loss_helpers import np_sliced_wasserstein
from loss_helpers import evaluate
from loss_helpers import random_pair
from loss_helpers import value_and_grad

from kcontrast.losses import LOSSES
from kcontrast.losses import GeneralizedContrastiveLoss
from kcontrast.losses import make_loss
from kcontrast.losses import random_orthogonal
from kcontrast.losses import sample_prior

pytestmark = [pytest.mark.backend, pytest.mark.matrix]

CASES = [(2, 8, 0.05), (2, 128, 1.0), (7, 8, 0.2), (7, 128, 0.05),
         (64, 8, 1.0), (64, 128, 0.2)]


def swd_draws(seed, prior, shape):
    """The projection and prior samples a fresh loss with `seed` draws."""
    generator = keras.random.SeedGenerator(seed)
    w = random_orthogonal(shape[1], generator)
    p = sample_prior(prior, shape, generator)
    return ops.convert_to_numpy(w), ops.convert_to_numpy(p)


@pytest.mark.parametrize(
    "n, d, t, normalize",
    [case + (i % 2 == 0,) for i, case in enumerate(CASES)])
def test_logsumexp_matches_reference(n, d, t, normalize):
    z1, z2 = random_pair(n, d, seed=n * d)
    loss = GeneralizedContrastiveLoss("logsumexp", lambda_weight=0.7,
                                      temperature=t, normalize=normalize,
                                      scale=1.5)
    got = evaluate(loss, z1, z2)
    h1, h2 = (np_normalize(z1), np_normalize(z2)) if normalize else (z1, z2)
    expected = 1.5 * (np_alignment(h1, h2) + 0.7 * np_logsumexp_distribution(
        np.concatenate([h1, h2]), t))
    np.testing.assert_allclose(got, expected,
                               rtol=1e-5, atol=1e-5)


# Each prior on two (n, d) pairs; together they cover all six (SWD has no
# temperature: t only checks that it is ignored).
SWD_CASES = [("normal", 2, 8, 0.05), ("normal", 64, 128, 0.2),
             ("hypersphere", 7, 128, 1.0), ("hypersphere", 64, 8, 0.05),
             ("hypercube", 2, 128, 0.2), ("hypercube", 7, 8, 1.0)]


@pytest.mark.parametrize("prior, n, d, t", SWD_CASES)
def test_swd_matches_reference(n, d, t, prior):
    z1, z2 = random_pair(n, d, seed=n + d)
    loss = GeneralizedContrastiveLoss("swd", prior=prior, lambda_weight=5.0,
                                      temperature=t, scale=0.5, seed=11)
    w, p = swd_draws(11, prior, (2 * n, d))
    if prior == "hypersphere":
        z1, z2 = np_normalize(z1), np_normalize(z2)
    expected = 0.5 * (np_alignment(z1, z2) + 5.0 * np_sliced_wasserstein(
        np.concatenate([z1, z2]), p, w))
    np.testing.assert_allclose(float(loss(z1, z2)), expected,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_symmetric_in_views(name):
    """SWD too: [h2; h1] is a row permutation of [h1; h2] and sorting
    forgets the order, so equal seeds give equal values."""
    z1, z2 = random_pair(9, 16, seed=2)
    a = float(make_loss(name, seed=4)(z1, z2))
    b = float(make_loss(name, seed=4)(z2, z1))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("case", ["t=0.01", "zeros", "bfloat16", "float16"])
def test_finite_loss_and_gradients(name, case):
    z1, z2 = random_pair(8, 16, seed=8)
    temperature = 0.01 if case == "t=0.01" else None
    if case == "zeros":
        z1, z2 = np.zeros_like(z1), np.zeros_like(z2)
    loss = make_loss(name, temperature=temperature, seed=1)
    if case in ("bfloat16", "float16"):
        value = loss(ops.cast(z1, case), ops.cast(z2, case))
        assert keras.backend.standardize_dtype(value.dtype) == "float32"
        assert np.isfinite(float(value))
    value, grads = value_and_grad(lambda a, b: loss(a, b), z1, z2,
                                  jit=loss.seed_generator is None)
    assert np.isfinite(value)
    for g in grads:
        assert np.all(np.isfinite(g))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_identity_gather_gives_same_loss(name):
    z1, z2 = random_pair(8, 16, seed=6)
    plain = float(make_loss(name, seed=2)(z1, z2))
    gathered = float(make_loss(name, seed=2, gather=lambda z: (z, 0))(z1, z2))
    np.testing.assert_allclose(gathered, plain, rtol=1e-6, atol=1e-6)


def test_logsumexp_global_negatives():
    """Replica 1 of 2: alignment local, logsumexp over all gathered rows."""
    z1_all, z2_all = random_pair(8, 8, seed=9)
    z1, z2 = z1_all[4:], z2_all[4:]

    def gather(z):  # replica 0 holds rows 0-3, this replica rows 4-7
        local = ops.convert_to_numpy(z)
        other = z1_all[:4] if np.array_equal(local, z1) else z2_all[:4]
        return ops.concatenate([other, z], axis=0), 4

    loss = GeneralizedContrastiveLoss(
        "logsumexp", lambda_weight=0.5, temperature=0.2, gather=gather)
    h1, h2 = np_normalize(z1), np_normalize(z2)
    h_all = np_normalize(np.concatenate([z1_all, z2_all]))
    expected = np_alignment(h1, h2) + 0.5 * np_logsumexp_distribution(
        np.concatenate([h1, h2]), 0.2, h_all)
    np.testing.assert_allclose(float(loss(z1, z2)), expected, rtol=1e-5)


def test_normalize_defaults_follow_companion_code():
    def build(dist, prior="normal"):
        return GeneralizedContrastiveLoss(dist, prior=prior)

    assert build("logsumexp").normalize
    assert not build("swd", "normal").normalize
    assert build("swd", "hypersphere").normalize
    assert not build("swd", "hypercube").normalize
    assert GeneralizedContrastiveLoss("swd", normalize=True).normalize


def test_seed_generator_only_for_swd():
    assert GeneralizedContrastiveLoss("logsumexp").seed_generator is None
    swd = GeneralizedContrastiveLoss("swd", seed=0)
    assert isinstance(swd.seed_generator, keras.random.SeedGenerator)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"distribution": "kl"}, "distribution='kl'"),
        ({"prior": "laplace"}, "prior='laplace'"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"lambda_weight": -0.5}, "lambda_weight=-0.5"),
        ({"scale": 0}, "scale=0"),
        ({"seed": "abc"}, "seed='abc'"),
        ({"seed": 1.5}, "seed=1.5"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GeneralizedContrastiveLoss(**kwargs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_bad_shapes(name):
    loss = make_loss(name, seed=0)
    with pytest.raises(ValueError, match=r"z2.shape=\(4, 9\)"):
        loss(np.ones((4, 8), "float32"), np.ones((4, 9), "float32"))
    with pytest.raises(ValueError, match=r"z1.shape=\(4, 8, 1\)"):
        loss(np.ones((4, 8, 1), "float32"), np.ones((4, 8, 1), "float32"))


def test_batch_of_one():
    """Losses with negatives need n >= 2; SWD matches 2 rows to the prior."""
    z = np.ones((1, 8), "float32")
    for name in ("nt_xent", "decoupled_nt_xent"):
        with pytest.raises(ValueError, match=r"batch size >= 2"):
            make_loss(name)(z, z)
    assert np.isfinite(float(make_loss("swd_normal", seed=0)(z, z)))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_config_round_trip(name):
    loss = make_loss(name, temperature=0.3, lambda_weight=0.4, seed=7)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()
    z1, z2 = random_pair(6, 8)
    np.testing.assert_allclose(float(restored(z1, z2)), float(loss(z1, z2)),
                               rtol=1e-6)


def test_generalized_config_round_trip():
    loss = GeneralizedContrastiveLoss("swd", prior="hypercube",
                                      lambda_weight=2.0, normalize=True,
                                      scale=0.5, seed=3)
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(loss))
    assert restored.get_config() == loss.get_config()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_unknown_batch_size_under_tf_function(name):
    """model.fit on TensorFlow traces with an unknown batch dimension."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("TensorFlow-only: symbolic batch dimension")
    import tensorflow as tf

    loss = make_loss(name, seed=0)
    fn = tf.function(loss, input_signature=[tf.TensorSpec([None, 16])] * 2)
    z1, z2 = random_pair(6, 16)
    np.testing.assert_allclose(float(fn(z1, z2)),
                               float(make_loss(name, seed=0)(z1, z2)),
                               rtol=1e-5)
