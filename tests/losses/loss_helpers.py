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


def evaluate(fn, *args):
    """`float(fn(*args))`, jitted on JAX.

    Eager JAX compiles every op for every new shape, so a loss costs one
    XLA compile per op there; under `jax.jit` it costs one in all. Only for
    deterministic functions (a SeedGenerator cannot advance inside `jit`
    without a StatelessScope).
    """
    if keras.backend.backend() == "jax":
        import jax

        return float(jax.jit(fn)(*args))
    return float(fn(*args))


def value_and_grad(fn, *args, jit=True):
    """Returns (value, [grads]) of scalar `fn(*args)` w.r.t. every arg.

    On JAX the gradient is jitted unless `jit=False` (needed for losses
    with a SeedGenerator).
    """
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

        grad_fn = jax.value_and_grad(
            lambda *a: fn(*a), argnums=tuple(range(len(args))))
        value, grads = (jax.jit(grad_fn) if jit else grad_fn)(*args)
        return np.asarray(value), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        xs = [torch.tensor(np.asarray(a), requires_grad=True) for a in args]
        value = fn(*xs)
        grads = torch.autograd.grad(value, xs)
        return (value.detach().cpu().numpy(),
                [g.detach().cpu().numpy() for g in grads])
    raise NotImplementedError(backend)


def np_alignment(h1, h2):
    """Mean over the n*d elements of (h1 - h2)^2 / 2, by loops."""
    h1 = np.asarray(h1, np.float64)
    h2 = np.asarray(h2, np.float64)
    n, d = h1.shape
    total = 0.0
    for i in range(n):
        for j in range(d):
            total += (h1[i, j] - h2[i, j]) ** 2 / 2
    return total / (n * d)


def np_logsumexp_distribution(h, t, h_all=None):
    """Mean over rows of logsumexp over all columns (self included) - log d."""
    h = np.asarray(h, np.float64)
    h_all = h if h_all is None else np.asarray(h_all, np.float64)
    rows = [np_logsumexp([h[i] @ h_all[k] / t for k in range(len(h_all))])
            for i in range(len(h))]
    return float(np.mean(rows)) - np.log(h.shape[1])


def np_sliced_wasserstein(h, prior, w):
    """Sorts each projected column with Python's sorted()."""
    x = np.asarray(h, np.float64) @ np.asarray(w, np.float64)
    y = np.asarray(prior, np.float64) @ np.asarray(w, np.float64)
    total = 0.0
    for j in range(x.shape[1]):
        xs, ys = sorted(x[:, j]), sorted(y[:, j])
        total += sum((a - b) ** 2 for a, b in zip(xs, ys))
    return total / x.size
