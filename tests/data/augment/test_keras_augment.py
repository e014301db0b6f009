"""Keras core preprocessing layers inside tf.data: must run (with TensorFlow
ops) whatever KERAS_BACKEND is. CI runs this file under all three backends."""

import numpy as np
import pytest

from kcontrast.data import Split
from kcontrast.data.augment.keras_augment import KerasSimCLRAugment
from kcontrast.data.pipeline import pretrain_dataset
from kcontrast.data.builders.randbit import encode_bits

pytestmark = pytest.mark.backend


def _split(channels):
    rng = np.random.default_rng(0)
    n, bits = 32, 5
    return Split(
        rng.uniform(0.2, 0.8, (n, 16, 16, channels)).astype(np.float32),
        {"label": (np.arange(n) % 10).astype(np.int32)},
        extra=encode_bits(rng.integers(0, 2**bits, n), bits),
    )


def _views(split, seed=0):
    aug = KerasSimCLRAugment(jitter_strength=1.0, grayscale_probability=0.5, blur_probability=0.5,
                             solarize_probability=0.5, seed=seed)
    ds = pretrain_dataset(split, augment=aug, batch_size=16, seed=seed, shuffle=False)
    return [(v["view1"].numpy(), v["view2"].numpy()) for v, _ in ds]


def test_keras_layers_in_tf_data_under_any_backend_and_reproducible():
    split = _split(3)
    batches, again = _views(split, seed=1), _views(split, seed=1)
    assert len(batches) == 2
    for i, ((v1, v2), (w1, w2)) in enumerate(zip(batches, again)):
        assert v1.shape == (16, 16, 16, 8) and v1.dtype == np.float32
        assert v1.min() >= 0.0 and v1.max() <= 1.0
        expected = np.broadcast_to(split.extra[16 * i:16 * (i + 1), None, None, :], (16, 16, 16, 5))
        np.testing.assert_array_equal(v1[..., 3:], expected)
        np.testing.assert_array_equal(v2[..., 3:], expected)
        assert np.abs(v1[..., :3] - v2[..., :3]).max() > 0.05
        # Fresh objects with the same seed: the same views.
        np.testing.assert_array_equal(v1, w1)
        np.testing.assert_array_equal(v2, w2)


def test_grayscale_inputs():
    (v1, _), _ = _views(_split(1))
    assert v1.shape == (16, 16, 16, 6)
    assert v1.min() >= 0.0 and v1.max() <= 1.0
