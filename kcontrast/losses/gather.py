"""Global negatives: projections gathered across replicas.

A loss's `gather` argument says where its negatives come from:

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
