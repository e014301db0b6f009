import keras
import numpy as np
import pytest

import kcontrast
from kcontrast.losses import NTXent
from kcontrast.models import (ENCODERS, ContrastiveModel, projection_head,
                              small_convnet, small_resnet)

pytestmark = pytest.mark.backend


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _stage_shapes(encoder):
    return {l.name: tuple(l.output.shape) for l in encoder.layers
            if l.name.startswith("stage") and l.name[5:].isdigit()}


def test_registered_as_an_encoder():
    assert ENCODERS["small_resnet"] is small_resnet


@pytest.mark.parametrize("width", [1, 2])
def test_shapes_of_stages_and_representation(width):
    encoder = small_resnet((64, 64, 1), width=width, pool="stages")
    assert encoder.output.shape == (None, 112 * width)
    assert _stage_shapes(encoder) == {
        "stage1": (None, 32, 32, 16 * width),
        "stage2": (None, 16, 16, 32 * width),
        "stage3": (None, 8, 8, 64 * width)}
    out = encoder(np.zeros((2, 64, 64, 1), "float32"))
    assert tuple(out.shape) == (2, 112 * width)
    last = small_resnet((64, 64, 1), width=width)   # pool="last", the default
    assert last.output.shape == (None, 64 * width)


@pytest.mark.parametrize("pool", ["stages", "last"])
def test_representation_is_the_stage_means(pool):
    keras.utils.set_random_seed(2)
    encoder = small_resnet((32, 32, 1), pool=pool)
    _trained_bn(encoder)
    x = np.random.default_rng(0).random((3, 32, 32, 1), dtype=np.float32)
    names = ["stage1", "stage2", "stage3"] if pool == "stages" else ["stage3"]
    maps = keras.Model(encoder.inputs[0], {n: encoder.get_layer(n).output for n in names})(x)
    expected = np.concatenate([_np(maps[n]).mean(axis=(1, 2)) for n in names], axis=-1)
    np.testing.assert_allclose(_np(encoder(x)), expected, rtol=1e-5, atol=1e-6)


def test_stem_stride_one_keeps_stage1_at_full_resolution():
    encoder = small_resnet((64, 64, 1), pool="stages", stem_stride=1)
    assert _stage_shapes(encoder) == {
        "stage1": (None, 64, 64, 16), "stage2": (None, 32, 32, 32),
        "stage3": (None, 16, 16, 64)}
    assert encoder.output.shape == (None, 112)
    # the same weights as the strided stem: only the stem's stride differs
    assert (small_resnet((64, 64, 1), pool="stages").count_params()
            == encoder.count_params())


@pytest.mark.parametrize("bad", [3, 0, 2.0, True, "2"])
def test_bad_stem_stride_is_named(bad):
    with pytest.raises(ValueError, match="stem_stride"):
        small_resnet((64, 64, 1), stem_stride=bad)


def test_odd_and_rectangular_inputs_round_the_sides_up():
    encoder = small_resnet((56, 45, 3))
    assert _stage_shapes(encoder) == {
        "stage1": (None, 28, 23, 16), "stage2": (None, 14, 12, 32),
        "stage3": (None, 7, 6, 64)}


def _trained_bn(encoder, seed=0):
    """Gives every BatchNorm non-trivial moving statistics and affine terms,
    so that inference mode is not an identity (as after training)."""
    rng = np.random.default_rng(seed)
    for layer in encoder.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])


def _digit_canvas(y, x, size=128):
    rng = np.random.default_rng(3)
    canvas = np.zeros((1, size, size, 1), "float32")
    canvas[0, y:y + 16, x:x + 16, 0] = rng.random((16, 16)) > 0.5
    return canvas


def test_representation_is_invariant_to_shifts_by_the_total_stride():
    """Exact while the content and the 45-px receptive fields around it stay
    clear of the zero padding: on 128 px, a 16-px patch at 48..80."""
    keras.utils.set_random_seed(0)
    encoder = small_resnet((128, 128, 1))
    _trained_bn(encoder)
    a = _np(encoder(_digit_canvas(48, 48), training=False))
    for dy, dx in [(8, 0), (0, 16), (16, 8)]:
        b = _np(encoder(_digit_canvas(48 + dy, 48 + dx), training=False))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # ... and the stage maps move with the content (8 px = 1 cell of stage3).
    stage3 = keras.Model(encoder.inputs, encoder.get_layer("stage3").output)
    m1 = _np(stage3(_digit_canvas(48, 48), training=False))
    m2 = _np(stage3(_digit_canvas(56, 48), training=False))
    np.testing.assert_allclose(m1[0, 3:11], m2[0, 4:12], rtol=1e-4, atol=1e-5)
    assert np.abs(m1 - m2).max() > 1e-2


def test_the_flattening_convnet_is_not_shift_invariant():
    """The contrast that motivates small_resnet: the same check fails there."""
    keras.utils.set_random_seed(0)
    encoder = small_convnet((128, 128, 1))
    _trained_bn(encoder)
    a = _np(encoder(_digit_canvas(48, 48), training=False))
    b = _np(encoder(_digit_canvas(56, 48), training=False))
    assert np.abs(a - b).max() > 1e-2


def test_no_bias_and_l2_on_every_kernel():
    encoder = small_resnet((64, 64, 1), weight_decay=1e-4)
    kernels = [w for w in encoder.weights if "kernel" in w.path]
    # The stem, two convolutions per stage, a 1x1 shortcut in stages 2 and 3.
    assert len(kernels) == 1 + 2 + 3 + 3
    assert not [w for w in encoder.weights if w.path.endswith("/bias")
                and "bn" not in w.path]
    expected = sum(1e-4 * float(np.sum(_np(k) ** 2)) for k in kernels)
    got = sum(float(_np(l)) for l in encoder.losses)
    assert got == pytest.approx(expected, rel=1e-5)
    assert small_resnet((64, 64, 1), weight_decay=0).losses == []


def test_keras_round_trip_inside_a_contrastive_model(tmp_path):
    keras.utils.set_random_seed(1)
    encoder = small_resnet((32, 32, 1))
    model = ContrastiveModel(
        encoder, projection_head(encoder.outputs[0].shape[-1], hidden_units=32, output_units=16),
        loss=NTXent(0.5), probes={"label": 3})
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    views = {"view1": rng.random((16, 32, 32, 1), dtype=np.float32),
             "view2": rng.random((16, 32, 32, 1), dtype=np.float32)}
    model.fit(views, {"label": rng.integers(0, 3, 16).astype("int32")},
              batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = kcontrast.load_model(path)
    x = views["view1"][:4]
    a, b = model(x), loaded(x)
    assert set(a) == set(b) and {"stage1", "stage2", "stage3"} <= set(a)
    for key in a:
        np.testing.assert_array_equal(_np(a[key]), _np(b[key]), err_msg=key)
    ma, mb = model.feature_maps(x), loaded.feature_maps(x)
    for key in ma:
        np.testing.assert_array_equal(_np(ma[key]), _np(mb[key]), err_msg=key)


@pytest.mark.parametrize("kwargs, message", [
    ({"width": 0}, "width=0"),
    ({"weight_decay": -1.0}, "weight_decay=-1.0"),
    ({"input_shape": (64, 64)}, r"input_shape=\(64, 64\)"),
    ({"input_shape": (4, 64, 1)}, r"input_shape=\(4, 64, 1\)"),
    ({"pool": "max"}, "pool='max'"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    args = {"input_shape": (64, 64, 1), **kwargs}
    with pytest.raises(ValueError, match=message):
        small_resnet(**args)
