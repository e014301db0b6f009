import numpy as np
import pytest
from keras import ops

from kcontrast.losses import PRIORS
from kcontrast.losses import sample_prior

pytestmark = pytest.mark.backend


def draw(name, shape=(512, 8), seed=0):
    return ops.convert_to_numpy(sample_prior(name, shape, seed))


def test_shapes_and_dtype():
    for name in PRIORS:
        x = sample_prior(name, (6, 3), seed=1)
        assert tuple(x.shape) == (6, 3)
        assert str(ops.convert_to_numpy(x).dtype) == "float32"


def test_distributions():
    x = draw("normal")
    assert abs(x.mean()) < 0.1 and abs(x.std() - 1.0) < 0.1
    x = draw("hypersphere")
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert abs(x.mean()) < 0.05
    x = draw("hypercube")
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert abs(x.std() - np.sqrt(1.0 / 3.0)) < 0.05


def test_unknown_prior():
    with pytest.raises(ValueError, match="prior='gamma'"):
        sample_prior("gamma", (2, 2), seed=0)
