"""A convolutional decoder from the representation back to the image."""

import math

import keras
from keras import layers

from kcontrast import checks


def decodable_shape(encoder, channels=None):
    """The ``(H, W, C)`` image a decoder of ``encoder``'s representation
    reconstructs, after checking that there is one.

    An encoder's representation can be decoded when its input has a static
    ``(H, W, C)`` and its output is a flat ``[B, D]`` with a static D.
    ``channels`` (default C) keeps only the first channels: the image
    channels, not extra per-example channels such as RandBit's bits.

    Raises:
        ValueError: one line naming what cannot be decoded.

    >>> from kcontrast.models import small_convnet
    >>> decodable_shape(small_convnet((28, 28, 6)), channels=1)
    (28, 28, 1)
    """
    if not isinstance(encoder, keras.Model) or len(encoder.inputs) != 1 \
            or len(encoder.outputs) != 1:
        raise ValueError(
            "Expected an encoder keras.Model with one input and one output to "
            f"reconstruct from; Received: encoder={encoder!r}")
    in_shape = tuple(encoder.inputs[0].shape[1:])
    out_shape = tuple(encoder.outputs[0].shape[1:])
    if len(in_shape) != 3 or any(s is None for s in in_shape):
        raise ValueError(
            "Expected an encoder with a static image input (H, W, C) to "
            f"reconstruct; Received: input shape {in_shape} of "
            f"{encoder.name!r}")
    if len(out_shape) != 1 or out_shape[0] is None:
        raise ValueError(
            "Expected a flat representation [B, D] with a static D to decode "
            f"the image from; Received: representation shape {out_shape} of "
            f"{encoder.name!r}")
    if channels is None:
        channels = in_shape[-1]
    channels = checks.check_positive_int(channels, "recon_channels")
    if channels > in_shape[-1]:
        raise ValueError(
            f"Expected recon_channels <= {in_shape[-1]} (the encoder's input "
            f"channels); Received: recon_channels={channels}")
    return in_shape[0], in_shape[1], channels


def conv_decoder(representation_dim, image_shape, width=1, weight_decay=1e-4,
                 bn_momentum=0.9, name="decoder"):
    """Builds a decoder: representation ``[B, D]`` -> image ``[B, H, W, C]``.

    Architecture (hidden layers without bias, then BatchNorm and ReLU)::

        Dense s*s*32*width, reshape [s, s, 32*width]   s = ceil(max(H, W) / 8)
        Conv2DTranspose 3x3 stride 2 'same', 32*width  -> [2s, 2s]
        Conv2DTranspose 3x3 stride 2 'same', 16*width  -> [4s, 4s]
        Conv2DTranspose 3x3 stride 2 'same',  8*width  -> [8s, 8s]
        Conv 3x3 'same', C (with bias, linear), cropped to [H, W]

    three stride-2 stages like the encoders', with channels halving as the
    resolution doubles so that it costs about 3M multiply-adds per 32x32
    image (a few times the small ConvNet; wider stages made the hybrid
    step several times slower than NT-Xent alone). The output is linear:
    trained with pixel MSE against images in any range.

    Args:
        representation_dim: D, at least 1.
        image_shape: ``(H, W, C)`` to reconstruct (``decodable_shape``).
        width: integer width multiplier, at least 1.
        weight_decay: L2 factor on kernels, at least 0.
        bn_momentum: BatchNorm momentum in [0, 1].
        name: model name.

    Returns:
        A built functional ``keras.Model``.

    >>> conv_decoder(128, (28, 28, 1)).output.shape
    (None, 28, 28, 1)
    """
    representation_dim = checks.check_positive_int(representation_dim,
                                                   "representation_dim")
    width = checks.check_positive_int(width, "width")
    weight_decay = checks.check_non_negative(weight_decay, "weight_decay")
    bn_momentum = checks.check_in_range(bn_momentum, "bn_momentum", 0, 1)
    if len(tuple(image_shape)) != 3:
        raise ValueError(f"Expected image_shape (H, W, C); "
                         f"Received: image_shape={tuple(image_shape)}")
    height, wide, channels = (checks.check_positive_int(s, "image_shape")
                              for s in image_shape)
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    side = math.ceil(max(height, wide) / 8)

    def bn_relu(x, label):
        x = layers.BatchNormalization(momentum=bn_momentum,
                                      name=f"{label}_bn")(x)
        return layers.ReLU(name=f"{label}_relu")(x)

    inputs = keras.Input(shape=(representation_dim,), name="representation")
    x = layers.Dense(side * side * 32 * width, use_bias=False,
                     kernel_regularizer=reg, name="decoder_dense")(inputs)
    x = bn_relu(x, "decoder_dense")
    x = layers.Reshape((side, side, 32 * width), name="decoder_reshape")(x)
    for i, filters in enumerate((32, 16, 8), start=1):
        x = layers.Conv2DTranspose(filters * width, 3, strides=2,
                                   padding="same", use_bias=False,
                                   kernel_regularizer=reg,
                                   name=f"decoder_up{i}")(x)
        x = bn_relu(x, f"decoder_up{i}")
    x = layers.Conv2D(channels, 3, padding="same", kernel_regularizer=reg,
                      name="decoder_out")(x)
    extra_h, extra_w = 8 * side - height, 8 * side - wide
    if extra_h or extra_w:
        x = layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2),
                               (extra_w // 2, extra_w - extra_w // 2)),
                              name="decoder_crop")(x)
    return keras.Model(inputs, x, name=name)
