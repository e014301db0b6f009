"""JAX train/test steps: stateless, so they can be jitted.

The shared computation runs inside a ``StatelessScope`` mapping every model
variable to the value carried in the training state; BatchNorm statistics
and the loss's SeedGenerator state come back as new non-trainable values.
"""

import jax
import keras
from keras import StatelessScope


def _values_after(scope, variables):
    out = []
    for variable in variables:
        value = scope.get_current_value(variable)
        out.append(variable.value if value is None else value)
    return out


def _stateless_compute(model, trainable, non_trainable, x, y, training):
    mapping = list(zip(model.trainable_variables, trainable))
    mapping += list(zip(model.non_trainable_variables, non_trainable))
    with StatelessScope(state_mapping=mapping) as scope:
        loss, values = model.compute_step(x, y, training=training)
    return loss, (values, _values_after(scope, model.non_trainable_variables))


def _update_metrics(model, metrics_variables, values):
    mapping = list(zip(model.metrics_variables, metrics_variables))
    with StatelessScope(state_mapping=mapping) as scope:
        logs = model.update_trackers(values)
    return logs, _values_after(scope, model.metrics_variables)


def train_step(model, state, data):
    trainable, non_trainable, optimizer_vars, metrics_vars = state
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    grad_fn = jax.value_and_grad(
        lambda t, nt: _stateless_compute(model, t, nt, x, y, True),
        has_aux=True)
    (_, (values, non_trainable)), grads = grad_fn(trainable, non_trainable)
    trainable, optimizer_vars = model.optimizer.stateless_apply(
        optimizer_vars, grads, trainable)
    logs, metrics_vars = _update_metrics(model, metrics_vars, values)
    return logs, (trainable, non_trainable, optimizer_vars, metrics_vars)


def test_step(model, state, data):
    trainable, non_trainable, metrics_vars = state
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    _, (values, non_trainable) = _stateless_compute(
        model, trainable, non_trainable, x, y, False)
    logs, metrics_vars = _update_metrics(model, metrics_vars, values)
    return logs, (trainable, non_trainable, metrics_vars)
