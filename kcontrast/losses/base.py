"""The losses' plumbing: float32 casting, the safe l2 normalization, where
the negatives come from (`gather`), and the `ContrastiveLoss` base class.

Global negatives. A loss's `gather` argument says where its negatives come
from:

- `"auto"` (the default): under a multi-replica `tf.distribute` strategy
  (TensorFlow backend, inside the replica context of a train or test step)
  every replica's projections are all-gathered (`replica_gather`), so the
  negatives are the global batch; anywhere else the local batch. Nothing
  needs to be called or patched: a loss built and used the plain Keras way
  under `MirroredStrategy` contrasts against the global batch. (Under JAX
  `DataParallel` the step already sees the global batch.)
- `None`: always the local batch (per-replica negatives).
- a callable `gather(z) -> (z_all, offset)` returning `z_all`, the `[N, d]`
  concatenation along the batch of every replica's `z` (this replica's
  `[n, d]` rows included), and `offset`, the row of `z_all` where this
  replica's rows start (an int or a scalar int tensor). The identity
  `lambda z: (z, 0)` gives the single-device loss.
"""

import keras
from keras import ops


# Added to the squared norm before the square root. It keeps both the value
# and the gradient of the normalization finite for an all-zero row
# (d/dx [x / sqrt(|x|^2 + eps)] = I / sqrt(eps) at x = 0) and changes the
# norm of any row with |x|^2 >> 1e-12 by a relative 5e-13 / |x|^2.
NORM_EPSILON = 1e-12


def to_float32(x):
    """Converts `x` to a float32 tensor (bfloat16/float16 are upcast)."""
    x = ops.convert_to_tensor(x)
    if x.dtype != "float32":
        x = ops.cast(x, "float32")
    return x


def l2_normalize(x, axis=-1, epsilon=NORM_EPSILON):
    """Safe l2 normalization along `axis`.

    ```
    l2_normalize(x) = x / sqrt(sum(x ** 2, axis) + epsilon)
    ```

    Unlike ``x / max(|x|, eps)`` the epsilon sits inside the square root, so
    an all-zero row maps to zero with a finite gradient.

    >>> import numpy as np
    >>> round(float(ops.sum(l2_normalize(np.array([[3.0, 4.0]])) ** 2)), 5)
    1.0
    """
    x = to_float32(x)
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(sq + epsilon)


AUTO = "auto"


def replica_gather(z):
    """The TensorFlow cross-replica gather: ``z [n, d] -> (z_all, offset)``.

    In a ``tf.distribute`` replica context with N > 1 replicas, ``z_all`` is
    ``[sum_r n_r, d]``, every replica's rows in replica-id order, and
    ``offset`` the number of rows of the replicas with lower ids (a scalar
    int32 tensor). Gradients flow back to each replica's own rows: the
    gradient of ``all_gather`` sums the upstream gradients over the
    replicas and slices out this replica's rows. Anywhere else (no
    strategy, one replica, cross-replica context) it returns ``(z, 0)``,
    the single-device loss. Shard sizes may differ (a last, uneven batch).
    """
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return z, 0
    z_all = context.all_gather(z, axis=0)
    sizes = context.all_gather(tf.reshape(tf.shape(z)[0], [1]), axis=0)
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    return z_all, offset


def in_multi_replica_context():
    """True inside the replica context of a multi-replica `tf.distribute`
    strategy (TensorFlow backend only; False on JAX and PyTorch)."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return context is not None and context.num_replicas_in_sync > 1


def check_gather(gather):
    """Checks a loss's `gather` argument: `"auto"`, None or a callable."""
    if gather is None or gather == AUTO or callable(gather):
        return gather
    raise ValueError(
        "Expected gather='auto', None or a callable gather(z) -> (z_all, "
        f"offset); Received: gather={gather!r}")


def resolve_gather(gather):
    """The callable to use now for `gather`, or None for the local batch."""
    if gather is None:
        return None
    if isinstance(gather, str) and gather == AUTO:
        return replica_gather if in_multi_replica_context() else None
    return gather


def apply_gather(gather, z1, z2):
    """Runs the gather on both views.

    Returns `(z1_all, z2_all, offset)`, or `(None, None, 0)` when the
    negatives are the local batch (`gather` None, or `"auto"` off a
    multi-replica strategy).
    """
    gather = resolve_gather(gather)
    if gather is None:
        return None, None, 0
    z1_all, offset = gather(z1)
    z2_all, _ = gather(z2)
    return z1_all, z2_all, offset


class ContrastiveLoss(keras.losses.Loss):
    """A `keras.losses.Loss` on two views whose `call` gives per-anchor values.

    Subclasses implement `call(z1, z2) -> [n, 2]`, entry `[i, v]` the term
    of anchor view v (0: z1, 1: z2) of example i. `loss(z1, z2,
    sample_weight)` multiplies them by `sample_weight` and reduces them by
    `reduction` as every Keras loss does (`"sum_over_batch_size"`: sum /
    2n; `"sum"`; `"none"`: the `[n, 2]` values). A `[n]` `sample_weight`
    (one weight per example) applies to both of the example's anchors; a
    `[n, 2]` one weights each anchor view.

    Args:
        gather: `"auto"`, None or a callable; see the module docstring.
        name, reduction, dtype: as for `keras.losses.Loss`.
    """

    seed_generator = None

    def __init__(self, gather="auto", name=None,
                 reduction="sum_over_batch_size", dtype="float32"):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.gather = check_gather(gather)

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            sample_weight = ops.convert_to_tensor(sample_weight)
            if len(sample_weight.shape) == 1:
                sample_weight = ops.expand_dims(sample_weight, -1)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

