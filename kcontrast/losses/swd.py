"""Sliced-Wasserstein contrastive losses, one class per prior."""

import keras

from kcontrast.losses.generalized import GeneralizedContrastiveLoss


class _SWDLoss(GeneralizedContrastiveLoss):
    """The generalized loss with the SWD term and a fixed prior.

    ```
    loss = scale * (alignment(h1, h2) + lambda * SWD([h1; h2], P, W))
    ```

    W: a fresh random d x d orthogonal matrix, P: fresh `[2n, d]` prior
    samples, both drawn at every call from `seed_generator`.

    Args:
        lambda_weight: lambda >= 0 (paper default 5).
        scale: overall factor > 0.
        seed: int or None, seed of the loss's `SeedGenerator`.
        gather: `"auto"`, None or a callable, see
            `GeneralizedContrastiveLoss`.
        name, reduction, dtype: as for `keras.losses.Loss`.
    """

    PRIOR = None
    DEFAULT_NAME = None

    def __init__(self, lambda_weight=5.0, scale=1.0, seed=None, gather="auto",
                 name=None, reduction="sum_over_batch_size",
                 dtype="float32"):
        super().__init__(distribution="swd", prior=self.PRIOR,
                         lambda_weight=lambda_weight, scale=scale, seed=seed,
                         gather=gather, name=name or self.DEFAULT_NAME,
                         reduction=reduction, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        for key in ("distribution", "prior", "normalize", "temperature",
                    "ifm_epsilon", "ifm_weight"):
            config.pop(key)
        return config


@keras.saving.register_keras_serializable(package="kcontrast")
class SWDNormal(_SWDLoss):
    """SWD to a standard normal prior, on the raw projections.

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(SWDNormal(seed=0)(z, z)) >= 0
    True
    """

    PRIOR = "normal"
    DEFAULT_NAME = "swd_normal"


@keras.saving.register_keras_serializable(package="kcontrast")
class SWDHypersphere(_SWDLoss):
    """SWD to the uniform distribution on the unit hypersphere.

    The projections are l2-normalized; the prior samples are normal rows,
    l2-normalized.

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(SWDHypersphere(seed=0)(z, z)) >= 0
    True
    """

    PRIOR = "hypersphere"
    DEFAULT_NAME = "swd_hypersphere"


@keras.saving.register_keras_serializable(package="kcontrast")
class SWDHypercube(_SWDLoss):
    """SWD to the uniform distribution on the hypercube [-1, 1]^d (raw h).

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(SWDHypercube(seed=0)(z, z)) >= 0
    True
    """

    PRIOR = "hypercube"
    DEFAULT_NAME = "swd_hypercube"
