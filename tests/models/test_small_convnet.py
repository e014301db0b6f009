import keras
import numpy as np
import pytest

from kcontrast.models import small_convnet

pytestmark = pytest.mark.backend


@pytest.mark.parametrize("width", [1, 2])
def test_shapes_follow_the_companion_architecture(width):
    encoder = small_convnet((28, 28, 3), width=width)
    assert encoder.output.shape == (None, 128 * width)
    stages = {l.name: tuple(l.output.shape) for l in encoder.layers
              if l.name in ("stage1", "stage2", "stage3")}
    assert stages == {"stage1": (None, 13, 13, 32 * width),
                      "stage2": (None, 6, 6, 64 * width),
                      "stage3": (None, 2, 2, 64 * width)}
    out = encoder(np.zeros((2, 28, 28, 3), "float32"))
    assert tuple(out.shape) == (2, 128 * width)


def test_no_bias_and_l2_on_every_kernel():
    encoder = small_convnet((28, 28, 1), weight_decay=1e-4)
    kernels = [w for w in encoder.weights if "kernel" in w.path]
    assert len(kernels) == 4
    assert not [w for w in encoder.weights if w.path.endswith("/bias")
                and "bn" not in w.path]
    expected = sum(1e-4 * float(np.sum(keras.ops.convert_to_numpy(k) ** 2))
                   for k in kernels)
    got = sum(float(keras.ops.convert_to_numpy(l)) for l in encoder.losses)
    assert got == pytest.approx(expected, rel=1e-5)


def test_zero_weight_decay_adds_no_penalty():
    assert small_convnet((28, 28, 1), weight_decay=0).losses == []


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 0}, "width=0"),
    ({"width": 1.5}, "width=1.5"),
    ({"weight_decay": -1.0}, "weight_decay=-1.0"),
    ({"input_shape": (28, 28)}, "input_shape=(28, 28)"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    args = {"input_shape": (28, 28, 1), **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        small_convnet(**args)
