"""TensorFlow train/test steps: GradientTape around the shared computation.

Under a ``tf.distribute`` strategy each of the N replicas runs these steps
on its shard, and the optimizer sums the replicas' gradients. The gradient
is therefore taken of ``loss / N`` (the loss itself, unscaled, goes to the
metrics): the sum over replicas is then the gradient of the mean of the
replicas' losses, which with the cross-replica gather of
``kcontrast.distribute`` is the global-batch loss. Without the scaling the
update would be N times too large (``tests/distribute``). Under such a
strategy the step also synchronizes the model's BatchNorms
(``kcontrast.distribute.synchronize_for_step``), unless the model was built
with ``sync_batch_norm=False``.
"""

import keras
import tensorflow as tf

from kcontrast import distribute


def compute_gradients(model, x, y=None):
    """``(loss, values, grads)`` of one replica's batch.

    ``grads`` (one per ``model.trainable_variables``) are those of
    ``loss / num_replicas_in_sync``, ready to be summed over the replicas
    (1 replica: the plain gradient).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    distribute.synchronize_for_step(model)
    with tf.GradientTape() as tape:
        loss, values = model.compute_step(x, y, training=True)
        scaled = loss / replicas if replicas > 1 else loss
    grads = tape.gradient(scaled, model.trainable_variables)
    return loss, values, grads


def train_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    _, values, grads = compute_gradients(model, x, y)
    model.optimizer.apply(grads, model.trainable_variables)
    return model.update_trackers(values)


def test_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    _, values = model.compute_step(x, y, training=False)
    return model.update_trackers(values)
