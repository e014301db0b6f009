"""The logsumexp (uniform-hypersphere) distribution-matching term."""

import math

from keras import ops

from kcontrast import checks
from kcontrast.losses.ifm import perturb
from kcontrast.losses.normalize import to_float32


def _pair_masks(m, big_m, offset):
    """Boolean `[m, M]` (self, positive) masks of the stacked local rows
    `[h1; h2]` (m = 2n) against the stacked gathered rows (M = 2N), the
    local rows starting at row `offset` of each gathered view."""
    n, big_n = m // 2, big_m // 2
    rows = ops.arange(m, dtype="int32")
    view = rows // n
    local = rows - view * n + ops.cast(offset, "int32")
    self_col = local + view * big_n
    pos_col = local + (1 - view) * big_n
    cols = ops.expand_dims(ops.arange(big_m, dtype="int32"), 0)
    return (ops.equal(cols, ops.expand_dims(self_col, 1)),
            ops.equal(cols, ops.expand_dims(pos_col, 1)))


def logsumexp_distribution(h, temperature, h_all=None, ifm_epsilon=0.0,
                           offset=0):
    """The scalar mean of `logsumexp_distribution_values` (same arguments).

    >>> import numpy as np
    >>> h = np.eye(2, dtype="float32")
    >>> round(float(logsumexp_distribution(h, 1.0)), 5)  # log(e + 1) - log 2
    0.62011
    """
    return ops.mean(logsumexp_distribution_values(h, temperature, h_all,
                                                  ifm_epsilon, offset))


def logsumexp_distribution_values(h, temperature, h_all=None,
                                  ifm_epsilon=0.0, offset=0):
    """Per row: the logsumexp of the row's similarities, minus log d.

    ```
    values_i = log sum_k exp(H_i . H_k / t) - log d,
    logsumexp_distribution(H, t) = 1/m sum_i values_i
    ```

    with H the `[m, d]` rows (m = 2n: both views stacked). As in the
    companion code the sum over k runs over *all* rows, the row itself and
    its positive included, and the constant `log d` (d the feature
    dimension) is subtracted; the constant does not change gradients.
    No normalization happens here: pass l2-normalized rows for the
    hypersphere (decoupled NT-Xent) loss.

    Global negatives: with `h_all` (`[M, d]`, every replica's rows) the
    anchors stay the local rows of `h` and k runs over the rows of `h_all`.
    `h_all = h` is the single-device value.

    IFM (`ifm_epsilon` = eps > 0, see `kcontrast.losses.ifm`): the rows
    are read as the two stacked views `[h1; h2]` (m = 2n, and M = 2N for
    `h_all`, the local rows at `offset` in each view); before the division
    by t each row's positive (its partner in the other view) is lowered by
    eps, every other row but itself raised by eps, the self-similarity
    kept. This returns the perturbed term only (the caller mixes).

    Args:
        h: `[m, d]`, m >= 2.
        temperature: t > 0.
        h_all: optional `[M, d]` gathered rows.
        ifm_epsilon: eps >= 0 (0: no perturbation; then m need not be even).
        offset: row of the local rows in each gathered view (IFM only).

    Returns:
        `[m]` float32, one value per row of `h`.
    """
    temperature = checks.check_positive(temperature, "temperature")
    checks.check_rank(h, 2, "h", "[batch, dim]")
    checks.check_min_batch(h, "h")
    h = to_float32(h)
    if h_all is None:
        h_all = h
    else:
        checks.check_rank(h_all, 2, "h_all", "[batch, dim]")
        h_all = to_float32(h_all)
    dim = h.shape[-1]
    if dim is None:
        log_dim = ops.log(ops.cast(ops.shape(h)[-1], "float32"))
    else:
        log_dim = math.log(dim)
    scores = ops.matmul(h, ops.transpose(h_all))
    epsilon = checks.check_non_negative(ifm_epsilon, "ifm_epsilon")
    if epsilon > 0:
        is_self, positive = _pair_masks(ops.shape(h)[0], ops.shape(h_all)[0],
                                        offset)
        negative = ops.logical_not(ops.logical_or(is_self, positive))
        scores = perturb(scores, positive, negative, epsilon)
    scores = scores * (1.0 / temperature)
    return ops.logsumexp(scores, axis=-1) - log_dim
