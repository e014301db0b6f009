import numpy as np
import pytest

from kcontrast.data import Split


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
