import keras
import numpy as np
import pytest

from kcontrast.models import projection_head

pytestmark = pytest.mark.backend


def test_depth_zero_is_the_identity():
    head = projection_head(16, depth=0)
    x = np.random.default_rng(0).normal(size=(3, 16)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(head(x)), x)
    assert not head.weights


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_depth_counts_dense_layers(depth):
    head = projection_head(16, depth=depth, hidden_units=8, output_units=4)
    assert head.output.shape == (None, 4)
    dense = [l for l in head.layers if type(l).__name__ == "Dense"]
    assert len(dense) == depth
    assert all(not l.use_bias for l in dense)
    hidden = [l.name for l in head.layers if l.name.startswith("head_")
              and l.name[5:].isdigit()]
    assert hidden == [f"head_{i}" for i in range(1, depth)]


@pytest.mark.parametrize("kwargs, message", [
    ({"depth": -1}, "depth=-1"),
    ({"output_units": 0}, "output_units=0"),
    ({"hidden_units": 0}, "hidden_units=0"),
    ({"weight_decay": -0.1}, "weight_decay=-0.1"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        projection_head(16, **kwargs)
