"""Argument checks shared by the model builders."""

import numbers


def check_positive(name, value, integer=False, minimum=1):
    """Raises ValueError unless ``value >= minimum`` (and integral if asked)."""
    kind = "an integer" if integer else "a number"
    ok = isinstance(value, numbers.Integral if integer else numbers.Real)
    if not ok or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"Expected {name} to be {kind} >= {minimum}; "
            f"Received: {name}={value!r}")
    return value
