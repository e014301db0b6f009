"""The base class of the contrastive losses: per-anchor values, Keras reduced."""

import keras
from keras import ops

from kcontrast.losses.gather import check_gather


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
        gather: `"auto"`, None or a callable; see `kcontrast.losses.gather`.
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
