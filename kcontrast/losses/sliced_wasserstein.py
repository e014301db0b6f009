"""Sliced Wasserstein distance (SWD) between a batch and prior samples."""

from keras import ops
from keras import random

from kcontrast import checks
from kcontrast.losses.normalize import to_float32


def sliced_wasserstein(h, prior_samples, projection):
    """Squared sliced Wasserstein distance along the columns of `projection`.

    ```
    X = sort(h W),  Y = sort(P W)    (each column sorted over the batch)
    sliced_wasserstein(h, P, W) = 1/(m k) sum_{i, j} (X_ij - Y_ij)^2
    ```

    In one dimension the optimal transport between two empirical measures of
    m points each matches them in sorted order, so this is the mean over
    the k slices of the squared 2-Wasserstein distance
    W2^2 = 1/m sum_i (X_ij - Y_ij)^2 between the projected batch and the
    projected prior samples (the companion code's `reduce_mean`). Each
    column is sorted with `ops.sort`: O(m log m) time per slice and O(m k)
    memory, not the m x m rank matrix of the companion code. It is 0 when
    `h` and `prior_samples` hold the same rows in any order.

    Args:
        h: `[m, d]` rows (both views stacked).
        prior_samples: `[m, d]` samples of the prior.
        projection: `[d, k]` slicing directions (for the loss, a random
            d x d orthogonal matrix: see `random_orthogonal`).

    Returns:
        Scalar float32.

    >>> import numpy as np
    >>> h = np.array([[0.0], [1.0]], "float32")
    >>> float(sliced_wasserstein(h, h[::-1], np.eye(1, dtype="float32")))
    0.0
    """
    checks.check_rank(h, 2, "h", "[batch, dim]")
    checks.check_rank(prior_samples, 2, "prior_samples", "[batch, dim]")
    checks.check_rank(projection, 2, "projection", "[d, k]")
    checks.check_same_shape(h, prior_samples, ("h", "prior_samples"))
    d, k = tuple(h.shape)[1], tuple(projection.shape)[0]
    if d is not None and k is not None and d != k:
        raise ValueError(
            "Expected `projection` of shape [d, k] with d = h.shape[1] = "
            f"{d}; Received: projection.shape={tuple(projection.shape)}"
        )
    h, prior_samples = to_float32(h), to_float32(prior_samples)
    projection = to_float32(projection)
    x = ops.sort(ops.matmul(h, projection), axis=0)
    y = ops.sort(ops.matmul(prior_samples, projection), axis=0)
    return ops.mean(ops.square(x - y))


def random_orthogonal(dim, seed):
    """A random `[dim, dim]` orthogonal matrix, Haar distributed.

    QR decomposition of a standard normal matrix, with the columns of Q
    multiplied by the signs of diag(R) so that the result is uniform over
    the orthogonal group (without the sign fix the QR convention biases it).

    Args:
        dim: int, static.
        seed: a `keras.random.SeedGenerator` (advanced by one draw) or an
            int.

    Returns:
        `[dim, dim]` float32, not differentiated through.
    """
    gaussian = random.normal((dim, dim), dtype="float32", seed=seed)
    q, r = ops.qr(gaussian)
    signs = ops.where(ops.diagonal(r) < 0, -1.0, 1.0)
    return ops.stop_gradient(q * ops.expand_dims(signs, 0))
