"""ResNet-18 and ResNet-50 encoders, with a CIFAR or an ImageNet stem.

The paper-scale encoders (SimCLR's, on which arXiv 2011.02803 builds).
Written here from public Keras layers rather than wrapping
`keras.applications.ResNet50` because that model (a) has only the ImageNet
stem, while CIFAR-sized inputs need the 3x3 stride-1 stem without max
pooling, (b) has no ResNet-18, and (c) names its layers
``conv2_block1_...``, not the ``stage<i>`` outputs that
`ContrastiveModel.feature_maps`, `ContrastiveModel.call` and the local-feature
probes read; it also strides the first 1x1 convolution of a bottleneck
instead of the 3x3 one. Convolutions are 'same', without bias, each followed
by BatchNorm::

    stem "cifar"     Conv 3x3 stride 1, 64w                  [B, H,   W,   64w]
    stem "imagenet"  Conv 7x7 stride 2, 64w; MaxPool 3x3 s2  [B, H/4, W/4, 64w]
    stage1  blocks x n1, stride 1                            [B, h,    w,    c1]
    stage2  blocks x n2, stride 2                            [B, h/2,  w/2,  c2]
    stage3  blocks x n3, stride 2                            [B, h/4,  w/4,  c3]
    stage4  blocks x n4, stride 2                            [B, h/8,  w/8,  c4]
    representation = mean_yx stage4                          [B, c4]

ResNet-18: basic blocks ``relu(bn(conv3(relu(bn(conv3_s(x))))) + sc(x))``,
(n1..n4) = (2, 2, 2, 2), channels 64w, 128w, 256w, 512w (h = 512w).
ResNet-50: bottleneck blocks ``relu(bn(conv1(relu(bn(conv3_s(relu(bn(
conv1(x)))))))) + sc(x))`` with a 4x expansion, (3, 4, 6, 3), channels
256w, 512w, 1024w, 2048w (h = 2048w); the stride sits on the 3x3
convolution (as in SimCLR's and torchvision's ResNet-50, "v1.5"). The
shortcut ``sc`` is the identity, or a 1x1 stride-s convolution plus
BatchNorm where the shape changes. Spatial sides round up (stride 2 on 'same'
padding).

Kernels carry an L2 penalty ``weight_decay * sum(w ** 2)`` (added by
`ContrastiveModel` as ``reg_loss``); BatchNorm gammas, betas and the head
biases do not.

>>> encoder = resnet18((32, 32, 3), stem="cifar")
>>> encoder.output.shape
(None, 512)
>>> encoder.get_layer("stage4").output.shape
(None, 4, 4, 512)
"""

import functools

import keras
from keras import layers

from kcontrast import checks

STEMS = ("cifar", "imagenet")
DEPTHS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}
BASE_FILTERS = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}


def resnet(input_shape, depth=50, stem="imagenet", width=1, weight_decay=1e-4,
           bn_momentum=0.9, name=None):
    """Builds a ResNet-18 or ResNet-50 encoder: image -> h (see the module
    docstring for the architecture).

    Args:
        input_shape: ``(H, W, C)``; at least 8x8 (cifar stem) or 32x32
            (imagenet stem), so that stage4 is at least 1x1.
        depth: 18 or 50.
        stem: "cifar" (3x3 stride 1, no max pooling) or "imagenet" (7x7
            stride 2, then 3x3 max pooling stride 2).
        width: integer channel multiplier w, at least 1.
        weight_decay: L2 factor on kernels, at least 0.
        bn_momentum: momentum of every BatchNorm's moving statistics.
        name: model name (default ``resnet<depth>_<stem>``).

    Returns:
        A built functional ``keras.Model`` ``[B, H, W, C] -> [B, D]`` with
        D = 512w (18) or 2048w (50), and layers ``stem``, ``stage1`` ..
        ``stage4`` (the spatial maps) and ``representation``.
    """
    if depth not in DEPTHS:
        raise ValueError(f"Expected depth in {sorted(DEPTHS)}; Received: depth={depth!r}")
    stem = checks.check_choice(stem, STEMS, "stem")
    width = checks.check_positive_int(width, "width")
    weight_decay = checks.check_non_negative(weight_decay, "weight_decay")
    bn_momentum = checks.check_in_range(bn_momentum, "bn_momentum", 0, 1)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or any(not isinstance(d, int) or d < 1 for d in input_shape):
        raise ValueError("Expected input_shape (H, W, C) of positive ints; "
                         f"Received: input_shape={input_shape}")
    smallest = 8 if stem == "cifar" else 32
    if min(input_shape[:2]) < smallest:
        raise ValueError(
            f"Expected an input of at least {smallest}x{smallest} for the {stem} stem; "
            f"Received: input_shape={input_shape}")
    reg = keras.regularizers.L2(weight_decay) if weight_decay else None
    kind, blocks = DEPTHS[depth]
    expansion = EXPANSION[kind]

    def conv(x, filters, kernel, stride, name):
        return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                             kernel_regularizer=reg, name=name)(x)

    def bn(x, name):
        return layers.BatchNormalization(momentum=bn_momentum, name=name)(x)

    def block(x, filters, stride, prefix, out_name):
        out = filters * expansion
        if kind == "basic":
            y = layers.ReLU(name=f"{prefix}_relu1")(bn(conv(x, filters, 3, stride, f"{prefix}_conv1"), f"{prefix}_bn1"))
            y = bn(conv(y, filters, 3, 1, f"{prefix}_conv2"), f"{prefix}_bn2")
        else:
            y = layers.ReLU(name=f"{prefix}_relu1")(bn(conv(x, filters, 1, 1, f"{prefix}_conv1"), f"{prefix}_bn1"))
            y = layers.ReLU(name=f"{prefix}_relu2")(bn(conv(y, filters, 3, stride, f"{prefix}_conv2"), f"{prefix}_bn2"))
            y = bn(conv(y, out, 1, 1, f"{prefix}_conv3"), f"{prefix}_bn3")
        if stride == 1 and x.shape[-1] == out:
            shortcut = x
        else:
            shortcut = bn(conv(x, out, 1, stride, f"{prefix}_shortcut_conv"), f"{prefix}_shortcut_bn")
        return layers.ReLU(name=out_name)(layers.Add(name=f"{prefix}_add")([y, shortcut]))

    inputs = keras.Input(shape=input_shape, name="image")
    if stem == "cifar":
        x = layers.ReLU(name="stem")(bn(conv(inputs, 64 * width, 3, 1, "stem_conv"), "stem_bn"))
    else:
        x = layers.ReLU(name="stem_relu")(bn(conv(inputs, 64 * width, 7, 2, "stem_conv"), "stem_bn"))
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem")(x)
    for i, (filters, count) in enumerate(zip(BASE_FILTERS, blocks), start=1):
        for j in range(count):
            stride = 2 if (j == 0 and i > 1) else 1
            out_name = f"stage{i}" if j == count - 1 else f"stage{i}_block{j + 1}"
            x = block(x, filters * width, stride, f"stage{i}_block{j + 1}", out_name)
    h = layers.GlobalAveragePooling2D(name="representation")(x)
    return keras.Model(inputs, h, name=name or f"resnet{depth}_{stem}")


def resnet18(input_shape=(32, 32, 3), width=1, weight_decay=1e-4, bn_momentum=0.9,
             stem="cifar", name=None):
    """ResNet-18 (basic blocks 2-2-2-2, h of 512w); see `resnet`."""
    return resnet(input_shape, 18, stem, width, weight_decay, bn_momentum, name)


def resnet50(input_shape=(224, 224, 3), width=1, weight_decay=1e-4, bn_momentum=0.9,
             stem="imagenet", name=None):
    """ResNet-50 (bottleneck blocks 3-4-6-3, h of 2048w); see `resnet`."""
    return resnet(input_shape, 50, stem, width, weight_decay, bn_momentum, name)


# The registry entries of `kcontrast.models.ENCODERS`: one per depth and stem.
VARIANTS = {
    f"resnet{depth}_{stem}": functools.partial(resnet, depth=depth, stem=stem)
    for depth in (18, 50) for stem in STEMS
}
