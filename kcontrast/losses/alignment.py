"""The alignment term of the generalized contrastive loss."""

from keras import ops

from kcontrast import checks
from kcontrast.losses.normalize import to_float32


def alignment(h1, h2):
    """Mean squared distance between the two views' rows, halved.

    ```
    alignment(h1, h2) = 1/(n d) sum_{i, j} (h1_ij - h2_ij)^2 / 2
    ```

    (the companion code's `reduce_mean((h1 - h2)**2) / 2`: a mean over all
    n * d elements, not over rows). For l2-normalized rows it equals
    `(1 - mean_i cos(h1_i, h2_i)) / d`. No normalization happens here: pass
    normalized rows for the hypersphere losses.

    Args:
        h1, h2: `[n, d]`.

    Returns:
        Scalar float32.

    >>> import numpy as np
    >>> float(alignment(np.zeros((2, 4)), np.ones((2, 4))))
    0.5
    """
    checks.check_views(h1, h2, ("h1", "h2"), min_batch=1)
    h1, h2 = to_float32(h1), to_float32(h2)
    return 0.5 * ops.mean(ops.square(h1 - h2))


def alignment_values(h1, h2):
    """The alignment per pair, `[n]`: `|h1_i - h2_i|^2 / (2 d)`; its mean
    is `alignment(h1, h2)`.

    >>> import numpy as np
    >>> alignment_values(np.zeros((2, 4)), np.ones((2, 4))).tolist()
    [0.5, 0.5]
    """
    checks.check_views(h1, h2, ("h1", "h2"), min_batch=1)
    h1, h2 = to_float32(h1), to_float32(h2)
    return 0.5 * ops.mean(ops.square(h1 - h2), axis=-1)
