"""The scale-out hook: projections gathered across replicas.

A loss's `gather` argument is a callable

    gather(z) -> (z_all, offset)

returning `z_all`, the `[N, d]` concatenation along the batch of every
replica's `z` (this replica's `[n, d]` rows included), and `offset`, the row
of `z_all` where this replica's rows start (an int or a scalar int tensor).
The distribution code supplies it (e.g. an all-gather under a
`tf.distribute` replica context or `jax.lax.all_gather` under pmap); the
losses stay free of backend code. The identity `lambda z: (z, 0)` gives the
single-device loss.
"""


def apply_gather(gather, z1, z2):
    """Runs the scale-out hook on both views.

    Returns `(z1_all, z2_all, offset)`, or `(None, None, 0)` when `gather`
    is None (single device).
    """
    if gather is None:
        return None, None, 0
    z1_all, offset = gather(z1)
    z2_all, _ = gather(z2)
    return z1_all, z2_all, offset
