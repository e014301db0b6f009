"""Split: head (truncation) and model_inputs (images with the extra channels)."""

import numpy as np
import pytest

from kcontrast.data import Split
from kcontrast.data import build_dataset
from kcontrast.data.pipeline import probe_dataset


def _split(n=5, extra=True):
    return Split(
        np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1),
        {"label": np.arange(n, dtype=np.int32), "presence": np.eye(n, 3, dtype=np.float32)},
        extra=np.arange(n * 2, dtype=np.float32).reshape(n, 2) if extra else None,
        info={"bit_value": np.arange(n, dtype=np.int64) * 10},
    )


def test_head_cuts_every_per_example_array_alike():
    split = _split()
    head = split.head(2)
    assert len(head) == 2 and head.num_extra == 2
    np.testing.assert_array_equal(head.images, split.images[:2])
    np.testing.assert_array_equal(head.labels["label"], [0, 1])
    np.testing.assert_array_equal(head.labels["presence"], split.labels["presence"][:2])
    np.testing.assert_array_equal(head.extra, split.extra[:2])
    np.testing.assert_array_equal(head.info["bit_value"], [0, 10])
    assert len(_split(extra=False).head(3)) == 3 and _split(extra=False).head(3).extra is None
    assert len(split.head(0)) == 0


@pytest.mark.parametrize("n", [None, 5, 6, np.int64(100)])
def test_head_of_the_whole_split_is_the_split(n):
    split = _split()
    assert split.head(n) is split


@pytest.mark.parametrize("n", [-1, 2.0, True, "3"])
def test_head_rejects_what_is_not_a_count(n):
    with pytest.raises(ValueError, match="Received: n="):
        _split().head(n)



def make_split(n=5, extra=True):
    rng = np.random.default_rng(0)
    return Split(rng.random((n, 4, 3, 2), dtype=np.float32),
                 {"label": np.arange(n, dtype=np.int32)},
                 extra=rng.integers(0, 2, (n, 3)).astype(np.float32) if extra else None)


def test_extra_channels_are_constant_per_example_after_the_image_channels():
    split = make_split()
    x = split.model_inputs()
    assert x.shape == (5, 4, 3, 5) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., :2], split.images)
    for i in range(5):
        for j in range(3):
            assert np.all(x[i, :, :, 2 + j] == split.extra[i, j])


@pytest.mark.parametrize("start, stop", [(None, None), (1, 3), (-2, None), (0, 0), (3, 99)])
def test_start_stop_select_like_a_slice(start, stop):
    split = make_split()
    x = split.model_inputs(start, stop)
    np.testing.assert_array_equal(x, split.model_inputs()[start:stop])
    np.testing.assert_array_equal(x[..., :2], split.images[start:stop])


def test_without_extra_it_is_the_images_as_float32():
    split = Split(np.ones((3, 2, 2, 1), np.float64), {"label": np.zeros(3, np.int32)})
    x = split.model_inputs(1)
    assert x.dtype == np.float32 and x.shape == (2, 2, 2, 1)


def test_randbit_matches_the_probe_pipeline_and_the_input_shape():
    ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0)
    x = ds.test.model_inputs(0, 8)
    assert x.shape == (8,) + ds.input_shape
    from_pipeline, _ = next(iter(probe_dataset(ds.test, batch_size=8)))
    np.testing.assert_array_equal(x, from_pipeline.numpy())


@pytest.mark.parametrize("bad", [{"start": 1.5}, {"stop": "3"}])
def test_non_integer_bounds_are_rejected(bad):
    with pytest.raises(ValueError, match="Expected .* integer or None; Received"):
        make_split().model_inputs(**bad)
