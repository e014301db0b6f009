"""Decoupled NT-Xent: alignment + lambda * logsumexp distribution."""

import keras

from kcontrast.losses.generalized import GeneralizedContrastiveLoss


@keras.saving.register_keras_serializable(package="kcontrast")
class DecoupledNTXent(GeneralizedContrastiveLoss):
    """Decoupled NT-Xent: the generalized loss with the logsumexp term.

    ```
    h_v  = l2_normalize(z_v),  H = [h1; h2]   (2n x d)
    loss = scale * (A + lambda * (D_all - log d))
    A     = 1/(n d) sum |h1_i - h2_i|^2 / 2 = (1 - mean_i c_i) / d
    D_all = 1/(2n) sum_i log sum_{k}      exp(H_i . H_k / t)
    ```

    with c_i = h1_i . h2_i the positive pair's cosine. Unlike NT-Xent the
    alignment and the distribution term carry separate weights, and (as in
    the companion code) the logsumexp runs over all 2n rows, self and
    positive included.

    Relation to NT-Xent. With D_excl = 1/(2n) sum_i log sum_{k != i}
    exp(H_i . H_k / t), NT-Xent is exactly

    ```
    t * NTXent(t) = d * A + t * D_excl - 1,
    ```

    because mean_i c_i = 1 - d * A. The self term is exp(|h_i|^2 / t) =
    exp(1/t), so D_all = D_excl + S with S = 1/(2n) sum_i softplus(1/t -
    log sum_{k != i} exp(H_i . H_k / t)) >= 0, and therefore, for
    lambda = t and scale = 1:

    ```
    DecoupledNTXent(lambda=t) = t * NTXent(t) + (1 - d) * A + t * S
                                + 1 - t * log d.
    ```

    So decoupled NT-Xent with lambda = t is t x NT-Xent up to the constant
    1 - t log d, the self-similarity term t * S (which vanishes as t -> 0)
    and the alignment weighted 1 instead of d (the companion code averages
    the alignment over the d coordinates). Taking scale = d and
    lambda = t / d instead weights the alignment as NT-Xent does:
    d * A + t * (D_all - log d) = t * NTXent(t) + t * S + 1 - t * log d.
    (The identities use |h_i| = 1; the safe normalization's epsilon makes
    them exact to ~1e-12 relative for rows with |z|^2 >> 1e-12.)

    Args:
        temperature: t > 0 (paper default 1.0).
        lambda_weight: lambda >= 0 (paper default 0.1).
        scale: overall factor > 0.
        ifm_epsilon: eps >= 0 of implicit feature modification (0: off):
            with c_i lowered by eps the alignment becomes A + eps / d, and
            in D_all each row's positive is lowered and every other row
            but itself raised by eps before the division by t; see
            `GeneralizedContrastiveLoss`.
        ifm_weight: w in [0, 1]: loss = (1 - w) * standard + w * perturbed.
        gather: `"auto"`, None or a callable, see
            `GeneralizedContrastiveLoss`.
        name, reduction, dtype: as for `keras.losses.Loss`.

    Call args:
        z1, z2: `[n, d]`, n >= 2.

    Returns:
        Per-anchor values `[n, 2]` reduced by `reduction` (see
        `GeneralizedContrastiveLoss`).

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(DecoupledNTXent()(z, z)) > 0
    True
    """

    def __init__(self, temperature=1.0, lambda_weight=0.1, scale=1.0,
                 ifm_epsilon=0.0, ifm_weight=0.5, gather="auto",
                 name="decoupled_nt_xent", reduction="sum_over_batch_size",
                 dtype="float32"):
        super().__init__(distribution="logsumexp", lambda_weight=lambda_weight,
                         temperature=temperature, normalize=True, scale=scale,
                         gather=gather, ifm_epsilon=ifm_epsilon,
                         ifm_weight=ifm_weight, name=name,
                         reduction=reduction, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        for key in ("distribution", "prior", "normalize", "seed"):
            config.pop(key)
        return config
