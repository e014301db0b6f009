"""Contrastive losses: NT-Xent, decoupled NT-Xent, the generalized loss
(logsumexp or SWD distribution term) and IFM; the CLI registry.

One module per paper concept:

    base.py               float32 casting, safe l2 normalization, `gather`
                          (global negatives), the `ContrastiveLoss` base
    nt_xent.py            NT-Xent (SimCLR, cross-view and companion forms)
    decoupled_nt_xent.py  decoupled NT-Xent
    generalized.py        alignment, logsumexp and sliced-Wasserstein terms,
                          priors, `GeneralizedContrastiveLoss`, `SWD`
    ifm.py                implicit feature modification
    params.py             the hyper-parameters each registered loss takes

Every loss is a `keras.losses.Loss` called as `loss(z1, z2, sample_weight)`
on the two views' `[n, d]` projections; its `call` returns one value per
anchor view, `[n, 2]`, which Keras weights and reduces (`reduction=`).
Under a multi-replica `tf.distribute` strategy the losses contrast against
the global batch by default (`gather="auto"`, see `base`).

Registry: `LOSSES` (CLI name -> class), `DEFAULTS` (the paper's
hyper-parameters per name) and `make_loss`.
"""

from kcontrast import checks
from kcontrast.losses.base import ContrastiveLoss
from kcontrast.losses.base import l2_normalize
from kcontrast.losses.decoupled_nt_xent import DecoupledNTXent
from kcontrast.losses.generalized import PRIORS
from kcontrast.losses.generalized import SWD
from kcontrast.losses.generalized import GeneralizedContrastiveLoss
from kcontrast.losses.generalized import SWDHypercube
from kcontrast.losses.generalized import SWDHypersphere
from kcontrast.losses.generalized import SWDNormal
from kcontrast.losses.generalized import alignment
from kcontrast.losses.generalized import logsumexp_distribution
from kcontrast.losses.generalized import random_orthogonal
from kcontrast.losses.generalized import sample_prior
from kcontrast.losses.generalized import sliced_wasserstein
from kcontrast.losses.nt_xent import NTXent
from kcontrast.losses.nt_xent import nt_xent
from kcontrast.losses.nt_xent import nt_xent_values

# CLI name -> loss class.
LOSSES = {
    "nt_xent": NTXent,
    "decoupled_nt_xent": DecoupledNTXent,
    "swd_normal": SWDNormal,
    "swd_hypersphere": SWDHypersphere,
    "swd_hypercube": SWDHypercube,
}

# CLI name -> the hyperparameters the paper reports for it (Chen, Luo, Li
# 2021): NT-Xent t=0.2; decoupled NT-Xent t=1.0, lambda=0.1;
# SWD lambda=5. Only the keys listed here are hyperparameters of the loss:
# a loss without "lambda_weight" (NT-Xent) or "temperature" (SWD) ignores
# that argument of `make_loss` after checking it.
DEFAULTS = {
    "nt_xent": {"temperature": 0.2},
    "decoupled_nt_xent": {"temperature": 1.0, "lambda_weight": 0.1},
    "swd_normal": {"lambda_weight": 5.0},
    "swd_hypersphere": {"lambda_weight": 5.0},
    "swd_hypercube": {"lambda_weight": 5.0},
}

# Losses that draw random numbers and therefore take a seed.
_SEEDED = {"swd_normal", "swd_hypersphere", "swd_hypercube"}


def make_loss(name, temperature=None, lambda_weight=None, seed=None,
              **kwargs):
    """Builds the loss registered under `name`.

    Args:
        name: one of `LOSSES`.
        temperature: t > 0, or None for the paper default.
        lambda_weight: lambda >= 0, or None for the paper default.
        seed: int or None, seed of the loss's `SeedGenerator` (random
            losses only).
        **kwargs: further constructor arguments of the loss class (e.g.
            `form`, `gather`).

    Returns:
        A `keras.losses.Loss`.

    >>> make_loss("nt_xent").temperature
    0.2
    """
    checks.check_choice(name, LOSSES, "name")
    if temperature is not None:
        temperature = checks.check_positive(temperature, "temperature")
    if lambda_weight is not None:
        lambda_weight = checks.check_non_negative(lambda_weight, "lambda_weight")
    args = dict(DEFAULTS[name])
    given = {"temperature": temperature, "lambda_weight": lambda_weight}
    for key, value in given.items():
        if key in args and value is not None:
            args[key] = value
    if name in _SEEDED:
        args["seed"] = seed
    args.update(kwargs)
    return LOSSES[name](**args)


__all__ = [
    "DEFAULTS",
    "ContrastiveLoss",
    "DecoupledNTXent",
    "GeneralizedContrastiveLoss",
    "LOSSES",
    "NTXent",
    "PRIORS",
    "SWD",
    "SWDHypercube",
    "SWDHypersphere",
    "SWDNormal",
    "alignment",
    "l2_normalize",
    "logsumexp_distribution",
    "make_loss",
    "nt_xent",
    "nt_xent_values",
    "random_orthogonal",
    "sample_prior",
    "sliced_wasserstein",
]
