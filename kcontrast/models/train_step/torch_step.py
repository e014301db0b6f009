"""PyTorch train/test steps: autograd around the shared computation."""

import keras
import torch


def train_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    model.zero_grad()
    loss, values = model.compute_step(x, y, training=True)
    loss.backward()
    variables = model.trainable_variables
    grads = [v.value.grad for v in variables]
    with torch.no_grad():
        model.optimizer.apply(grads, variables)
    return model.update_trackers(values)


def test_step(model, data):
    x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
    with torch.no_grad():
        _, values = model.compute_step(x, y, training=False)
    return model.update_trackers(values)
