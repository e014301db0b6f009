"""The generalized contrastive loss (alignment + lambda * distribution term)
and its pieces: the alignment, the logsumexp and sliced-Wasserstein
distribution terms, the SWD priors, and the SWD loss (one class, `prior=`)."""

import math

import keras
from keras import ops
from keras import random

from kcontrast import checks
from kcontrast.losses import ifm
from kcontrast.losses.base import ContrastiveLoss
from kcontrast.losses.base import apply_gather
from kcontrast.losses.base import l2_normalize
from kcontrast.losses.base import to_float32
from kcontrast.losses.ifm import perturb


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
    >>> np.asarray(alignment_values(np.zeros((2, 4)), np.ones((2, 4)))).tolist()
    [0.5, 0.5]
    """
    checks.check_views(h1, h2, ("h1", "h2"), min_batch=1)
    h1, h2 = to_float32(h1), to_float32(h2)
    return 0.5 * ops.mean(ops.square(h1 - h2), axis=-1)


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


def _normal(shape, seed):
    return random.normal(shape, dtype="float32", seed=seed)


def _hypersphere(shape, seed):
    return l2_normalize(random.normal(shape, dtype="float32", seed=seed))


def _hypercube(shape, seed):
    return random.uniform(shape, minval=-1.0, maxval=1.0, dtype="float32",
                          seed=seed)


# Prior name -> (sampler(shape, seed), whether the matched rows h are
# l2-normalized by default). The companion code's settings: 'normal' with
# raw h; 'hypersphere' = normal rows l2-normalized, with h normalized too;
# 'hypercube' = U(-1, 1) with raw h.
PRIORS = {
    "normal": (_normal, False),
    "hypersphere": (_hypersphere, True),
    "hypercube": (_hypercube, False),
}


def sample_prior(name, shape, seed):
    """Draws `shape` float32 samples of the prior `name`.

    Args:
        name: one of `PRIORS`: `"normal"` (N(0, 1) entries),
            `"hypersphere"` (uniform on the unit sphere: normal rows,
            l2-normalized) or `"hypercube"` (U(-1, 1) entries).
        shape: `(m, d)`.
        seed: a `keras.random.SeedGenerator` or an int.

    >>> tuple(sample_prior("hypercube", (4, 3), seed=0).shape)
    (4, 3)
    """
    checks.check_choice(name, PRIORS, "prior")
    return PRIORS[name][0](shape, seed)


def sliced_wasserstein(h, prior_samples, projection):
    """Squared sliced Wasserstein distance along the columns of `projection`.

    ```
    X = sort(h W),  Y = sort(P W)    (each column sorted over the batch)
    sliced_wasserstein(h, P, W) = 1/(m k) sum_{i, j} (X_ij - Y_ij)^2
    ```

    In one dimension the optimal transport between two empirical measures of
    m points each matches them in sorted order, so this is the mean over
    the k slices of the squared 2-Wasserstein distance
    W2^2 = 1/m sum_i (X_ij - Y_ij)^2 between the projected batch and the
    projected prior samples (the companion code's `reduce_mean`). Each
    column is sorted with `ops.sort`: O(m log m) time per slice and O(m k)
    memory, not the m x m rank matrix of the companion code. It is 0 when
    `h` and `prior_samples` hold the same rows in any order.

    Args:
        h: `[m, d]` rows (both views stacked).
        prior_samples: `[m, d]` samples of the prior.
        projection: `[d, k]` slicing directions (for the loss, a random
            d x d orthogonal matrix: see `random_orthogonal`).

    Returns:
        Scalar float32.

    >>> import numpy as np
    >>> h = np.array([[0.0], [1.0]], "float32")
    >>> float(sliced_wasserstein(h, h[::-1], np.eye(1, dtype="float32")))
    0.0
    """
    checks.check_rank(h, 2, "h", "[batch, dim]")
    checks.check_rank(prior_samples, 2, "prior_samples", "[batch, dim]")
    checks.check_rank(projection, 2, "projection", "[d, k]")
    checks.check_same_shape(h, prior_samples, ("h", "prior_samples"))
    d, k = tuple(h.shape)[1], tuple(projection.shape)[0]
    if d is not None and k is not None and d != k:
        raise ValueError(
            "Expected `projection` of shape [d, k] with d = h.shape[1] = "
            f"{d}; Received: projection.shape={tuple(projection.shape)}"
        )
    h, prior_samples = to_float32(h), to_float32(prior_samples)
    projection = to_float32(projection)
    x = ops.sort(ops.matmul(h, projection), axis=0)
    y = ops.sort(ops.matmul(prior_samples, projection), axis=0)
    return ops.mean(ops.square(x - y))


def random_orthogonal(dim, seed):
    """A random `[dim, dim]` orthogonal matrix, Haar distributed.

    QR decomposition of a standard normal matrix, with the columns of Q
    multiplied by the signs of diag(R) so that the result is uniform over
    the orthogonal group (without the sign fix the QR convention biases it).

    Args:
        dim: int, static.
        seed: a `keras.random.SeedGenerator` (advanced by one draw) or an
            int.

    Returns:
        `[dim, dim]` float32, not differentiated through.
    """
    gaussian = random.normal((dim, dim), dtype="float32", seed=seed)
    q, r = ops.qr(gaussian)
    signs = ops.where(ops.diagonal(r) < 0, -1.0, 1.0)
    return ops.stop_gradient(q * ops.expand_dims(signs, 0))


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
            `kcontrast.losses.base`: `"auto"` (default; the global batch
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


@keras.saving.register_keras_serializable(package="kcontrast")
class SWD(GeneralizedContrastiveLoss):
    """The generalized loss with the sliced-Wasserstein term, for one prior.

    ```
    loss = scale * (alignment(h1, h2) + lambda * SWD([h1; h2], P, W))
    ```

    W: a fresh random d x d orthogonal matrix, P: fresh `[2n, d]` samples
    of the prior, both drawn at every call from `seed_generator`. Per
    anchor the SWD (a batch statistic) is attributed equally to every
    anchor view; see `GeneralizedContrastiveLoss`.

    Args:
        prior: `"normal"` (N(0, 1), raw h), `"hypersphere"` (uniform on the
            unit sphere, h l2-normalized) or `"hypercube"` (U(-1, 1), raw h).
        lambda_weight: lambda >= 0 (paper default 5).
        scale: overall factor > 0.
        seed: int or None, seed of the loss's `SeedGenerator`.
        gather: `"auto"`, None or a callable, see `kcontrast.losses.base`.
        name, reduction, dtype: as for `keras.losses.Loss`.

    `SWDNormal`, `SWDHypersphere` and `SWDHypercube` are this class with
    the prior fixed (the registry's `swd_normal`, ... and saved models).

    >>> import numpy as np
    >>> z = np.random.default_rng(0).normal(size=(8, 16)).astype("float32")
    >>> float(SWD("hypercube", seed=0)(z, z)) >= 0
    True
    """

    def __init__(self, prior="normal", lambda_weight=5.0, scale=1.0,
                 seed=None, gather="auto", name=None,
                 reduction="sum_over_batch_size", dtype="float32"):
        prior = checks.check_choice(prior, PRIORS, "prior")
        super().__init__(distribution="swd", prior=prior,
                         lambda_weight=lambda_weight, scale=scale, seed=seed,
                         gather=gather, name=name or f"swd_{prior}",
                         reduction=reduction, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        for key in ("distribution", "normalize", "temperature",
                    "ifm_epsilon", "ifm_weight"):
            config.pop(key)
        return config


def _swd_alias(prior, class_name):
    """`SWD` with `prior` fixed, registered under its old class name."""

    def __init__(self, lambda_weight=5.0, scale=1.0, seed=None,
                 gather="auto", name=None, reduction="sum_over_batch_size",
                 dtype="float32"):
        SWD.__init__(self, prior, lambda_weight=lambda_weight, scale=scale,
                     seed=seed, gather=gather, name=name,
                     reduction=reduction, dtype=dtype)

    def get_config(self):
        config = SWD.get_config(self)
        config.pop("prior")
        return config

    cls = type(class_name, (SWD,), {
        "__init__": __init__, "get_config": get_config,
        "__doc__": f"`SWD(prior={prior!r}, ...)`.", "__module__": __name__})
    return keras.saving.register_keras_serializable(package="kcontrast")(cls)


SWDNormal = _swd_alias("normal", "SWDNormal")
SWDHypersphere = _swd_alias("hypersphere", "SWDHypersphere")
SWDHypercube = _swd_alias("hypercube", "SWDHypercube")
