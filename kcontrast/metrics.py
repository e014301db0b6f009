"""Metrics of contrastive training (not losses: nothing here is minimized).

`contrastive_accuracy(z1, z2)`: instance-discrimination top-1 accuracy, the
`contrastive_acc` that `ContrastiveModel` reports.
"""

from keras import ops

from kcontrast import checks
from kcontrast.losses.base import apply_gather
from kcontrast.losses.base import l2_normalize


def contrastive_accuracy(z1, z2, gather=None):
    """Fraction of the 2n views whose nearest other view is their partner.

    With H = [l2_normalize(z1); l2_normalize(z2)] (2n x d) and S = H H^T,
    view i is correct when argmax_{k != i} S_ik is its partner (i + n) mod
    2n. Ties resolve to the first maximal column.

    Global batch (scale-out): with `gather` (the losses' hook,
    `gather(z) -> (z_all, offset)`, see `kcontrast.losses.base`) the
    anchors are the local 2n views and the candidates all 2N gathered
    views: view1 row i is correct when its nearest other view is gathered
    row N + offset + i (view2 row i: row offset + i). The mean over
    replicas of equal shards is then the single-device accuracy.

    Args:
        z1, z2: `[n, d]` projections of the two views, n >= 2.
        gather: optional scale-out hook (None: a single device).

    Returns:
        Scalar float32 in [0, 1].

    >>> import numpy as np
    >>> z = np.eye(4, dtype="float32")
    >>> float(contrastive_accuracy(z, z))
    1.0
    """
    checks.check_views(z1, z2)
    z1 = ops.stop_gradient(ops.convert_to_tensor(z1))
    z2 = ops.stop_gradient(ops.convert_to_tensor(z2))
    h = ops.concatenate([l2_normalize(z1), l2_normalize(z2)], axis=0)
    z1_all, z2_all, offset = apply_gather(gather, z1, z2)
    a = h if z1_all is None else ops.concatenate(
        [l2_normalize(z1_all), l2_normalize(z2_all)], axis=0)
    n = ops.shape(z1)[0]
    big_n = ops.shape(a)[0] // 2
    rows = ops.arange(n, dtype="int32") + ops.cast(offset, "int32")
    self_cols = ops.concatenate([rows, rows + big_n], axis=0)
    cols = ops.arange(2 * big_n, dtype="int32")
    is_self = ops.equal(ops.expand_dims(self_cols, 1), ops.expand_dims(cols, 0))
    sim = ops.where(is_self, -3.0, ops.matmul(h, ops.transpose(a)))
    pred = ops.argmax(sim, axis=-1)
    target = ops.concatenate([rows + big_n, rows], axis=0)
    hits = ops.equal(ops.cast(pred, "int32"), ops.cast(target, "int32"))
    return ops.mean(ops.cast(hits, "float32"))
