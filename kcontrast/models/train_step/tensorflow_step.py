"""TensorFlow train/test steps: GradientTape around the shared computation."""

import tensorflow as tf
from keras.src.trainers.data_adapters import data_adapter_utils


def train_step(model, data):
    x, y, _ = data_adapter_utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        loss, values = model.compute_step(x, y, training=True)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    model.optimizer.apply(grads, variables)
    return model.update_trackers(values)


def test_step(model, data):
    x, y, _ = data_adapter_utils.unpack_x_y_sample_weight(data)
    _, values = model.compute_step(x, y, training=False)
    return model.update_trackers(values)
