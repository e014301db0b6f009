"""The generalized contrastive loss: alignment + lambda * distribution."""

import keras
from keras import ops

from kcontrast import checks
from kcontrast.losses import ifm
from kcontrast.losses.alignment import alignment_values
from kcontrast.losses.base import ContrastiveLoss
from kcontrast.losses.gather import apply_gather
from kcontrast.losses.logsumexp_distribution import logsumexp_distribution_values
from kcontrast.losses.normalize import l2_normalize
from kcontrast.losses.normalize import to_float32
from kcontrast.losses.priors import PRIORS
from kcontrast.losses.priors import sample_prior
from kcontrast.losses.sliced_wasserstein import random_orthogonal
from kcontrast.losses.sliced_wasserstein import sliced_wasserstein

DISTRIBUTIONS = ("logsumexp", "swd")


@keras.saving.register_keras_serializable(package="kcontrast")
class GeneralizedContrastiveLoss(ContrastiveLoss):
    """Generalized contrastive loss (Chen, Luo, Li 2021, eq. 3).

    ```
    h_v  = l2_normalize(z_v) if normalize else z_v          (v = 1, 2)
    H    = [h1; h2]                                          (2n x d)
    loss = scale * (alignment(h1, h2) + lambda * D(H))
    D(H) = logsumexp_distribution(H, t)         distribution="logsumexp"
         = sliced_wasserstein(H, P, W)          distribution="swd"
    ```

    For SWD, W is a fresh random d x d orthogonal matrix and P fresh `[2n,
    d]` samples of the prior at every call, drawn from the loss's own
    `seed_generator` (a `keras.random.SeedGenerator`). A model that tracks
    `loss.seed_generator` threads its state through stateless (JAX, jit)
    training, so each step draws new ones; with a fixed `seed` a run is
    reproducible.

    Companion-code configurations: decoupled NT-Xent = logsumexp with
    normalize=True; SWD normal prior with raw h; SWD uniform-hypersphere
    prior (normal rows, normalized) with normalized h; SWD uniform
    hypercube U(-1, 1) with raw h. `normalize=None` picks exactly these.

    Args:
        distribution: `"logsumexp"` or `"swd"`.
        prior: SWD prior, one of `"normal"`, `"hypersphere"`,
            `"hypercube"` (ignored for logsumexp).
        lambda_weight: lambda >= 0.
        temperature: t > 0 of the logsumexp term (ignored for SWD).
        normalize: l2-normalize z1, z2 first; None = the companion default
            (True for logsumexp and the hypersphere prior, else False).
        scale: overall factor > 0 (the companion's `loss_scaling`).
        seed: int or None, seed of the SWD `SeedGenerator`.
        gather: where the negatives come from, see
            `kcontrast.losses.gather`: `"auto"` (default; the global batch
            under a multi-replica `tf.distribute` strategy), None (the
            local batch) or a callable `gather(z) -> (z_all, offset)`. The
            alignment stays local; the logsumexp term takes the local rows
            as anchors against all gathered rows; SWD matches the gathered
            batch. Not part of `get_config`.
        ifm_epsilon: eps >= 0 of implicit feature modification
            (logsumexp only; see `kcontrast.losses.ifm`): each positive
            pair's similarity lowered by eps, in the alignment (which then
            grows by eps / d) and in the logsumexp term, every negative's
            raised by eps there (self kept); 0 (default) is off.
        ifm_weight: w in [0, 1]: loss = (1 - w) * standard + w * perturbed.
        name, reduction, dtype: as for `keras.losses.Loss`; the loss is
            computed in float32.

    Per anchor view (entry `[i, v]`, v = 0 for z1, 1 for z2):

    ```
    values[i, v] = scale * (|h1_i - h2_i|^2 / (2 d) + lambda * D_iv)
    ```

    with D_iv the logsumexp value of row i of view v, or for SWD the batch's
    SWD itself (a batch statistic, attributed equally to every anchor); the
    mean of the `[n, 2]` values is the loss above.

    Call args:
        z1, z2: `[n, d]` projections of the two views (n >= 2 for
            logsumexp), with a static d for SWD.
        sample_weight: optional `[n]` (per example) or `[n, 2]` (per
            anchor view) weights of the values.

    Returns:
        The `[n, 2]` values times `sample_weight`, reduced by `reduction`
        (`"sum_over_batch_size"`: sum / 2n, the loss above when unweighted;
        `"sum"`; `"none"`: the values), as in `NTXent`.

    >>> import numpy as np
    >>> z1 = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> loss = GeneralizedContrastiveLoss("swd", prior="normal", seed=1)
    >>> float(loss(z1, z1)) > 0
    True
    """

    def __init__(self, distribution="logsumexp", prior="normal",
                 lambda_weight=1.0, temperature=1.0, normalize=None,
                 scale=1.0, seed=None, gather="auto", ifm_epsilon=0.0,
                 ifm_weight=0.5, name=None, reduction="sum_over_batch_size",
                 dtype="float32"):
        super().__init__(gather=gather,
                         name=name or f"generalized_{distribution}",
                         reduction=reduction, dtype=dtype)
        self.distribution = checks.check_choice(
            distribution, DISTRIBUTIONS, "distribution")
        self.prior = checks.check_choice(prior, PRIORS, "prior")
        self.lambda_weight = checks.check_non_negative(lambda_weight, "lambda_weight")
        self.temperature = checks.check_positive(temperature, "temperature")
        self.scale = checks.check_positive(scale, "scale")
        if normalize is None:
            normalize = (distribution == "logsumexp" or PRIORS[prior][1])
        self.normalize = bool(normalize)
        self.seed = checks.check_seed(seed, allow_none=True)
        self.ifm_epsilon, self.ifm_weight = ifm.check_ifm(ifm_epsilon,
                                                          ifm_weight)
        if distribution != "logsumexp" and self.ifm_epsilon > 0:
            raise ValueError(
                "Expected ifm_epsilon=0 for distribution='swd' (IFM perturbs "
                "the logsumexp term's similarities); Received: "
                f"ifm_epsilon={ifm_epsilon!r}")
        if distribution == "swd":
            self.seed_generator = keras.random.SeedGenerator(
                seed, name=f"{self.name}_seed_generator")
        else:
            self.seed_generator = None

    def distribution_term(self, h, h_all, ifm_epsilon=0.0, offset=0):
        """D(H) per anchor view, `[n, 2]`, for the local rows `h = [h1; h2]`
        and the gathered rows `h_all` (`[2n|2N, d]`); with `ifm_epsilon` > 0
        the IFM-perturbed logsumexp term.

        logsumexp: entry `[i, v]` is row i of view v's logsumexp value.
        SWD: the sliced Wasserstein distance is a statistic of the whole
        (gathered) batch, not a sum over rows; every anchor is attributed
        the same value, the batch's SWD, so the mean over anchors is the
        SWD and a weight w_i scales anchor i's share of it.
        """
        n = ops.shape(h)[0] // 2
        if self.distribution == "logsumexp":
            rows = logsumexp_distribution_values(
                h, self.temperature, h_all, ifm_epsilon=ifm_epsilon,
                offset=offset)
            return ops.stack([rows[:n], rows[n:]], axis=1)
        dim = h.shape[-1]
        if dim is None:
            raise ValueError(
                "Expected z1, z2 with a static feature dimension for SWD; "
                f"Received: shape={tuple(h.shape)}"
            )
        projection = random_orthogonal(dim, self.seed_generator)
        prior = ops.stop_gradient(
            sample_prior(self.prior, ops.shape(h_all), self.seed_generator))
        swd = sliced_wasserstein(h_all, prior, projection)
        return ops.ones((n, 2), "float32") * swd

    def call(self, y_true, y_pred):
        """The per-anchor values `[n, 2]` (see the class docstring)."""
        min_batch = 2 if self.distribution == "logsumexp" else 1
        checks.check_views(y_true, y_pred, min_batch=min_batch)
        z1, z2 = to_float32(y_true), to_float32(y_pred)
        z1_all, z2_all, offset = apply_gather(self.gather, z1, z2)
        if self.normalize:
            z1, z2 = l2_normalize(z1), l2_normalize(z2)
            if z1_all is not None:
                z1_all, z2_all = l2_normalize(z1_all), l2_normalize(z2_all)
        h = ops.concatenate([z1, z2], axis=0)
        h_all = h if z1_all is None else ops.concatenate([z1_all, z2_all], 0)
        align = ops.expand_dims(alignment_values(z1, z2), 1)
        total = align + self.lambda_weight * self.distribution_term(h, h_all)
        if self.ifm_epsilon > 0 and self.ifm_weight > 0:
            # Each pair's dot product lowered by eps raises the alignment
            # (|h1_i|^2 + |h2_i|^2 - 2 h1_i.h2_i) / (2d) by eps / d.
            dim = ops.cast(ops.shape(z1)[-1], "float32")
            perturbed = (align + self.ifm_epsilon / dim
                         + self.lambda_weight * self.distribution_term(
                             h, h_all, self.ifm_epsilon, offset))
            total = ifm.mix(total, perturbed, self.ifm_weight)
        return self.scale * total

    def get_config(self):
        config = super().get_config()
        config.update({
            "distribution": self.distribution,
            "prior": self.prior,
            "lambda_weight": self.lambda_weight,
            "temperature": self.temperature,
            "normalize": self.normalize,
            "scale": self.scale,
            "seed": self.seed,
            "ifm_epsilon": self.ifm_epsilon,
            "ifm_weight": self.ifm_weight,
        })
        return config
