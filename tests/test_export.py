"""SavedModel export: train briefly, export, reload in a fresh TF-only process.

The end-to-end tests run under every backend (CI reruns `-m backend` under
jax and torch); the bad-input tests are backend-independent.
"""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kcontrast.data import build_dataset
from kcontrast.data.pipeline import pretrain_dataset, probe_dataset
from kcontrast.export import ExportError, export_for_probing
from kcontrast.models import ContrastiveModel, projection_head, small_convnet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs in a fresh process with TensorFlow only: kcontrast is not importable.
RELOAD = r"""
import json, sys
import numpy as np
import tensorflow as tf

path, data = sys.argv[1], np.load(sys.argv[2])
images = data["images"]
loaded = tf.saved_model.load(path)
serve = {}
for n in (1, 3, len(images)):                       # the batch size is variable
    for name, value in loaded.serve(tf.constant(images[:n])).items():
        diff = float(np.abs(value.numpy() - data[name][:n]).max())
        serve[name] = max(serve.get(name, 0.0), diff)
signature = loaded.signatures["serving_default"]
spec = signature.structured_input_signature[1]["images"]
kcontrast_loaded = any(m.startswith("kcontrast") for m in sys.modules)

import keras
layer = keras.layers.TFSMLayer(path, call_endpoint="serve")
tfsm = {name: float(np.abs(np.asarray(value) - data[name]).max())
        for name, value in layer(images).items()}
print(json.dumps({"serve": serve, "tfsm": tfsm, "kcontrast_loaded": kcontrast_loaded,
                  "input_shape": spec.shape.as_list(), "dtype": spec.dtype.name}))
"""


def tiny_trained_model():
    """A small ConvNet trained for a few steps on 256 RandBit images."""
    ds = build_dataset("randbit", base="mnist5k", bits=2, seed=0)
    train = dataclasses.replace(
        ds.train, images=ds.train.images[:256], extra=ds.train.extra[:256],
        labels={k: v[:256] for k, v in ds.train.labels.items()},
        info={k: v[:256] for k, v in ds.train.info.items()})
    keras.utils.set_random_seed(0)
    encoder = small_convnet(ds.input_shape)
    model = ContrastiveModel(
        encoder, projection_head(encoder.outputs[0].shape[-1], hidden_units=32,
                                 output_units=16),
        probes=dict(ds.num_classes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(pretrain_dataset(train, batch_size=64, seed=0), epochs=1, verbose=0)
    return model, ds


def numpy_outputs(model, images):
    return {k: keras.ops.convert_to_numpy(v) for k, v in model(images, training=False).items()}


def reload_in_fresh_process(path, data_file):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", RELOAD, str(path), str(data_file)],
                          env=env, cwd=os.path.dirname(data_file),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.backend
@pytest.mark.matrix
def test_export_reloads_in_a_fresh_tensorflow_process_and_matches(tmp_path):
    model, ds = tiny_trained_model()
    images, _ = next(iter(probe_dataset(ds.test, batch_size=7)))
    images = np.asarray(images)
    reference = numpy_outputs(model, images)
    data_file = tmp_path / "reference.npz"
    np.savez(data_file, images=images, **reference)

    path = tmp_path / "saved_models" / "tiny"
    assert export_for_probing(model, str(path)) == str(path)

    config = json.loads((path / "config.json").read_text())
    assert config["backend"] == keras.backend.backend()
    assert config["input"] == {"name": "images", "dtype": "float32",
                               "shape": [None, *ds.input_shape]}
    assert set(config["features"]) == set(reference)
    assert {"stage1", "representation", "head_1", "projection", "probe_label"} <= set(reference)
    assert config["labels"] == {"label": 10}
    # Only the export itself is left beside it: the temporary dirs are gone.
    assert os.listdir(tmp_path / "saved_models") == ["tiny"]

    result = reload_in_fresh_process(path, data_file)
    assert not result["kcontrast_loaded"]
    assert result["input_shape"] == [None, *ds.input_shape]
    assert result["dtype"] == "float32"
    assert set(result["serve"]) == set(reference) == set(result["tfsm"])
    for name in reference:
        assert result["serve"][name] <= 1e-5, (name, result["serve"][name])
        assert result["tfsm"][name] <= 1e-5, (name, result["tfsm"][name])


@pytest.mark.backend
def test_export_with_maps_serves_the_stage_maps_of_the_keras_model(tmp_path):
    model, ds = tiny_trained_model()
    images, _ = next(iter(probe_dataset(ds.test, batch_size=5)))
    images = np.asarray(images)
    reference = numpy_outputs(model, images)
    maps = {f"{k}_map": keras.ops.convert_to_numpy(v)
            for k, v in model.feature_maps(images).items()}
    assert sorted(maps) == ["stage1_map", "stage2_map", "stage3_map"]
    data_file = tmp_path / "reference.npz"
    np.savez(data_file, images=images, **reference, **maps)

    path = tmp_path / "with_maps"
    export_for_probing(model, str(path), maps=True)
    config = json.loads((path / "config.json").read_text())
    assert config["maps"] == sorted(maps)
    assert config["features"]["stage1_map"] == [None, 13, 13, 32]
    assert config["features"]["stage3_map"] == [None, 2, 2, 64]

    result = reload_in_fresh_process(path, data_file)
    assert set(result["serve"]) == set(reference) | set(maps)
    for name, diff in result["serve"].items():
        assert diff <= 1e-5, (name, diff)


def test_maps_need_a_model_with_stages(tmp_path):
    with pytest.raises(ExportError, match="spatial stage maps"):
        export_for_probing(small_feature_model(), str(tmp_path / "out"), maps=True)
    assert os.listdir(tmp_path) == []
    export_for_probing(small_feature_model(), str(tmp_path / "plain"))
    assert json.loads((tmp_path / "plain" / "config.json").read_text())["maps"] == []


def small_feature_model():
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Conv2D(2, 3, name="stage1")(inputs)
    outputs = {"stage1": keras.layers.GlobalAveragePooling2D()(hidden),
               "representation": keras.layers.Flatten()(hidden)}
    return keras.Model(inputs, outputs)


def test_unbuilt_model_is_refused(tmp_path):
    unbuilt = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ExportError, match="built"):
        export_for_probing(unbuilt, str(tmp_path / "out"))
    assert os.listdir(tmp_path) == []


def test_existing_path_is_refused_unless_overwrite(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old")
    model = small_feature_model()
    with pytest.raises(ExportError, match="does not exist.*overwrite"):
        export_for_probing(model, str(target))
    assert os.listdir(target) == ["keep.txt"]
    export_for_probing(model, str(target), overwrite=True)
    assert not (target / "keep.txt").exists()
    assert json.loads((target / "config.json").read_text())["features"] == {
        "representation": [None, 32], "stage1": [None, 2]}
    assert sorted(os.listdir(tmp_path)) == ["out"]


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "kcontrast.export", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def assert_one_line_error(done, *fragments):
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("kcontrast.export: error: Expected")
    for fragment in fragments:
        assert fragment in lines[0]


def test_cli_bad_requests_are_one_line_and_write_nothing(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text("{}")
    # No model.keras in the run directory.
    assert_one_line_error(run_cli(f"--run={run_dir}", f"--out={tmp_path / 'a'}"),
                          "model.keras")
    # A model.keras that is not a Keras archive.
    (run_dir / "model.keras").write_bytes(b"not a keras file")
    assert_one_line_error(run_cli(f"--run={run_dir}", f"--out={tmp_path / 'b'}"),
                          "loadable .keras")
    # An output that exists already.
    (tmp_path / "c").mkdir()
    assert_one_line_error(run_cli(f"--run={run_dir}", f"--out={tmp_path / 'c'}"),
                          "--overwrite")
    assert_one_line_error(run_cli(f"--out={tmp_path / 'd'}"), "--run or --model")
    assert sorted(os.listdir(tmp_path)) == ["c", "run"]
    assert os.listdir(tmp_path / "c") == []
