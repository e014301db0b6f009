"""Shared helpers of the loss tests: float64 NumPy toolbox, backend grads."""

import keras
import numpy as np


def np_normalize(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.sqrt(np.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def np_logsumexp(values):
    values = np.asarray(values, dtype=np.float64)
    m = np.max(values)
    return m + np.log(np.sum(np.exp(values - m)))


def random_pair(n, d, seed=0):
    rng = np.random.default_rng(seed)
    z1 = rng.normal(size=(n, d)).astype("float32")
    z2 = (z1 + 0.5 * rng.normal(size=(n, d))).astype("float32")
    return z1, z2


def value_and_grad(fn, *args):
    """Returns (value, [grads]) of scalar `fn(*args)` w.r.t. every arg."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        xs = [tf.Variable(a) for a in args]
        with tf.GradientTape() as tape:
            value = fn(*xs)
        grads = tape.gradient(value, xs)
        return np.asarray(value), [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(
            lambda *a: fn(*a), argnums=tuple(range(len(args))))(*args)
        return np.asarray(value), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        xs = [torch.tensor(np.asarray(a), requires_grad=True) for a in args]
        value = fn(*xs)
        grads = torch.autograd.grad(value, xs)
        return (value.detach().cpu().numpy(),
                [g.detach().cpu().numpy() for g in grads])
    raise NotImplementedError(backend)
