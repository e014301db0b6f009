"""Which hyper-parameters each registered loss takes, read off its class.

A loss's hyper-parameters are the keyword arguments of its constructor,
less the plumbing every loss has (``seed``, ``gather``, ``name``,
``reduction``, ``dtype``). The experiment engine uses this to refuse a key
the chosen loss does not take (``--loss=swd_normal --temperature=0.1``)
instead of silently training identical points.

>>> loss_params("swd_normal")
('lambda_weight', 'scale')
"""

import inspect

from kcontrast.losses import DEFAULTS
from kcontrast.losses import LOSSES

_PLUMBING = ("self", "seed", "gather", "name", "reduction", "dtype", "kwargs")

# The type of every hyper-parameter some loss takes (config placeholders).
PARAM_TYPES = {
    "temperature": float,
    "lambda_weight": float,
    "scale": float,
    "form": str,
}

# Hyper-parameters an experiment's loss section holds only when it asks for
# them (``loss_section(..., ifm_epsilon=0.0)``): options that are off by
# default, kept out of every other experiment's recorded point configs.
OPTIONAL_PARAM_TYPES = {
    "ifm_epsilon": float,
    "ifm_weight": float,
}


def loss_params(name):
    """The hyper-parameter names of registered loss ``name``, in signature
    order."""
    if name not in LOSSES:
        raise ValueError(f"Expected loss in {sorted(LOSSES)}; Received: loss={name!r}")
    params = inspect.signature(LOSSES[name].__init__).parameters
    return tuple(p for p in params if p not in _PLUMBING)


def loss_defaults(name):
    """The value each hyper-parameter of loss ``name`` takes when unset: the
    paper's (``registry.DEFAULTS``) or else the constructor's default."""
    params = inspect.signature(LOSSES[name].__init__).parameters
    values = {p: params[p].default for p in loss_params(name)}
    values.update(DEFAULTS.get(name, {}))
    return values
