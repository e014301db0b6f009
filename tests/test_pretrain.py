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


def test_pool_reaches_the_encoder_that_takes_it():
    config = _point("default")
    config["model"].update(encoder="small_resnet", pool="stages", width=1)
    stages = build_model(config, (32, 32, 1), {"label": 10})
    config["model"]["pool"] = "last"
    last = build_model(config, (32, 32, 1), {"label": 10})
    # every stage pooled: 16 + 32 + 64 features at width 1, else stage3's 64
    assert stages.encoder.outputs[0].shape[-1] == 112
    assert last.encoder.outputs[0].shape[-1] == 64


def test_stem_stride_reaches_the_encoder_and_is_checked():
    config = _point("default")
    config["model"].update(encoder="small_resnet", stem_stride=1, width=1)
    model = build_model(config, (32, 32, 1), {"label": 10})
    assert tuple(model.encoder.get_layer("stage1").output.shape) == (None, 32, 32, 16)
    config["model"]["stem_stride"] = 4
    with pytest.raises(ValueError, match="stem_stride"):
        build_model(config, (32, 32, 1), {"label": 10})
    config["model"].update(encoder="small_convnet", stem_stride=1)
    with pytest.raises(ValueError, match=r"model.stem_stride only with model.encoder in "
                                         r"\['small_resnet'\]"):
        build_model(config, (28, 28, 1), {"label": 10})


def test_pool_on_an_encoder_without_it_names_the_key():
    config = _point("default")
    config["model"]["pool"] = "stages"
    with pytest.raises(ValueError, match=r"model.pool only with model.encoder in \['small_resnet'\]"):
        build_model(config, (28, 28, 1), {"label": 10})


def test_compile_options_reach_the_model():
    from kcontrast.pretrain import compile_model

    config = _point("default")
    config["optim"].update(jit_compile=False, steps_per_execution=3)
    model = compile_model(build_model(config, (28, 28, 1), {"label": 10}), config, 10)
    assert model.jit_compile is False and model.steps_per_execution == 3


def test_configs_without_the_compile_keys_get_keras_auto():
    from kcontrast.pretrain import OPTIM_DEFAULTS, compile_options

    config = _point("default")
    for key in OPTIM_DEFAULTS:
        config["optim"].pop(key, None)
    assert compile_options(config["optim"]) == {"jit_compile": "auto",
                                                "steps_per_execution": 1}


@pytest.mark.parametrize("key, value", [("jit_compile", "yes"),
                                        ("steps_per_execution", 0)])
def test_bad_compile_options_name_the_key(key, value):
    from kcontrast.pretrain import compile_options

    with pytest.raises(ValueError, match=key):
        compile_options({key: value})


def test_mixed_bfloat16_builds_bf16_compute_and_trains_to_a_finite_loss():
    import dataclasses

    import numpy as np

    from kcontrast.data import build_dataset
    from kcontrast.data.pipeline import pretrain_dataset
    from kcontrast.pretrain import compile_model

    config = _point("default")
    config["model"]["precision"] = "mixed_bfloat16"
    before = keras.config.dtype_policy().name
    ds = build_dataset("randbit", base="mnist5k", bits=2, seed=0)
    model = build_model(config, ds.input_shape, dict(ds.num_classes))
    assert keras.config.dtype_policy().name == before == "float32"  # left as it was
    convs = [l for l in model.encoder.layers if isinstance(l, keras.layers.Conv2D)]
    assert convs and {l.compute_dtype for l in convs} == {"bfloat16"}
    assert {l.variable_dtype for l in convs} == {"float32"}
    compile_model(model, config, steps_per_epoch=2)
    train = dataclasses.replace(
        ds.train, images=ds.train.images[:128], extra=ds.train.extra[:128],
        labels={k: v[:128] for k, v in ds.train.labels.items()},
        info={k: v[:128] for k, v in ds.train.info.items()})
    logs = model.fit(pretrain_dataset(train, batch_size=64, seed=0), epochs=1,
                     verbose=0).history
    assert np.isfinite(logs["loss"][0]) and logs["contrastive_loss"][0] > 0
    assert model.encoder.output.dtype == "bfloat16"


def test_unknown_precision_names_the_key():
    config = _point("default")
    config["model"]["precision"] = "float16"
    with pytest.raises(ValueError, match="model.precision"):
        build_model(config, (28, 28, 1), {"label": 10})
