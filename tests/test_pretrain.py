"""kcontrast.pretrain.build_model: the model section's options reach the model."""

import keras
import pytest

from kcontrast.config import get_experiment_config, resolve, point_config
from kcontrast.pretrain import MODEL_DEFAULTS, build_model

pytestmark = pytest.mark.backend


def _momenta(model):
    return {l.momentum for m in (model.encoder, model.head) for l in m.layers
            if isinstance(l, keras.layers.BatchNormalization)}


def _point(preset):
    base, _, points = resolve(get_experiment_config("randbit", preset))
    return point_config(base, points[0])


def test_companion_options_reach_the_model():
    model = build_model(_point("companion"), (28, 28, 1), {"label": 10})
    assert model.per_view_forward is True and model.probe_views == "first"
    assert _momenta(model) == {0.99}
    assert model.contrastive_loss.form == "companion"


def test_configs_without_the_new_keys_get_the_defaults():
    config = _point("default")
    for key in MODEL_DEFAULTS:  # randbit's config lacks some (objective)
        config["model"].pop(key, None)
    model = build_model(config, (28, 28, 1), {"label": 10})
    assert model.per_view_forward is False and model.probe_views == "both"
    assert _momenta(model) == {0.9}
