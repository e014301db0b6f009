import keras
import pytest

from kcontrast.losses import DEFAULTS
from kcontrast.losses import LOSSES
from kcontrast.losses import make_loss


def test_every_name_builds_with_paper_defaults():
    for name, cls in LOSSES.items():
        loss = make_loss(name)
        assert isinstance(loss, cls)
        assert isinstance(loss, keras.losses.Loss)
        for key, value in DEFAULTS[name].items():
            assert getattr(loss, key) == value


def test_overrides():
    loss = make_loss("nt_xent", temperature=0.5)
    assert loss.temperature == 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"name": "bogus"}, r"name='bogus'.*|.*nt_xent"),
        ({"name": "nt_xent", "temperature": 0}, "temperature=0"),
        ({"name": "nt_xent", "temperature": -0.1}, "temperature=-0.1"),
        ({"name": "nt_xent", "lambda_weight": -1}, "lambda_weight=-1"),
    ],
)
def test_bad_values_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_loss(**kwargs)


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as info:
        make_loss("bogus")
    for name in LOSSES:
        assert name in str(info.value)
