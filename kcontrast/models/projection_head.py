"""Non-linear projection head g: representation h -> projection z."""

import keras
from keras import layers

from kcontrast import checks


def projection_head(input_dim, depth=2, hidden_units=256, output_units=64,
                    weight_decay=1e-4, bn_momentum=0.9, name="projection_head"):
    """Builds the projection head as a functional model.

    ``depth`` counts Dense layers. Every layer but the last is
    ``Dense(hidden_units, no bias) + BatchNorm + ReLU`` (its output is named
    ``head_<i>``); the last is ``Dense(output_units, no bias)`` named
    ``projection``. ``depth=0`` is the identity (z = h), ``depth=1`` a linear
    map. The companion code uses ``depth=2, hidden_units=256,
    output_units=64``. Kernels carry an L2 penalty ``weight_decay * sum(w**2)``.

    Args:
        input_dim: width of the representation h.
        depth: number of Dense layers, >= 0.
        hidden_units: width of the hidden layers, >= 1.
        output_units: width of z, >= 1 (ignored when depth=0).
        weight_decay: L2 factor on kernels, >= 0.
        bn_momentum: momentum m of the hidden layers' BatchNorm moving
            statistics, in [0, 1] (``moving = m * moving + (1 - m) * batch``).

    Returns:
        A ``keras.Model`` mapping ``[B, input_dim]`` to ``[B, output_units]``
        (``[B, input_dim]`` when depth=0).

    >>> head = projection_head(128, depth=2)
    >>> head.output.shape
    (None, 64)
    """
    input_dim = checks.check_positive_int(input_dim, "input_dim")
    depth = checks.check_int(depth, "depth", minimum=0)
    hidden_units = checks.check_positive_int(hidden_units, "hidden_units")
    output_units = checks.check_positive_int(output_units, "output_units")
    weight_decay = checks.check_non_negative(weight_decay, "weight_decay")
    bn_momentum = checks.check_in_range(bn_momentum, "bn_momentum", 0, 1)
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    inputs = keras.Input(shape=(input_dim,), name="representation")
    x = inputs
    for i in range(1, depth):
        x = layers.Dense(hidden_units, use_bias=False, kernel_regularizer=reg,
                         name=f"head_{i}_dense")(x)
        x = layers.BatchNormalization(momentum=bn_momentum,
                                      name=f"head_{i}_bn")(x)
        x = layers.ReLU(name=f"head_{i}")(x)
    if depth >= 1:
        x = layers.Dense(output_units, use_bias=False, kernel_regularizer=reg,
                         name="projection")(x)
    else:
        x = layers.Identity(name="projection")(x)
    return keras.Model(inputs, x, name=name)
