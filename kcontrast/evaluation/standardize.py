"""Feature standardization with training-split statistics.

    mean_j = mean_i x_ij,   std_j = std_i x_ij   (over the training rows)
    z_ij = (x_ij - mean_j) / std_j               (std_j = 1 where it is 0)

Statistics are accumulated in float64 over row blocks, so a large `[N, D]`
array is read once and never copied whole.
"""

import numpy as np


class Standardizer:
    """Per-feature standardization fitted on training features.

    Args:
        features: float `[N, D]` training features.
        block_rows: rows per block while accumulating the statistics.

    >>> s = Standardizer(np.array([[0.0, 1.0], [2.0, 1.0]], np.float32))
    >>> s(np.array([[2.0, 3.0]], np.float32)).tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, features, block_rows=8192):
        total = np.zeros(features.shape[1], np.float64)
        total_sq = np.zeros(features.shape[1], np.float64)
        for start in range(0, features.shape[0], block_rows):
            block = features[start:start + block_rows].astype(np.float64)
            total += block.sum(0)
            total_sq += np.square(block).sum(0)
        n = features.shape[0]
        mean = total / n
        var = np.maximum(total_sq / n - np.square(mean), 0.0)
        std = np.sqrt(var)
        # Constant features (std 0, up to float error) are centred only.
        constant = std <= 1e-6 * np.maximum(np.abs(mean), 1.0)
        self.mean = mean.astype(np.float32)
        self.std = np.where(constant, 1.0, std).astype(np.float32)

    def __call__(self, features):
        """Returns standardized float32 features of the same shape (one copy)."""
        out = np.subtract(features, self.mean, dtype=np.float32)
        out /= self.std
        return out
