"""LARS against a NumPy reference of SimCLR's update, on every backend."""

import keras
import numpy as np
import pytest

from kcontrast.lars import LARS

pytestmark = pytest.mark.backend


def _reference(weights, grads_per_step, lr, momentum, eta, weight_decay):
    """Plain NumPy LARS: rank >= 2 arrays adapted, rank 1 plain momentum SGD."""
    w = [np.array(x, np.float64) for x in weights]
    v = [np.zeros_like(x) for x in w]
    for grads in grads_per_step:
        for i, g in enumerate(grads):
            g = np.array(g, np.float64)
            step = lr
            if w[i].ndim >= 2:
                g = g + weight_decay * w[i]
                wn, gn = np.linalg.norm(w[i]), np.linalg.norm(g)
                step = lr * (eta * wn / gn if wn > 0 and gn > 0 else 1.0)
            v[i] = momentum * v[i] + step * g
            w[i] = w[i] - v[i]
    return w


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_three_steps_match_the_reference(weight_decay):
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(3,)), np.zeros((2, 2))]
    steps = [[rng.normal(size=w.shape) for w in weights] for _ in range(3)]
    variables = [keras.Variable(w.astype("float32")) for w in weights]
    opt = LARS(learning_rate=0.5, momentum=0.9, eta=0.01, weight_decay=weight_decay)
    for grads in steps:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")), v)
                             for g, v in zip(grads, variables)])
    expected = _reference(weights, steps, 0.5, 0.9, 0.01, weight_decay)
    for v, e in zip(variables, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(v), e, rtol=1e-5, atol=1e-6)
    # The zero kernel has ||w|| = 0: trust 1, so it moved by plain momentum SGD.
    assert np.abs(keras.ops.convert_to_numpy(variables[2])).max() > 0


def test_the_trust_ratio_makes_the_step_scale_free():
    """Scaling a kernel's gradient by 1000 leaves its first LARS step unchanged."""
    out = []
    for scale in (1.0, 1000.0):
        v = keras.Variable(np.ones((3, 3), "float32"))
        LARS(learning_rate=1.0, momentum=0.0, eta=0.1).apply_gradients(
            [(keras.ops.full((3, 3), scale), v)])
        out.append(keras.ops.convert_to_numpy(v))
    np.testing.assert_allclose(out[0], out[1], rtol=1e-6)
    np.testing.assert_allclose(out[0], 1.0 - 0.1, rtol=1e-6)   # eta * ||w|| / ||g|| * g


def test_fits_a_model_and_round_trips_its_config():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=LARS(learning_rate=0.05, eta=1.0), loss="mse")
    x = np.random.default_rng(1).normal(size=(64, 5)).astype("float32")
    y = x.sum(1, keepdims=True)
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]
    config = model.optimizer.get_config()
    again = LARS.from_config(config)
    assert (again.momentum, again.eta, again.lars_weight_decay) == (0.9, 1.0, 0.0)


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"eta": 0.0}, {"weight_decay": -1.0},
                                    {"momentum": "x"}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="Expected"):
        LARS(**kwargs)
