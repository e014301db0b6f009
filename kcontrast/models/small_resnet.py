"""A small fully convolutional ResNet for multi-object canvases (56-112 px)."""

import keras
from keras import layers

from kcontrast import checks

STAGE_FILTERS = (16, 32, 64)
POOLS = ("stages", "last")
STEM_STRIDES = (1, 2)


def small_resnet(input_shape=(64, 64, 1), width=1, weight_decay=1e-4,
                 bn_momentum=0.9, pool="last", stem_stride=2, name="small_resnet"):
    """Builds a small ResNet encoder with global average pooling: image -> h.

    Architecture (convolutions 3x3 'same' without bias, each followed by
    BatchNorm; ReLU after the stem and after every residual sum)::

        stem     Conv 3x3 stride S, 16*width            [B, H/S, W/S, 16w]
        stage1   basic block stride 1, 16*width          [B, H/S, W/S, 16w]
        stage2   basic block stride 2, 32*width          [B, H/2S, W/2S, 32w]
        stage3   basic block stride 2, 64*width          [B, H/4S, W/4S, 64w]
        representation, pool="last" (default): mean_yx stage3  [B, 64w]
        representation, pool="stages":
            [mean_yx stage1, mean_yx stage2, mean_yx stage3]  [B, 112w]

    with ``S = stem_stride``: 2 by default; 1 keeps stage1 at the input's
    full resolution, with 4x the activations in every stage.

    A basic block is ``relu(bn(conv(relu(bn(conv_s(x))))) + shortcut(x))``
    with a stride-``s`` first convolution; the shortcut is ``x`` itself in
    stage1 and a 1x1 stride-``s`` convolution plus BatchNorm where the
    shape changes (sides rounded up for odd sizes). The strided stem keeps
    full-resolution activations out of the network: on a 2-core CPU the
    multi_object model trains 3.7x faster than with ``stem_stride=1``
    (3 seeds side by side, experiments/README.md).

    Why pooling every stage is an option: on 64-px MultiDigits canvases
    stage3's 47-px receptive field spans several digits, and features
    learned on 4-digit canvases transfer poorly from there to one digit per
    canvas. Measured (scratch runs, 300 steps of 128 pairs, digits 24-30
    px, one seed): the linear single-digit probe after 4-digit pretraining
    was 0.66 on the pooled stage3 alone (0.85 after 1-digit pretraining),
    and 0.85 with all stages pooled and trained on (0.89 after 1-digit
    pretraining). The committed multi_object run (width 1, 310 steps,
    three seeds) uses pool="stages": 0.876 after 4-digit against 0.927
    after 1-digit pretraining (experiments/README.md).

    Being fully convolutional with global average pooling, the
    representation does not change when the content of the image moves by
    a multiple of the total stride (8 px; 4 with ``stem_stride=1``) and
    stays clear of the borders;
    the companion ``small_convnet`` flattens its last map, so its
    representation depends on where things are. Any input size of at least
    8x8 works; 64x64 canvases give stage maps of 32x32, 16x16 and 8x8.

    Kernels carry an L2 penalty ``weight_decay * sum(w ** 2)``, added by
    ``ContrastiveModel`` as ``reg_loss``. The returned functional model
    follows the kcontrast encoder convention: layers named ``stage1``,
    ``stage2``, ``stage3`` output the spatial feature maps (exposed by
    ``ContrastiveModel.call`` pooled and by ``ContrastiveModel.feature_maps``
    as maps) and the model output is the representation h.

    Args:
        input_shape: ``(H, W, C)``.
        width: integer width multiplier, at least 1.
        weight_decay: L2 factor on kernels, at least 0.
        bn_momentum: momentum of every BatchNorm's moving statistics, in
            [0, 1].
        pool: "last" (h = stage3's global average, the default, as in the
            committed multi_object run) or "stages" (h = every stage's
            global average, concatenated).
        stem_stride: 2 (default) or 1, the stem convolution's stride: the
            resolution of stage1's map relative to the input (1/2 or 1/1).
        name: model name.

    Returns:
        A built ``keras.Model`` mapping ``[B, H, W, C]`` to ``[B, 112*width]``
        (pool="stages") or ``[B, 64*width]`` (pool="last").

    >>> encoder = small_resnet((64, 64, 1), width=2)
    >>> encoder.output.shape
    (None, 128)
    >>> encoder.get_layer("stage2").output.shape
    (None, 16, 16, 64)
    """
    width = checks.check_positive_int(width, "width")
    weight_decay = checks.check_non_negative(weight_decay, "weight_decay")
    bn_momentum = checks.check_in_range(bn_momentum, "bn_momentum", 0, 1)
    pool = checks.check_choice(pool, POOLS, "pool")
    stem_stride = checks.check_choice(checks.check_positive_int(stem_stride, "stem_stride"),
                                      STEM_STRIDES, "stem_stride")
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or any(
            not isinstance(d, int) or d < 1 for d in input_shape):
        raise ValueError(
            "Expected input_shape (H, W, C) of positive ints; "
            f"Received: input_shape={input_shape}")
    if min(input_shape[:2]) < 8:
        raise ValueError(
            "Expected an input of at least 8x8 (three stride-2 stages); "
            f"Received: input_shape={input_shape}")
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None

    def conv(x, filters, kernel, stride, name):
        return layers.Conv2D(filters, kernel, strides=stride, padding="same",
                             use_bias=False, kernel_regularizer=reg,
                             name=name)(x)

    def bn(x, name):
        return layers.BatchNormalization(momentum=bn_momentum, name=name)(x)

    inputs = keras.Input(shape=input_shape, name="image")
    x = conv(inputs, STAGE_FILTERS[0] * width, 3, stem_stride, "stem_conv")
    x = layers.ReLU(name="stem")(bn(x, "stem_bn"))
    stages = []
    for i, filters in enumerate(STAGE_FILTERS, start=1):
        filters *= width
        stage = f"stage{i}"
        stride = 1 if i == 1 else 2
        y = conv(x, filters, 3, stride, f"{stage}_conv1")
        y = layers.ReLU(name=f"{stage}_relu1")(bn(y, f"{stage}_bn1"))
        y = bn(conv(y, filters, 3, 1, f"{stage}_conv2"), f"{stage}_bn2")
        if stride == 1 and x.shape[-1] == filters:
            shortcut = x
        else:
            shortcut = bn(conv(x, filters, 1, stride, f"{stage}_shortcut_conv"),
                          f"{stage}_shortcut_bn")
        x = layers.Add(name=f"{stage}_add")([y, shortcut])
        x = layers.ReLU(name=stage)(x)
        stages.append(x)
    if pool == "last":
        h = layers.GlobalAveragePooling2D(name="representation")(x)
    else:
        pooled = [layers.GlobalAveragePooling2D(name=f"stage{i}_mean")(stage)
                  for i, stage in enumerate(stages, start=1)]
        h = layers.Concatenate(name="representation")(pooled)
    return keras.Model(inputs, h, name=name)
