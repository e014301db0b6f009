import pytest

from kcontrast import sweep

CONFIG = {
    "name": "toy", "bits": 0, "temperature": 0.2, "epochs": 10,
    "batch_size": 64, "seed": 0,
    "sweep": {"bits": [0, 5, 10], "temperature": [0.1, 0.2]},
    "quick": {"epochs": 1, "sweep": {"bits": [0, 10], "temperature": [0.2]}},
}


def test_full_sweep_is_the_product_in_order():
    base, points = sweep.resolve(CONFIG, {})
    assert "sweep" not in base and "quick" not in base
    assert points == [{"bits": b, "temperature": t}
                      for b in (0, 5, 10) for t in (0.1, 0.2)]


def test_flags_naming_a_swept_key_restrict_it():
    _, points = sweep.resolve(CONFIG, {"bits": [0, 20], "temperature": [0.1]})
    assert points == [{"bits": 0, "temperature": 0.1},
                      {"bits": 20, "temperature": 0.1}]


def test_single_values_override_the_config():
    base, points = sweep.resolve(CONFIG, {"epochs": 3, "batch_size": 8})
    assert base["epochs"] == 3 and base["batch_size"] == 8
    assert len(points) == 6


def test_several_values_of_an_unswept_key_sweep_it():
    _, points = sweep.resolve(CONFIG, {"seed": [1, 2], "bits": [5],
                                       "temperature": [0.2]})
    assert points == [{"bits": 5, "temperature": 0.2, "seed": 1},
                      {"bits": 5, "temperature": 0.2, "seed": 2}]


def test_quick_applies_its_overrides_and_sweep():
    base, points = sweep.resolve(CONFIG, {}, quick=True)
    assert base["epochs"] == 1
    assert points == [{"bits": 0, "temperature": 0.2},
                      {"bits": 10, "temperature": 0.2}]


@pytest.mark.parametrize("overrides, message", [
    ({"bits": [-1]}, "bits=-1"),
    ({"bits": [33]}, "bits=33"),
    ({"batch_size": 1}, "batch_size=1"),
    ({"temperature": [0.0]}, "temperature=0.0"),
    ({"epochs": 0}, "epochs=0"),
    ({"lambda_weight": [-0.5]}, "lambda_weight=-0.5"),
])
def test_out_of_range_values_name_the_value_and_range(overrides, message):
    with pytest.raises(ValueError, match=message):
        sweep.resolve(CONFIG, overrides, limits={"bits": (0, 32)})


def test_point_names_are_unique_and_readable():
    _, points = sweep.resolve(CONFIG, {})
    names = [sweep.point_name(i, p) for i, p in enumerate(points)]
    assert len(set(names)) == len(names)
    assert names[0] == "00-bits=0-temperature=0.1"
