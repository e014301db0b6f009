"""The logsumexp (uniform-hypersphere) distribution-matching term."""

import math

from keras import ops

from kcontrast import checks
from kcontrast.losses.normalize import to_float32


def logsumexp_distribution(h, temperature, h_all=None):
    """Mean over rows of the logsumexp of the row's similarities, minus log d.

    ```
    logsumexp_distribution(H, t) = 1/m sum_i [ log sum_k exp(H_i . H_k / t) ]
                                   - log d
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

    Args:
        h: `[m, d]`, m >= 2.
        temperature: t > 0.
        h_all: optional `[M, d]` gathered rows.

    Returns:
        Scalar float32.

    >>> import numpy as np
    >>> h = np.eye(2, dtype="float32")
    >>> round(float(logsumexp_distribution(h, 1.0)), 5)  # log(e + 1) - log 2
    0.62011
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
    scores = ops.matmul(h, ops.transpose(h_all)) * (1.0 / temperature)
    return ops.mean(ops.logsumexp(scores, axis=-1)) - log_dim
