"""Resolving an experiment config and the command-line overrides into the
list of points to run. Pure Python: no Keras import, so the CLI can check
every value before it picks a backend or writes anything."""

import copy
import itertools
import numbers

# Ranges every experiment shares; an experiment's LIMITS add to these.
COMMON_LIMITS = {
    "batch_size": (2, None),
    "epochs": (1, None),
    "seed": (0, None),
    "width": (1, None),
    "train_examples": (2, None),
}
POSITIVE = ("temperature", "learning_rate")
NON_NEGATIVE = ("lambda_weight", "weight_decay")


def _describe(lo, hi):
    if hi is None:
        return f">= {lo}"
    return f"in [{lo}, {hi}]"


def check_value(key, value, limits):
    """Raises ValueError unless ``value`` is allowed for ``key``."""
    if key in limits:
        lo, hi = limits[key]
        if (not isinstance(value, numbers.Integral) or isinstance(value, bool)
                or value < lo or (hi is not None and value > hi)):
            raise ValueError(
                f"Expected --{key} {_describe(lo, hi)}; "
                f"Received: {key}={value!r}")
    if key in POSITIVE and value is not None and not value > 0:
        raise ValueError(f"Expected --{key} > 0; Received: {key}={value!r}")
    if key in NON_NEGATIVE and value is not None and not value >= 0:
        raise ValueError(f"Expected --{key} >= 0; Received: {key}={value!r}")


def resolve(config, overrides, quick=False, limits=None):
    """Applies overrides to an experiment config and expands its sweep.

    Args:
        config: the experiment's ``get_config()`` dict, with a ``sweep`` dict
            ``{key: [values]}`` and optionally a ``quick`` dict of overrides.
        overrides: ``{key: value or [values]}`` from the command line (None
            values are ignored). A list for a swept key restricts the sweep
            to those values; a list of several values for another key sweeps
            it; a single value sets it.
        quick: apply ``config["quick"]`` first (smoke-test size).
        limits: extra ``{key: (min, max)}`` integer ranges.

    Returns:
        ``(base_config, points)``: the config without ``sweep``/``quick`` and
        a list of ``{key: value}`` dicts, one per run, in sweep order.
    """
    limits = {**COMMON_LIMITS, **(limits or {})}
    config = copy.deepcopy(config)
    sweep = dict(config.pop("sweep", {}))
    quick_overrides = config.pop("quick", {})
    if quick:
        quick_overrides = dict(quick_overrides)
        sweep.update(quick_overrides.pop("sweep", {}))
        config.update(quick_overrides)
    for key, value in overrides.items():
        if value is None:
            continue
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not values:
            continue
        if key in sweep or len(values) > 1:
            sweep[key] = values
        else:
            sweep.pop(key, None)
            config[key] = values[0]
    for key, value in config.items():
        check_value(key, value, limits)
    for key, values in sweep.items():
        for value in values:
            check_value(key, value, limits)
    keys = list(sweep)
    points = [dict(zip(keys, combo))
              for combo in itertools.product(*(sweep[k] for k in keys))]
    return config, points or [{}]


def point_name(index, params):
    """A directory name for a point: ``03-bits=5-temperature=0.1``."""
    parts = [f"{index:02d}"] + [f"{k}={v}" for k, v in params.items()]
    return "-".join(parts)
