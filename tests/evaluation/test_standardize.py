"""Standardizer: training statistics, constant features, block accumulation."""

import numpy as np

from kcontrast.evaluation.standardize import Standardizer


def test_zero_mean_unit_std_on_training_rows():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(1000, 6)) * [1, 10, 0.1, 5, 2, 3] + 50).astype(np.float32)
    s = Standardizer(x, block_rows=97)
    z = s(x)
    assert z.dtype == np.float32
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(s.mean, x.astype(np.float64).mean(0), rtol=1e-6)


def test_constant_feature_is_centred_not_divided():
    x = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]], np.float32)
    z = Standardizer(x)(x)
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z[:, 1], 0.0)
