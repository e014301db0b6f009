import numpy as np
import pytest
import tensorflow as tf

from kcontrast.data import Split
from kcontrast.data.augment import AUGMENTATIONS
from kcontrast.data.augment import make_augmentation
from kcontrast.data.augment.simclr import SimCLRAugment
from kcontrast.data.builders.randbit import encode_bits
from kcontrast.data.pipeline import pretrain_dataset


@pytest.mark.parametrize("preset", sorted(AUGMENTATIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_presets_shapes_ranges_determinism(preset, channels):
    aug = make_augmentation(preset)
    x = tf.random.stateless_uniform((16, 32, 32, channels), [0, 3])
    a = aug(x, tf.constant([1, 2])).numpy()
    b = aug(x, tf.constant([1, 2])).numpy()
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    if preset != "none":
        assert (a != aug(x, tf.constant([1, 3])).numpy()).any()


def test_simclr_pipeline_rgb_with_bits_bypassing_every_op():
    rng = np.random.default_rng(0)
    n, bits = 48, 6
    values = rng.integers(0, 2**bits, n)
    split = Split(
        rng.uniform(size=(n, 32, 32, 3)).astype(np.float32),
        {"label": (np.arange(n) % 10).astype(np.int32)},
        extra=encode_bits(values, bits),
    )
    aug = SimCLRAugment(jitter_strength=1.0, blur_probability=1.0, solarize_probability=1.0)
    ds = pretrain_dataset(split, augment=aug, batch_size=16, seed=0, shuffle=False)
    for i, (views, _) in enumerate(ds):
        v1, v2 = views["view1"].numpy(), views["view2"].numpy()
        assert v1.shape == (16, 32, 32, 3 + bits)
        expected = np.broadcast_to(split.extra[16 * i:16 * (i + 1), None, None, :], (16, 32, 32, bits))
        np.testing.assert_array_equal(v1[..., 3:], expected)
        np.testing.assert_array_equal(v2[..., 3:], expected)
        assert np.abs(v1[..., :3] - v2[..., :3]).max() > 0.1


def test_bad_simclr_arguments():
    with pytest.raises(ValueError, match="grayscale_probability=1.5"):
        SimCLRAugment(grayscale_probability=1.5)
    with pytest.raises(ValueError, match="jitter_strength=-1"):
        SimCLRAugment(jitter_strength=-1)
