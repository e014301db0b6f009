import keras
import numpy as np
import pytest
from keras import ops
from loss_helpers import value_and_grad

from kcontrast.losses import l2_normalize

pytestmark = pytest.mark.backend


def test_unit_rows_and_float32():
    x = np.random.default_rng(0).normal(size=(5, 7))
    y = l2_normalize(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    np.testing.assert_allclose(np.linalg.norm(ops.convert_to_numpy(y), axis=1),
                               1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_is_upcast(dtype):
    y = l2_normalize(ops.cast(np.ones((2, 4)), dtype))
    assert keras.backend.standardize_dtype(y.dtype) == "float32"


def test_zero_row_has_finite_value_and_gradient():
    x = np.zeros((2, 3), "float32")
    value, (grad,) = value_and_grad(lambda a: ops.sum(l2_normalize(a)), x)
    assert value == 0.0
    assert np.all(np.isfinite(grad))
