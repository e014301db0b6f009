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


def test_paper_defaults():
    assert make_loss("nt_xent").temperature == 0.2
    decoupled = make_loss("decoupled_nt_xent")
    assert (decoupled.temperature, decoupled.lambda_weight) == (1.0, 0.1)
    for name in ("swd_normal", "swd_hypersphere", "swd_hypercube"):
        assert make_loss(name).lambda_weight == 5.0


def test_seed_and_irrelevant_arguments():
    loss = make_loss("swd_hypercube", temperature=0.5, lambda_weight=2.0,
                     seed=9)
    assert (loss.lambda_weight, loss.seed) == (2.0, 9)
    assert loss.seed_generator is not None
    # NT-Xent has no lambda and no randomness: both are checked, then unused.
    loss = make_loss("nt_xent", lambda_weight=3.0, seed=9)
    assert loss.temperature == 0.2 and loss.seed_generator is None
    with pytest.raises(ValueError, match="temperature=0"):
        make_loss("swd_normal", temperature=0)


def test_extra_constructor_arguments():
    assert make_loss("nt_xent", form="cross_view").form == "cross_view"


@pytest.mark.backend
def test_keras_file_round_trip(tmp_path):
    """A `.keras` save of a ContrastiveModel restores each registered loss."""
    models = pytest.importorskip("kcontrast.models")
    x = keras.Input((6,))
    encoder = keras.Model(x, keras.layers.Dense(8)(x))
    h = keras.Input((8,))
    head = keras.Model(h, keras.layers.Dense(4)(h))
    for name in LOSSES:
        loss = make_loss(name, temperature=0.3, lambda_weight=0.7, seed=5)
        model = models.ContrastiveModel(encoder, head, loss=loss)
        path = tmp_path / f"{name}.keras"
        model.save(path)
        restored = keras.saving.load_model(path).contrastive_loss
        assert type(restored) is type(loss)
        assert restored.get_config() == loss.get_config()
