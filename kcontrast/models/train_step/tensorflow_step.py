"""TensorFlow train/test steps: GradientTape around the shared computation."""

import keras
import tensorflow as tf


def train_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    with tf.GradientTape() as tape:
        loss, values = model.compute_step(x, y, training=True)
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    model.optimizer.apply(grads, variables)
    return model.update_trackers(values)


def test_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    _, values = model.compute_step(x, y, training=False)
    return model.update_trackers(values)
