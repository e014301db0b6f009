"""ResNet-18/50 encoders: stage names and shapes for both stems, the
representation as the mean of stage4, and what ContrastiveModel reads."""

import keras
import numpy as np
import pytest

from kcontrast.models import ENCODERS, ContrastiveModel, projection_head, resnet18, resnet50
from kcontrast.models.resnet import resnet

pytestmark = pytest.mark.backend


def _stages(encoder):
    return {l.name: tuple(l.output.shape) for l in encoder.layers
            if l.name.startswith("stage") and l.name[5:].isdigit()}


def _count(encoder, kind):
    return sum(isinstance(l, kind) for l in encoder.layers)


@pytest.mark.parametrize("depth, stem, side, maps, dim", [
    (18, "cifar", 32, (32, 16, 8, 4), 512),
    (18, "imagenet", 64, (16, 8, 4, 2), 512),
    (50, "cifar", 32, (32, 16, 8, 4), 2048),
    (50, "imagenet", 64, (16, 8, 4, 2), 2048),
])
def test_stages_and_representation_shapes(depth, stem, side, maps, dim):
    encoder = ENCODERS[f"resnet{depth}_{stem}"]((side, side, 3), width=1, weight_decay=1e-4,
                                                 bn_momentum=0.9)
    channels = (64, 128, 256, 512) if depth == 18 else (256, 512, 1024, 2048)
    assert _stages(encoder) == {f"stage{i + 1}": (None, m, m, c)
                                for i, (m, c) in enumerate(zip(maps, channels))}
    assert encoder.output.shape == (None, dim)
    # Convolutions: stem + 2 (basic) or 3 (bottleneck) per block + shortcuts,
    # the textbook layer counts (17 and 49 convolutions + the classifier).
    convs = _count(encoder, keras.layers.Conv2D)
    shortcuts = sum(l.name.endswith("shortcut_conv") for l in encoder.layers)
    assert convs - shortcuts == (17 if depth == 18 else 49)
    assert shortcuts == (3 if depth == 18 else 4)
    assert _count(encoder, keras.layers.MaxPooling2D) == (stem == "imagenet")
    stem_conv = encoder.get_layer("stem_conv")
    assert stem_conv.kernel_size == ((3, 3) if stem == "cifar" else (7, 7))
    assert stem_conv.strides == ((1, 1) if stem == "cifar" else (2, 2))


def test_parameter_counts_match_the_standard_networks():
    """ImageNet ResNet-18 / ResNet-50 without the 1000-way classifier have
    11,176,512 and 23,508,032 trainable parameters (their published counts,
    11.69M and 25.56M, minus the classifier's 513,000 and 2,049,000); BatchNorm
    moving statistics are not trainable."""
    r18, r50 = resnet18((224, 224, 3), stem="imagenet"), resnet50((224, 224, 3))
    count = lambda m: sum(int(np.prod(w.shape)) for w in m.trainable_weights)  # noqa: E731
    assert count(r18) == 11_689_512 - 513_000
    assert count(r50) == 25_557_032 - 2_049_000


def test_bottleneck_strides_on_the_3x3_convolution():
    encoder = resnet50((32, 32, 3), stem="cifar")
    assert encoder.get_layer("stage2_block1_conv1").strides == (1, 1)
    assert encoder.get_layer("stage2_block1_conv2").strides == (2, 2)
    assert encoder.get_layer("stage2_block1_conv2").kernel_size == (3, 3)


def test_representation_is_the_mean_of_stage4_and_the_model_reads_the_stages():
    keras.utils.set_random_seed(0)
    encoder = resnet18((32, 32, 3), stem="cifar")
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    model = ContrastiveModel(encoder, projection_head(512, depth=1), probes={"label": 10})
    maps = model.feature_maps(x)
    assert model.stage_names() == ["stage1", "stage2", "stage3", "stage4"]
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "stage1": (2, 32, 32, 64), "stage2": (2, 16, 16, 128),
        "stage3": (2, 8, 8, 256), "stage4": (2, 4, 4, 512)}
    out = model(x)
    h = keras.ops.convert_to_numpy(out["representation"])
    np.testing.assert_allclose(
        h, keras.ops.convert_to_numpy(maps["stage4"]).mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    assert tuple(out["stage2"].shape) == (2, 128) and tuple(out["probe_label"].shape) == (2, 10)


def test_width_multiplies_channels_and_kernels_carry_l2():
    encoder = resnet18((16, 16, 3), width=2, weight_decay=1e-3)
    assert encoder.output.shape == (None, 1024)
    regularized = [l for l in encoder.layers if getattr(l, "kernel_regularizer", None)]
    assert len(regularized) == _count(encoder, keras.layers.Conv2D)
    assert not any(getattr(l, "kernel_regularizer", None) for l in resnet18((16, 16, 3), weight_decay=0).layers)


@pytest.mark.parametrize("kwargs, needle", [
    ({"depth": 34}, "depth=34"),
    ({"stem": "tiny"}, "stem"),
    ({"width": 0}, "width"),
    ({"input_shape": (16, 16, 3), "stem": "imagenet"}, "32x32"),
    ({"input_shape": (4, 4, 3), "stem": "cifar"}, "8x8"),
])
def test_bad_arguments(kwargs, needle):
    args = {"input_shape": (32, 32, 3), "depth": 18, "stem": "cifar", **kwargs}
    with pytest.raises(ValueError, match=needle):
        resnet(**args)


def test_serialization_round_trip(tmp_path):
    encoder = resnet18((16, 16, 3), stem="cifar")
    path = str(tmp_path / "r18.keras")
    encoder.save(path)
    again = keras.saving.load_model(path)
    x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(x)),
                               keras.ops.convert_to_numpy(encoder(x)), rtol=1e-5, atol=1e-6)
