"""Contrastive losses: NT-Xent and the generalized contrastive loss family.

Pure functions of `keras.ops` (deterministic given their inputs) with thin
`keras.losses.Loss` wrappers called as `loss(z1, z2)` on the two views'
projections, plus the CLI registry `LOSSES` and `make_loss`.
"""

from kcontrast.losses.accuracy import contrastive_accuracy
from kcontrast.losses.normalize import l2_normalize
from kcontrast.losses.nt_xent import NTXent
from kcontrast.losses.nt_xent import nt_xent
from kcontrast.losses.registry import DEFAULTS
from kcontrast.losses.registry import LOSSES
from kcontrast.losses.registry import make_loss

__all__ = [
    "DEFAULTS",
    "LOSSES",
    "NTXent",
    "contrastive_accuracy",
    "l2_normalize",
    "make_loss",
    "nt_xent",
]
