"""Randomness of the SWD losses: fresh draws per step, reproducible seeds."""

import keras
import numpy as np
import pytest
from keras import ops
from loss_helpers import random_pair

from kcontrast.losses import SWDHypercube
from kcontrast.losses import SWDHypersphere
from kcontrast.losses import SWDNormal
from kcontrast.losses import make_loss
from kcontrast.losses import random_orthogonal

pytestmark = pytest.mark.backend

SWD_CLASSES = [SWDNormal, SWDHypersphere, SWDHypercube]


def projection_from_state(state):
    """The projection a loss draws first when its generator holds `state`."""
    generator = keras.random.SeedGenerator(0)
    generator.state.assign(state)
    return ops.convert_to_numpy(random_orthogonal(4, generator))


@pytest.mark.parametrize("cls", SWD_CLASSES)
def test_fresh_draws_each_call_and_reproducible_with_seed(cls):
    z1, z2 = random_pair(8, 16, seed=1)
    first, second = cls(seed=5), cls(seed=5)
    values = [float(first(z1, z2)) for _ in range(3)]
    again = [float(second(z1, z2)) for _ in range(3)]
    assert values == again
    assert len(set(values)) == 3


def test_names_and_defaults():
    for cls, name in zip(SWD_CLASSES, ["swd_normal", "swd_hypersphere",
                                       "swd_hypercube"]):
        loss = make_loss(name, seed=3)
        assert type(loss) is cls and loss.name == name
        assert loss.lambda_weight == 5.0 and loss.seed == 3


def test_stateless_jit_draws_a_new_projection_each_call():
    """Threads the SeedGenerator state through a jitted stateless function
    (as JAX training does): two calls draw different projections."""
    if keras.backend.backend() != "jax":
        pytest.skip("JAX-only: stateless jit")
    import jax

    z1, z2 = random_pair(8, 4, seed=2)
    loss = SWDNormal(seed=7)
    state_var = loss.seed_generator.state

    @jax.jit
    def step(state):
        with keras.StatelessScope(state_mapping=[(state_var, state)]) as scope:
            value = loss(z1, z2)
        return value, scope.get_current_value(state_var)

    state0 = state_var.value
    value1, state1 = step(state0)
    value2, state2 = step(state1)
    assert float(value1) != float(value2)
    w1, w2 = projection_from_state(state0), projection_from_state(state1)
    assert not np.allclose(w1, w2)
    # The variable itself is untouched: the state flows only through jit.
    np.testing.assert_array_equal(np.asarray(state_var.value),
                                  np.asarray(state0))


def tiny_model(seed):
    from kcontrast.models import ContrastiveModel

    keras.utils.set_random_seed(seed)
    x = keras.Input((6,))
    encoder = keras.Model(x, keras.layers.Dense(8, name="rep")(x))
    h = keras.Input((8,))
    head = keras.Model(h, keras.layers.Dense(4, name="proj")(h))
    model = ContrastiveModel(encoder, head, loss=SWDNormal(seed=seed))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def train_data():
    rng = np.random.default_rng(0)
    v1 = rng.normal(size=(16, 6)).astype("float32")
    v2 = (v1 + 0.1 * rng.normal(size=(16, 6))).astype("float32")
    return {"view1": v1, "view2": v2}


def test_model_train_steps_use_different_projections():
    """Two consecutive jitted ContrastiveModel train steps on JAX advance
    the loss's SeedGenerator, so each draws its own projection."""
    if keras.backend.backend() != "jax":
        pytest.skip("JAX-only: stateless jitted train_step")
    pytest.importorskip("kcontrast.models")
    import jax

    model = tiny_model(0)
    model.optimizer.build(model.trainable_variables)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    index = [id(v) for v in model.non_trainable_variables].index(
        id(model.contrastive_loss.seed_generator.state))
    step = jax.jit(model.train_step)
    data = (train_data(),)
    seeds = [state[1][index]]
    for _ in range(2):
        _, state = step(state, data)
        seeds.append(state[1][index])
    w = [projection_from_state(s) for s in seeds[:2]]
    assert not np.allclose(w[0], w[1])
    assert not np.array_equal(np.asarray(seeds[1]), np.asarray(seeds[2]))


def test_fixed_seed_run_is_reproducible():
    pytest.importorskip("kcontrast.models")
    runs = []
    for _ in range(2):
        model = tiny_model(3)
        history = model.fit(train_data(), batch_size=8, epochs=2,
                            shuffle=False, verbose=0)
        runs.append((history.history["contrastive_loss"],
                     [ops.convert_to_numpy(w) for w in model.get_weights()]))
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_array_equal(a, b)
