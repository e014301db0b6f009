import os

import keras
import numpy as np
import pytest

import kcontrast
from kcontrast.losses import NTXent
from kcontrast.models import ContrastiveModel, projection_head, small_convnet

pytestmark = pytest.mark.backend

SHAPE = (28, 28, 2)


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random((n,) + SHAPE, dtype=np.float32)
    view1 = base + 0.05 * rng.normal(size=base.shape).astype("float32")
    view2 = base + 0.05 * rng.normal(size=base.shape).astype("float32")
    labels = rng.integers(0, 3, n).astype("int32")
    presence = rng.integers(0, 2, (n, 4)).astype("float32")
    return {"view1": view1, "view2": view2}, {"label": labels, "presence": presence}


def _model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    model = ContrastiveModel(
        small_convnet(SHAPE), projection_head(128, hidden_units=32, output_units=16),
        loss=NTXent(temperature=0.5), probes={"label": 3, "presence": 4},
        multi_label=("presence",), **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_fit_from_numpy_logs_every_documented_metric():
    views, labels = _data()
    model = _model()
    history = model.fit(views, labels, batch_size=16, epochs=2, verbose=0)
    assert set(history.history) == {
        "loss", "contrastive_loss", "contrastive_acc", "reg_loss",
        "probe_label_loss", "probe_label_acc",
        "probe_presence_loss", "probe_presence_acc"}
    for values in history.history.values():
        assert all(np.isfinite(values))
    total = history.history["loss"][-1]
    parts = sum(history.history[k][-1] for k in (
        "contrastive_loss", "reg_loss", "probe_label_loss", "probe_presence_loss"))
    assert total == pytest.approx(parts, rel=1e-4)


def test_training_lowers_the_contrastive_loss_on_fixed_views():
    views, labels = _data(n=64)
    model = _model()
    before = model.evaluate(views, labels, batch_size=64, verbose=0, return_dict=True)
    model.fit(views, labels, batch_size=32, epochs=15, verbose=0)
    after = model.evaluate(views, labels, batch_size=64, verbose=0, return_dict=True)
    assert after["contrastive_loss"] < before["contrastive_loss"]


def test_call_returns_every_named_feature():
    model = _model()
    out = model(np.zeros((5,) + SHAPE, "float32"))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes == {
        "stage1": (5, 32), "stage2": (5, 64), "stage3": (5, 64),
        "representation": (5, 128), "head_1": (5, 32), "projection": (5, 16),
        "probe_label": (5, 3), "probe_presence": (5, 4)}


def test_evaluate_on_images_scores_only_the_probes():
    views, labels = _data()
    logs = _model().evaluate(views["view1"], labels, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "probe_label_loss", "probe_label_acc",
                         "probe_presence_loss", "probe_presence_acc"}


def test_probes_do_not_train_the_encoder():
    """Probe losses reach only the probe weights (stop_gradient on h)."""
    views, labels = _data(n=16)
    # Plain SGD: Adam's first step lr * g / (|g| + eps) would turn rounding
    # noise in near-zero gradients into full-size updates.
    with_probe = _model(seed=1)
    without = _model(seed=1)
    without.set_weights(with_probe.get_weights())
    for m in (with_probe, without):
        m.compile(optimizer=keras.optimizers.SGD(0.1))
    # One step with labels and one without: encoder weights must match, since
    # probes see stop_gradient(h) and BatchNorm statistics don't depend on y.
    with_probe.fit(views, labels, batch_size=16, epochs=1, verbose=0, shuffle=False)
    without.fit(views, None, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(with_probe.encoder.weights, without.encoder.weights):
        np.testing.assert_allclose(_np(a), _np(b), atol=1e-5, err_msg=a.path)
    pa = _np(with_probe.probes["label"].kernel)
    pb = _np(without.probes["label"].kernel)
    assert np.abs(pa - pb).max() > 0


def test_keras_round_trip_reproduces_outputs_exactly(tmp_path):
    views, labels = _data()
    model = _model()
    model.fit(views, labels, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = kcontrast.load_model(path)
    assert isinstance(loaded, ContrastiveModel)
    assert loaded.multi_label == ("presence",)
    x = views["view1"][:6]
    a, b = model(x), loaded(x)
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(_np(a[key]), _np(b[key]), err_msg=key)
    # training can go on after loading
    loaded.compile(optimizer="adam")
    loaded.fit(views, labels, batch_size=16, epochs=1, verbose=0)


def test_standard_callbacks(tmp_path):
    views, labels = _data()
    model = _model()
    callbacks = [
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "tb")),
        keras.callbacks.BackupAndRestore(backup_dir=str(tmp_path / "backup")),
        keras.callbacks.TerminateOnNaN(),
    ]
    history = model.fit(views, labels, batch_size=16, epochs=2, verbose=1,
                        callbacks=callbacks)
    assert len(history.history["loss"]) == 2
    assert os.listdir(tmp_path / "tb")


def test_terminate_on_nan_stops_a_diverging_run():
    views, labels = _data()
    views = {k: np.full_like(v, np.nan) for k, v in views.items()}
    model = _model()
    history = model.fit(views, labels, batch_size=16, epochs=3, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN()])
    assert len(history.history["loss"]) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"probes": {"label": 1}}, "num_classes >= 2"),
    ({"probes": {"bad name": 3}}, "identifiers"),
    ({"probes": {"label": 3}, "multi_label": ("presence",)}, "multi_label"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContrastiveModel(small_convnet(SHAPE), projection_head(128), **kwargs)


def test_unknown_input_keys_are_reported():
    model = _model()
    with pytest.raises(ValueError, match="view1"):
        model.compute_step({"a": np.zeros((2,) + SHAPE, "float32")})


def test_feature_maps_are_the_stages_before_pooling():
    model = _model()
    x = _data(n=6)[0]["view1"]
    maps = model.feature_maps(x)
    assert model.stage_names() == ["stage1", "stage2", "stage3"]
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "stage1": (6, 13, 13, 32), "stage2": (6, 6, 6, 64), "stage3": (6, 2, 2, 64)}
    pooled = model(x)
    for name, value in maps.items():
        np.testing.assert_allclose(_np(value).mean(axis=(1, 2)), _np(pooled[name]),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    only = model.feature_maps(x, stages=["stage2"])
    assert list(only) == ["stage2"]
    np.testing.assert_array_equal(_np(only["stage2"]), _np(maps["stage2"]))
    # Asking for maps adds nothing to the model's weights.
    assert len(model.weights) == len(_model().weights)


@pytest.mark.parametrize("stages", [["stage4"], ["representation"], []])
def test_feature_maps_reject_unknown_stages(stages):
    with pytest.raises(ValueError, match="Expected stages among"):
        _model().feature_maps(np.zeros((1,) + SHAPE, "float32"), stages=stages)
