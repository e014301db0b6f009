import numpy as np
import pytest

from kcontrast import checks


@pytest.mark.parametrize("value", [3, np.int64(3), np.array(3)])
def test_ints_of_any_kind_come_back_as_python_ints(value):
    out = checks.check_positive_int(value, "k")
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value, message", [
    (0, "Expected k to be an int >= 1; Received: k=0"),
    (1.0, "Received: k=1.0"),
    (True, "Received: k=True"),
    (np.bool_(True), "Received: k=np.True_"),
    ("3", "Received: k='3'"),
    (None, "Received: k=None"),
])
def test_bad_ints_are_named(value, message):
    with pytest.raises(ValueError) as info:
        checks.check_positive_int(value, "k")
    assert message in str(info.value)


def test_int_bounds_none_and_seed():
    assert checks.check_int(0, "depth", minimum=0) == 0
    assert checks.check_int(None, "n", minimum=1, allow_none=True) is None
    assert checks.check_seed(0) == 0
    with pytest.raises(ValueError, match=r"Expected bits to be an int in \[0, 32\]; Received: bits=33"):
        checks.check_int(33, "bits", minimum=0, maximum=32)
    with pytest.raises(ValueError, match="Expected seed to be an int >= 0 or None; Received: seed=-1"):
        checks.check_seed(-1, allow_none=True)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.array(0.5)])
def test_numbers_of_any_kind_come_back_as_python_floats(value):
    out = checks.check_positive(value, "t")
    assert out == float(value) and type(out) is float


@pytest.mark.parametrize("kwargs, value, message", [
    ({"low": 0, "open_low": True}, 0, "Expected t to be a number > 0; Received: t=0"),
    ({"low": 0}, -0.5, "a number >= 0; Received: t=-0.5"),
    ({"low": 0, "high": 1}, 1.5, "a number in [0, 1]; Received: t=1.5"),
    ({"low": 0, "high": 1, "open_low": True, "open_high": True}, 1, "a number in (0, 1); Received: t=1"),
    ({"high": 1, "open_high": True}, 1, "a number < 1; Received: t=1"),
    ({}, float("nan"), "Received: t=nan"),
    ({}, "0.5", "Received: t='0.5'"),
    ({}, False, "Received: t=False"),
])
def test_bad_numbers_are_named(kwargs, value, message):
    with pytest.raises(ValueError) as info:
        checks.check_in_range(value, "t", **kwargs)
    assert message in str(info.value)


def test_non_negative_and_ranges_accept_their_bounds():
    assert checks.check_non_negative(0, "l2") == 0.0
    assert checks.check_in_range(1, "p", 0, 1) == 1.0
    assert checks.check_in_range(-5, "x") == -5.0


def test_choice():
    assert checks.check_choice("add", ("max", "add"), "merge") == "add"
    with pytest.raises(ValueError, match=r"Expected merge to be one of \['add', 'max'\]; Received: merge='mean'"):
        checks.check_choice("mean", ("max", "add"), "merge")
    with pytest.raises(ValueError, match=r"Received: name=\['x'\]"):
        checks.check_choice(["x"], {"x": 1}, "name")


def test_shapes():
    z = np.zeros((4, 8))
    checks.check_views(z, z)
    checks.check_same_shape(np.zeros((4, 8)), np.zeros((4, 8)), ("a", "b"))
    with pytest.raises(ValueError, match=r"Expected z1 of rank 2 with shape \[batch, dim\]; Received: z1.shape=\(8,\)"):
        checks.check_views(np.zeros(8), np.zeros(8))
    with pytest.raises(ValueError, match=r"z1.shape=\(4, 8\), z2.shape=\(4, 9\)"):
        checks.check_views(z, np.zeros((4, 9)))
    with pytest.raises(ValueError, match=r"batch size >= 2.*z1.shape=\(1, 8\)"):
        checks.check_views(z[:1], z[:1])
    checks.check_views(z[:1], z[:1], min_batch=1)
    with pytest.raises(ValueError, match=r"a.shape=\(4,\), b.shape=\(4, 1\)"):
        checks.check_same_shape(np.zeros(4), np.zeros((4, 1)), ("a", "b"))


def test_unknown_static_dimensions_are_not_checked():
    class Symbolic:  # what a traced tensor shows: an unknown batch size
        def __init__(self, shape):
            self.shape = shape

    checks.check_views(Symbolic((None, 8)), Symbolic((4, 8)))
    checks.check_min_batch(Symbolic((None, 8)), "h")
