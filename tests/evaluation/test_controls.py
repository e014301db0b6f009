"""kcontrast.evaluation.controls: the untrained-encoder and raw-pixel controls."""

import json
import os

import keras
import numpy as np
import pytest

from kcontrast.config import get_experiment_config, point_config, resolve
from kcontrast.evaluation import controls
from kcontrast.pretrain import build_model, control_metrics, evaluate_point, load_data


def _point(bits=3, temperature=0.2, train=256, test=128):
    base, _, points = resolve(get_experiment_config("randbit"))
    config = point_config(base, points[0])
    config["data"]["args"]["bits"] = bits
    config["loss"]["temperature"] = temperature
    config["data"]["train_examples"] = train
    config["data"]["test_examples"] = test
    return config


def test_selected_reads_eval_controls():
    assert controls.selected({"eval": {}}) == ("random_init", "pixels")
    assert controls.selected({"eval": {"controls": False}}) == ()
    assert controls.selected({"eval": {"controls": "pixels"}}) == ("pixels",)
    with pytest.raises(ValueError, match="eval.controls"):
        controls.selected({"eval": {"controls": ["random"]}})


def test_key_ignores_what_the_controls_do_not_depend_on():
    a, b = _point(temperature=0.2), _point(temperature=0.5)
    b["data"]["augment"] = {"changed": True}
    for kind in controls.CONTROLS:
        assert controls.control_key(kind, a) == controls.control_key(kind, b)
    wider = _point()
    wider["model"]["width"] = 2
    assert controls.control_key("pixels", a) == controls.control_key("pixels", wider)
    assert controls.control_key("random_init", a) != controls.control_key("random_init", wider)
    other_seed = _point()
    other_seed["seed"] = 1
    assert controls.control_key("pixels", a) != controls.control_key("pixels", other_seed)


@pytest.mark.backend
def test_random_encoder_is_the_points_encoder_at_initialisation():
    config = _point()
    keras.utils.set_random_seed(config["seed"])
    model = build_model(config, (28, 28, 4), {"label": 10})
    encoder = controls.random_encoder(config, (28, 28, 4))
    for mine, theirs in zip(encoder.weights, model.encoder.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine),
                                      keras.ops.convert_to_numpy(theirs))


def test_pixel_features_are_the_flattened_model_inputs():
    ds = load_data(_point(bits=3))
    features, labels = controls.pixel_features(ds.test, batch_size=50)
    # 784 pixels, then the 3 bits once each (constant over the image).
    assert features.shape == (len(ds.test), 28 * 28 + 3)
    inputs = ds.test.model_inputs()
    np.testing.assert_allclose(features[:, :784], inputs[..., 0].reshape(len(ds.test), -1))
    np.testing.assert_allclose(features[:, 784:], inputs[:, 5, 7, 1:])
    assert set(np.unique(features[:, 784:])) <= {0.0, 1.0}
    np.testing.assert_array_equal(labels["label"], ds.test.labels["label"])


@pytest.mark.backend
def test_controls_are_cached_per_dataset_architecture_and_seed(tmp_path):
    config = _point(bits=3)
    ds = load_data(config)
    cache = str(tmp_path / "controls")
    first = control_metrics(config, ds, cache_dir=cache)
    assert set(first) == {"control_random/linear/label", "control_random/knn/label",
                          "control_pixels/linear/label", "control_pixels/knn/label"}
    for value in first.values():
        assert 0.0 <= value <= 1.0
    # The bits are constant channels the pixels carry: a linear probe on
    # raw pixels reads the digit well above chance (0.1).
    assert first["control_pixels/linear/label"] > 0.5
    assert len(os.listdir(cache)) == 2
    # Another temperature is the same dataset, architecture and seed: the
    # cached file answers (marked here to tell it from a recomputation).
    path = os.path.join(cache, sorted(os.listdir(cache))[0])
    record = json.loads(open(path).read())
    record["metrics"] = {k: -1.0 for k in record["metrics"]}
    open(path, "w").write(json.dumps(record))
    again = control_metrics(_point(bits=3, temperature=0.5), ds, cache_dir=cache)
    assert sorted(v for v in again.values() if v == -1.0) == [-1.0, -1.0]
    assert len(os.listdir(cache)) == 2
    # Another architecture needs its own random-init control only.
    wider = _point(bits=3)
    wider["model"]["width"] = 2
    control_metrics(wider, ds, cache_dir=cache)
    assert len(os.listdir(cache)) == 3


@pytest.mark.backend
def test_evaluate_point_reports_controls_and_the_difference(tmp_path):
    config = _point(bits=0)
    ds = load_data(config)
    keras.utils.set_random_seed(0)
    model = build_model(config, ds.input_shape, ds.num_classes)
    metrics = evaluate_point(model, ds, config, controls_dir=str(tmp_path))
    assert metrics["trained_minus_random/linear/label"] == pytest.approx(
        metrics["linear/label"] - metrics["control_random/linear/label"])
    # An untrained model is its own random-init control.
    assert metrics["trained_minus_random/linear/label"] == pytest.approx(0.0, abs=1e-6)
    config["eval"]["controls"] = False
    plain = evaluate_point(model, ds, config)
    assert not [k for k in plain if "control" in k or "minus" in k]


def _canvas_point():
    base, _, points = resolve(get_experiment_config("multi_object"))
    config = point_config(base, points[-1])  # several digits per canvas
    config["data"]["train_examples"] = 16
    config["data"]["test_examples"] = 8
    return config


@pytest.mark.backend
def test_local_controls_score_coordinates_pixels_and_the_untrained_stages(tmp_path):
    from kcontrast import local_features as lf

    config = _canvas_point()
    ds = load_data(config)
    options = {"k": 3, "num_images": 4}
    metrics = controls.local_controls(config, ds, options, cache_dir=str(tmp_path))
    rows = {k.split("/", 1)[1] for k in metrics}
    assert {"control_coords", "control_pixels_coords", "control_random_stage1"} <= rows
    # The untrained stages are what local_feature_scores gives for the
    # point's model at initialisation (same images, k, seed).
    keras.utils.set_random_seed(config["seed"])
    model = build_model(config, ds.input_shape, ds.num_classes, ds.multi_label)
    scores = lf.local_feature_scores(model, ds.test, k=(3,), num_images=4, seed=config["seed"])
    for stage in model.stage_names():
        assert metrics[f"local_ari/control_random_{stage}"] == pytest.approx(
            scores[stage]["3"]["ari"], abs=1e-4)
    # Coordinates alone: the canvas cut into k regions whatever it shows.
    coords = controls.coordinate_maps(np.zeros((2, 8, 8, 1)))
    assert coords.shape == (2, 8, 8, 2) and coords[0, 7, 0].tolist() == [1.0, 0.0]
    clusters = lf.cluster_maps(coords, 3, (8, 8))
    assert all(len(np.unique(c)) == 3 for c in clusters)
    assert len(os.listdir(tmp_path)) == 1
    assert controls.local_controls(config, ds, options, cache_dir=str(tmp_path)) == metrics


def test_probe_set_controls_are_shared_across_the_points_datasets():
    one, four = _canvas_point(), _canvas_point()
    one["data"]["args"]["num_digits"] = 1
    for kind in controls.CONTROLS:
        assert controls.control_key(kind, one, "data") != controls.control_key(kind, four, "data")
        for index in range(len(one["eval"]["probe_sets"])):
            assert controls.control_key(kind, one, index) == controls.control_key(kind, four, index)
    assert controls.control_key("pixels", one, 0) != controls.control_key("pixels", one, 1)
