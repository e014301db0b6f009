"""Contrastive losses: NT-Xent and the generalized contrastive loss family.

Pure functions of `keras.ops` (deterministic given their inputs) with thin
`keras.losses.Loss` wrappers called as `loss(z1, z2)` on the two views'
projections, plus the CLI registry `LOSSES` and `make_loss`.

Scale-out: every loss class takes `gather`, a callable `gather(z) ->
(z_all, offset)` returning the projections of all replicas concatenated
along the batch and the row where this replica's rows start; the losses then
use global negatives. `gather=None` (the default) is the single-device loss.
"""

from kcontrast.losses.alignment import alignment
from kcontrast.losses.decoupled_nt_xent import DecoupledNTXent
from kcontrast.losses.generalized import GeneralizedContrastiveLoss
from kcontrast.losses.logsumexp_distribution import logsumexp_distribution
from kcontrast.losses.normalize import l2_normalize
from kcontrast.losses.nt_xent import NTXent
from kcontrast.losses.nt_xent import nt_xent
from kcontrast.losses.priors import PRIORS
from kcontrast.losses.priors import sample_prior
from kcontrast.losses.registry import DEFAULTS
from kcontrast.losses.registry import LOSSES
from kcontrast.losses.registry import make_loss
from kcontrast.losses.sliced_wasserstein import random_orthogonal
from kcontrast.losses.sliced_wasserstein import sliced_wasserstein
from kcontrast.losses.swd import SWDHypercube
from kcontrast.losses.swd import SWDHypersphere
from kcontrast.losses.swd import SWDNormal

__all__ = [
    "DEFAULTS",
    "DecoupledNTXent",
    "GeneralizedContrastiveLoss",
    "LOSSES",
    "NTXent",
    "PRIORS",
    "SWDHypercube",
    "SWDHypersphere",
    "SWDNormal",
    "alignment",
    "l2_normalize",
    "logsumexp_distribution",
    "make_loss",
    "nt_xent",
    "random_orthogonal",
    "sample_prior",
    "sliced_wasserstein",
]
