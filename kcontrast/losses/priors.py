"""Prior distributions that the SWD loss matches the projections to."""

from keras import random

from kcontrast import checks
from kcontrast.losses.normalize import l2_normalize


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
