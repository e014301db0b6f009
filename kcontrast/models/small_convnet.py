"""The companion code's small ConvNet encoder for 28x28 inputs (RandBit MNIST)."""

import keras
from keras import layers

from kcontrast import checks


def small_convnet(input_shape=(28, 28, 1), width=1, weight_decay=1e-4,
                  bn_momentum=0.9, name="small_convnet"):
    """Builds the companion small ConvNet: image -> representation h.

    Architecture (every layer without bias, then BatchNorm and ReLU)::

        Conv 3x3 stride 2 'valid', 32*width   -> stage1
        Conv 3x3 stride 2 'valid', 64*width   -> stage2
        Conv 3x3 stride 2 'valid', 64*width   -> stage3
        Flatten, Dense 128*width              -> representation

    At 28x28 the stage maps are 13x13, 6x6 and 2x2. Kernels carry an L2
    penalty ``weight_decay * sum(w ** 2)`` (``keras.regularizers.L2``), which
    ``ContrastiveModel`` adds to its loss as ``reg_loss``.

    The returned functional model follows the kcontrast encoder convention:
    layers named ``stage1``, ``stage2``, ... output spatial feature maps
    ``[B, H_i, W_i, C_i]`` and the model output is the representation
    ``[B, 128 * width]``.

    Args:
        input_shape: ``(H, W, C)``; C counts any extra RandBit channels.
        width: integer width multiplier, at least 1.
        weight_decay: L2 factor on kernels, at least 0.
        bn_momentum: momentum m of every BatchNorm's moving statistics,
            in [0, 1]: ``moving = m * moving + (1 - m) * batch`` (Keras's
            convention; the companion code uses 0.99).
        name: model name.

    Returns:
        A built ``keras.Model`` mapping ``[B, H, W, C]`` to ``[B, 128*width]``.

    >>> encoder = small_convnet((28, 28, 6), width=1)
    >>> encoder.output.shape
    (None, 128)
    """
    width = checks.check_positive_int(width, "width")
    weight_decay = checks.check_non_negative(weight_decay, "weight_decay")
    bn_momentum = checks.check_in_range(bn_momentum, "bn_momentum", 0, 1)
    if len(tuple(input_shape)) != 3:
        raise ValueError(
            "Expected input_shape (H, W, C); "
            f"Received: input_shape={tuple(input_shape)}")
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None

    def bn_relu(x, stage):
        x = layers.BatchNormalization(momentum=bn_momentum,
                                      name=f"{stage}_bn")(x)
        return layers.ReLU(name=stage)(x)

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, filters in enumerate((32, 64, 64), start=1):
        x = layers.Conv2D(filters * width, 3, strides=2, padding="valid",
                          use_bias=False, kernel_regularizer=reg,
                          name=f"stage{i}_conv")(x)
        x = bn_relu(x, f"stage{i}")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128 * width, use_bias=False, kernel_regularizer=reg,
                     name="representation_dense")(x)
    x = bn_relu(x, "representation")
    return keras.Model(inputs, x, name=name)
