"""What every encoder of ``kcontrast.models.ENCODERS`` shares: the keyword
arguments ``kcontrast.pretrain.build_model`` passes to all of them."""

import keras
import numpy as np
import pytest

from kcontrast.models import ENCODERS, projection_head

pytestmark = pytest.mark.backend

SHAPE = (32, 32, 1)


def _bn_layers(model):
    return [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_takes_the_build_model_arguments(name):
    encoder = ENCODERS[name](SHAPE, width=1, weight_decay=1e-4, bn_momentum=0.99)
    assert _bn_layers(encoder)
    assert {l.momentum for l in _bn_layers(encoder)} == {0.99}
    default = ENCODERS[name](SHAPE)
    assert {l.momentum for l in _bn_layers(default)} == {0.9}


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_bn_momentum_sets_the_moving_average_update(name):
    """One training-mode call from moving mean 0: the first BatchNorm's
    moving mean becomes (1 - m) * the batch mean of its input."""
    m = 0.75
    keras.utils.set_random_seed(0)
    encoder = ENCODERS[name](SHAPE, bn_momentum=m)
    bn = _bn_layers(encoder)[0]
    before_bn = keras.Model(encoder.inputs[0], bn.input)
    x = np.random.default_rng(0).random((8,) + SHAPE, dtype=np.float32)
    batch = keras.ops.convert_to_numpy(before_bn(x))
    encoder(x, training=True)
    expected = (1 - m) * batch.reshape(-1, batch.shape[-1]).mean(0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean),
                               expected, rtol=1e-4, atol=1e-6)


def test_projection_head_bn_momentum():
    head = projection_head(16, depth=3, hidden_units=8, bn_momentum=0.99)
    assert [l.momentum for l in _bn_layers(head)] == [0.99, 0.99]
    assert [l.momentum for l in _bn_layers(projection_head(16, depth=3))] == [0.9, 0.9]


@pytest.mark.parametrize("name", sorted(ENCODERS))
@pytest.mark.parametrize("value", [-0.1, 1.5, "0.9"])
def test_bad_bn_momentum_names_the_value(name, value):
    with pytest.raises(ValueError, match=f"bn_momentum={value!r}"):
        ENCODERS[name](SHAPE, bn_momentum=value)
    with pytest.raises(ValueError, match=f"bn_momentum={value!r}"):
        projection_head(16, bn_momentum=value)
