"""Metrics of contrastive training (not losses: nothing here is minimized).

`contrastive_accuracy(z1, z2)`: instance-discrimination top-1 accuracy, the
`contrastive_acc` that `ContrastiveModel` reports.
"""

from keras import ops

from kcontrast import checks
from kcontrast.losses.normalize import l2_normalize


def contrastive_accuracy(z1, z2):
    """Fraction of the 2n views whose nearest other view is their partner.

    With H = [l2_normalize(z1); l2_normalize(z2)] (2n x d) and S = H H^T,
    view i is correct when argmax_{k != i} S_ik is its partner (i + n) mod
    2n. Ties resolve to the first maximal column.

    Args:
        z1, z2: `[n, d]` projections of the two views, n >= 2.

    Returns:
        Scalar float32 in [0, 1].

    >>> import numpy as np
    >>> z = np.eye(4, dtype="float32")
    >>> float(contrastive_accuracy(z, z))
    1.0
    """
    checks.check_views(z1, z2)
    h = ops.concatenate([l2_normalize(z1), l2_normalize(z2)], axis=0)
    n2 = ops.shape(h)[0]
    sim = ops.matmul(h, ops.transpose(h)) - 3.0 * ops.eye(n2)
    pred = ops.argmax(sim, axis=-1)
    n = n2 // 2
    target = ops.concatenate([ops.arange(n) + n, ops.arange(n)], axis=0)
    hits = ops.equal(ops.cast(pred, "int32"), ops.cast(target, "int32"))
    return ops.mean(ops.cast(hits, "float32"))
