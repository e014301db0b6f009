"""ViewAugmentation (in the train step) against the tf.data presets: the same
distribution of crop boxes, flips and colours, checked statistically, with
a control showing that each check rejects a slightly different augmentation;
and the raw-batch path through the pipeline, the model and its saved state."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from scipy import stats

import keras

from kcontrast.data.augment import make_augmentation
from kcontrast.data.augment.blur import gaussian_blur
from kcontrast.data.augment.random_resized_crop import sample_boxes
from kcontrast.data.augment.simclr import SimCLRAugment
from kcontrast.models.augment import PRESETS, ViewAugmentation

pytestmark = pytest.mark.backend

N = 4000
P_MIN = 1e-3  # KS p-value below which two samples are called different


def _np(x):
    return np.asarray(ops.convert_to_numpy(x))


def _box_stats(boxes, height, width):
    fh = boxes[:, 2] - boxes[:, 0]
    fw = np.abs(boxes[:, 3] - boxes[:, 1])
    return fh * fw, (fw * width) / (fh * height), boxes[:, 3] < boxes[:, 1]


def _pipeline_boxes(preset, height, width, seed=1):
    p = PRESETS[preset]
    return _np(sample_boxes(N, height, width, tf.constant([seed, 7]),
                            p["crop_scale"], p["crop_ratio"]))


@pytest.mark.parametrize("preset", ["companion", "cifar"])
def test_crop_areas_and_aspect_ratios_match_the_pipeline(preset):
    h, w = 32, 24
    area_p, ratio_p, _ = _box_stats(_pipeline_boxes(preset, h, w), h, w)
    boxes = _np(ViewAugmentation(preset, seed=3).crop_boxes(N, h, w))
    area_m, ratio_m, flip_m = _box_stats(boxes, h, w)
    assert stats.ks_2samp(area_p, area_m).pvalue > P_MIN
    assert stats.ks_2samp(np.log(ratio_p), np.log(ratio_m)).pvalue > P_MIN
    assert np.all(boxes >= -1e-6) and np.all(boxes <= 1 + 1e-6)
    # The control: a lower area bound moved up by 10% of the range, or a uniform (not
    # log-uniform) ratio, is told apart by the same tests.
    lo, hi = PRESETS[preset]["crop_scale"]
    other = ViewAugmentation(preset, seed=3, crop_scale=(lo + 0.1 * (hi - lo), hi))
    area_o, _, _ = _box_stats(_np(other.crop_boxes(N, h, w)), h, w)
    assert stats.ks_2samp(area_p, area_o).pvalue < P_MIN
    r0, r1 = PRESETS[preset]["crop_ratio"]
    uniform = np.random.default_rng(0).uniform(r0, r1, N)
    assert stats.ks_2samp(np.log(ratio_p), np.log(uniform)).pvalue < P_MIN
    if preset == "cifar":  # flip on: p = 0.5 (binomial sd 0.008 at N=4000)
        assert abs(flip_m.mean() - 0.5) < 0.03
    else:
        assert not flip_m.any()


def test_resample_is_crop_and_resize_and_a_swapped_box_flips():
    x = np.random.default_rng(0).random((3, 20, 16, 3), np.float32)
    boxes = np.array([[0.1, 0.2, 0.7, 0.9], [0.0, 0.0, 1.0, 1.0],
                      [0.2, 0.8, 0.9, 0.1]], np.float32)
    ref = tf.image.crop_and_resize(x, boxes, tf.range(3), (20, 16)).numpy()
    got = _np(ViewAugmentation.resample(ops.convert_to_tensor(x), ops.convert_to_tensor(boxes)))
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(got[1], x[1], atol=1e-5)
    assert np.abs(got[2] - got[2, :, ::-1]).max() > 0.1  # not symmetric: a real flip


def test_flip_rate_of_whole_image_views():
    x = np.random.default_rng(1).random((N // 4, 8, 8, 1), np.float32)
    aug = ViewAugmentation("none", seed=5, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=True)
    views = _np(aug(x))
    same = np.abs(views - x).max(axis=(1, 2, 3)) < 1e-5
    flipped = np.abs(views - x[:, :, ::-1]).max(axis=(1, 2, 3)) < 1e-5
    assert np.all(same ^ flipped)
    ref = _np(SimCLRAugment(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_strength=0.0,
                            grayscale_probability=0.0)(x, tf.constant([2, 3])))
    ref_flipped = np.abs(ref - x[:, :, ::-1]).max(axis=(1, 2, 3)) < 1e-5
    # Both p = 0.5: binomial sd 0.016 at n = 1000.
    assert abs(flipped.mean() - 0.5) < 0.06 and abs(ref_flipped.mean() - 0.5) < 0.06


def _colour_images(n, seed=0):
    """Colourful 8x8 images: a random colour per image plus pixel noise."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.2, 0.8, (n, 1, 1, 3))
    return np.clip(base + rng.normal(0, 0.08, (n, 8, 8, 3)), 0, 1).astype(np.float32)


def _colour_stats(views, x):
    mean = views.mean(axis=(1, 2, 3))
    std = views.std(axis=(1, 2, 3))
    channel = views.mean(axis=(1, 2))
    spread = channel.max(axis=1) - channel.min(axis=1)
    # Position of the dominant channel relative to the input's: hue rotation.
    turn = (channel.argmax(axis=1) - x.mean(axis=(1, 2)).argmax(axis=1)) % 3
    gray = np.abs(views - views[..., :1]).max(axis=(1, 2, 3)) < 1e-5
    unchanged = np.abs(views - x).max(axis=(1, 2, 3)) < 1e-6
    return mean, std, spread, turn, gray, unchanged


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
def test_colour_statistics_match_the_pipeline(preset):
    x = _colour_images(N // 2)
    colour_only = dict(crop_scale=None, flip=False, blur_probability=0.0)
    ref = _np(SimCLRAugment(**{**PRESETS[preset], **colour_only})(x, tf.constant([4, 5])))
    got = _np(ViewAugmentation(preset, seed=9, **colour_only)(x))
    s_ref, s_got = _colour_stats(ref, x), _colour_stats(got, x)
    for a, b in zip(s_ref[:3], s_got[:3]):  # mean, std, channel spread
        assert stats.ks_2samp(a, b).pvalue > P_MIN
    # The hue turn histogram (chi-squared), the gray and unchanged rates
    # (gray 0.2; unchanged (1 - 0.8) * 0.8 = 0.16; sd ~ 0.009 at n = 2000).
    table = np.array([np.bincount(s_ref[3], minlength=3), np.bincount(s_got[3], minlength=3)])
    assert stats.chi2_contingency(table + 1).pvalue > P_MIN
    for a, b, rate in ((s_ref[4], s_got[4], 0.2), (s_ref[5], s_got[5], 0.16)):
        assert abs(a.mean() - rate) < 0.04 and abs(b.mean() - rate) < 0.04
    # The control: half the jitter strength is told apart.
    other = _np(ViewAugmentation(preset, seed=9, **colour_only,
                                 jitter_strength=PRESETS[preset]["jitter_strength"] / 2)(x))
    s_other = _colour_stats(other, x)
    assert min(stats.ks_2samp(a, b).pvalue for a, b in zip(s_ref[:3], s_other[:3])) < P_MIN


def test_grayscale_inputs_get_brightness_and_contrast_only():
    x = np.random.default_rng(2).random((500, 8, 8, 1), np.float32)
    got = _np(ViewAugmentation("cifar", seed=1, crop_scale=None, flip=False)(x))
    ref = _np(SimCLRAugment(**{**PRESETS["cifar"], "crop_scale": None, "flip": False})(
        x, tf.constant([1, 1])))
    assert got.shape == x.shape
    assert stats.ks_2samp(got.mean(axis=(1, 2, 3)), ref.mean(axis=(1, 2, 3))).pvalue > P_MIN
    assert stats.ks_2samp(got.std(axis=(1, 2, 3)), ref.std(axis=(1, 2, 3))).pvalue > P_MIN


def test_blur_equals_the_pipeline_blur_at_a_fixed_sigma():
    x = np.random.default_rng(3).random((4, 32, 32, 3), np.float32)
    aug = ViewAugmentation("none", seed=0, blur_probability=1.0, blur_sigma=(1.3, 1.3))
    ref = gaussian_blur(tf.constant(x), tf.fill([4], 1.3), 3).numpy()
    np.testing.assert_allclose(_np(aug(x)), np.clip(ref, 0, 1), atol=1e-5)


def test_views_append_extra_channels_after_augmentation():
    x = np.random.default_rng(4).random((6, 16, 16, 1), np.float32)
    e = np.arange(12, dtype=np.float32).reshape(6, 2)
    aug = ViewAugmentation("companion", seed=0)
    v = aug.views({"image": x, "extra": e})
    v1, v2 = _np(v["view1"]), _np(v["view2"])
    assert v1.shape == (6, 16, 16, 3)
    np.testing.assert_array_equal(v1[..., 1:], np.broadcast_to(e[:, None, None], (6, 16, 16, 2)))
    np.testing.assert_array_equal(v2[..., 1:], v1[..., 1:])
    assert np.abs(v1[..., 0] - v2[..., 0]).max() > 0.05  # two independent crops
    e2 = e + 100
    w = aug.views({"image": x, "extra1": e, "extra2": e2})
    np.testing.assert_array_equal(_np(w["view2"])[:, 0, 0, 1:], e2)


def test_seed_state_advances_and_is_saved_with_the_model(tmp_path):
    from kcontrast.data import build_dataset
    from kcontrast.data.pipeline import pretrain_dataset
    from kcontrast.models import ContrastiveModel, projection_head, small_convnet

    ds = build_dataset("randbit", bits=2)
    train = pretrain_dataset(ds.train, batch_size=64, augment_in="model", epochs=(0, 1))
    raw, _ = next(iter(train))
    assert sorted(raw) == ["extra", "image"]
    enc = small_convnet(ds.input_shape)
    model = ContrastiveModel(enc, projection_head(enc.outputs[0].shape[-1]),
                             probes={"label": 10}, augmentation=ViewAugmentation("companion", seed=3))
    model.compile(optimizer="adam")
    before = _np(model.augmentation.seed_generator.state).copy()
    history = model.fit(train, epochs=1, steps_per_epoch=4, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    after = _np(model.augmentation.seed_generator.state)
    assert not np.array_equal(before, after)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.augmentation, ViewAugmentation)
    np.testing.assert_array_equal(_np(loaded.augmentation.seed_generator.state), after)


def test_raw_batch_without_augmentation_is_refused():
    from kcontrast.models import ContrastiveModel, projection_head, small_convnet

    enc = small_convnet((16, 16, 1))
    model = ContrastiveModel(enc, projection_head(enc.outputs[0].shape[-1]))
    with pytest.raises(ValueError, match="augmentation="):
        model.compute_step({"image": np.zeros((2, 16, 16, 1), np.float32)})


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="preset"):
        ViewAugmentation("simclr")
    assert set(PRESETS) == {"companion", "cifar", "imagenet", "none"}
    assert callable(make_augmentation("cifar"))


@pytest.mark.slow
def test_a_quick_randbit_run_with_augment_in_model_probes_like_the_pipeline(tmp_path):
    """The same quick RandBit point (bits 0, 3 epochs of 1024 examples),
    views made by tf.data or in the train step: the probes agree within seed
    noise (over 3 seeds the linear probe's sd is about 0.01; the bound here
    is about 4 sd of a one-seed difference), and the point records the key."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p))
    linear = {}
    for where in ("pipeline", "model"):
        out = tmp_path / where
        done = subprocess.run(
            [sys.executable, "-m", "kcontrast.run", "--exp=randbit", "--quick", "--bits=0",
             "--config.optim.epochs=3", f"--config.data.augment_in={where}",
             "--nosave_models", f"--out={out}"],
            env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        (run,) = json.loads((out / "results.json").read_text())["runs"]
        (point,) = os.listdir(out / "points")
        config = json.loads((out / "points" / point / "config.json").read_text())
        assert '"augment_in": "%s"' % where in json.dumps(config)
        linear[where] = run["metrics"]["linear/label"]
    assert linear["pipeline"] > 0.6 and abs(linear["pipeline"] - linear["model"]) < 0.06
