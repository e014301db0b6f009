"""Argument and shape checks shared by the contrastive losses.

Every check raises ``ValueError("Expected ...; Received: name=value")`` so that
the bad value is named. Shape checks look only at static shapes: a dimension
that is unknown at trace time (``None``) is not checked.
"""


def check_temperature(temperature, name="temperature"):
    """Returns `temperature` as a float after checking that it is > 0."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(
            f"Expected `{name}` to be a positive number; "
            f"Received: {name}={temperature!r}"
        ) from None
    if not value > 0.0:
        raise ValueError(
            f"Expected `{name}` > 0; Received: {name}={temperature!r}"
        )
    return value


def check_positive(value, name):
    """Returns `value` as a float after checking that it is > 0."""
    return check_temperature(value, name)


def check_lambda(lambda_weight, name="lambda_weight"):
    """Returns `lambda_weight` as a float after checking that it is >= 0."""
    try:
        value = float(lambda_weight)
    except (TypeError, ValueError):
        raise ValueError(
            f"Expected `{name}` to be a non-negative number; "
            f"Received: {name}={lambda_weight!r}"
        ) from None
    if not value >= 0.0:
        raise ValueError(
            f"Expected `{name}` >= 0; Received: {name}={lambda_weight!r}"
        )
    return value


def check_choice(value, choices, name):
    """Returns `value` after checking that it is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Expected `{name}` to be one of {sorted(choices)}; "
            f"Received: {name}={value!r}"
        )
    return value


def check_rank2(x, name):
    """Checks that `x` has rank 2 (`[batch, dim]`)."""
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(
            f"Expected `{name}` of rank 2 with shape [batch, dim]; "
            f"Received: {name}.shape={shape}"
        )


def check_min_batch(x, name, min_batch=2):
    """Checks that the static batch size of `x` is at least `min_batch`."""
    batch = x.shape[0]
    if batch is not None and batch < min_batch:
        raise ValueError(
            f"Expected `{name}` with batch size >= {min_batch} (the loss "
            f"needs negatives); Received: {name}.shape={tuple(x.shape)}"
        )


def check_pair(z1, z2, names=("z1", "z2"), min_batch=2):
    """Checks two views: both rank 2, the same static shape, batch >= min."""
    check_rank2(z1, names[0])
    check_rank2(z2, names[1])
    s1, s2 = tuple(z1.shape), tuple(z2.shape)
    for a, b in zip(s1, s2):
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"Expected `{names[0]}` and `{names[1]}` of the same shape; "
                f"Received: {names[0]}.shape={s1}, {names[1]}.shape={s2}"
            )
    if min_batch:
        check_min_batch(z1, names[0], min_batch)
