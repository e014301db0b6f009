"""The probing workflow end to end: train, save a run, export (CLI), probe (CLI).

Runs under every backend: the run is trained and the probe's linear layer is
fitted under the test's backend; the export always runs under TensorFlow.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kcontrast.data import build_dataset
from kcontrast.data.pipeline import pretrain_dataset, probe_dataset
from kcontrast.evaluation import extract_features, knn_classify, linear_probe
from kcontrast.models import ContrastiveModel, projection_head, small_convnet
from kcontrast.pretrain import save_point
from kcontrast.probe import main, probe_saved_model

pytestmark = pytest.mark.backend

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = 300


def run_module(module, *args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", module, *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny model trained a few steps, saved as a run, exported by the CLI."""
    root = tmp_path_factory.mktemp("probe")
    ds = build_dataset("randbit", base="mnist5k", bits=2, seed=0)
    keras.utils.set_random_seed(0)
    encoder = small_convnet(ds.input_shape)
    model = ContrastiveModel(
        encoder, projection_head(encoder.outputs[0].shape[-1], hidden_units=32,
                                 output_units=16),
        probes=dict(ds.num_classes))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(pretrain_dataset(ds.train.head(256), batch_size=64, seed=0),
              epochs=1, verbose=0)
    run_dir = root / "run"
    save_point(model, {"name": "tiny", "seed": 0}, ds, str(run_dir))
    path = root / "saved_models" / "tiny"
    done = run_module("kcontrast.export", f"--run={run_dir}", f"--out={path}")
    assert done.returncode == 0, done.stderr[-2000:]
    return str(path), model, ds


def test_probe_cli_end_to_end(exported, tmp_path, capsys):
    path, model, ds = exported
    config = json.loads(open(os.path.join(path, "config.json")).read())
    assert config["backend"] == keras.backend.backend()
    assert config["dataset"]["builder"] == "randbit"
    assert config["dataset"]["config"]["bits"] == 2

    out = tmp_path / "result.json"
    # The CLI's main, in this process (the subprocess form is tested below).
    code = main(["kcontrast.probe", f"--saved_model={path}", "--label=label",
                 f"--max_examples={EXAMPLES}", f"--out={out}"])
    assert code == 0
    assert "label: linear" in capsys.readouterr().out
    record = json.loads(out.read_text())
    assert record["feature"] == "representation"
    assert record["num_train"] == record["num_test"] == EXAMPLES
    result = record["results"]["label"]
    # Random-ish conv features of MNIST digits are far above chance (0.1).
    assert result["linear"]["accuracy"] > 0.3
    assert result["knn"]["accuracy"] > 0.3

    # The same protocol on features of the Keras model in this process.
    train_x, train_y = extract_features(
        model, probe_dataset(ds.train.head(EXAMPLES), 128), ["representation"])
    test_x, test_y = extract_features(
        model, probe_dataset(ds.test.head(EXAMPLES), 128), ["representation"])
    assert train_x["representation"].shape[0] == EXAMPLES
    linear = linear_probe(train_x["representation"], train_y["label"],
                          test_x["representation"], test_y["label"], num_classes=10)
    knn = knn_classify(train_x["representation"], train_y["label"],
                       test_x["representation"], test_y["label"], num_classes=10)
    assert linear["accuracy"] == pytest.approx(result["linear"]["accuracy"], abs=0.02)
    assert knn["accuracy"] == pytest.approx(result["knn"]["accuracy"], abs=0.02)


def test_probe_another_feature_in_process(exported):
    path, _, _ = exported
    record = probe_saved_model(path, feature="stage1", max_examples=100)
    assert record["feature"] == "stage1"
    assert set(record["results"]) == {"label"}
    assert 0.0 <= record["results"]["label"]["linear"]["accuracy"] <= 1.0


def call_main(capsys, *args):
    code = main(["kcontrast.probe", *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_unknown_feature_lists_the_available_ones(exported, capsys):
    path, _, _ = exported
    code, err = call_main(capsys, f"--saved_model={path}", "--feature=nope")
    assert code == 2 and len(err) == 1
    assert "Expected --feature among" in err[0]
    for name in ("representation", "projection", "stage1", "probe_label"):
        assert name in err[0]


def test_unknown_label_lists_the_available_ones(exported, capsys):
    path, _, _ = exported
    code, err = call_main(capsys, f"--saved_model={path}", "--label=colour")
    assert code == 2 and len(err) == 1
    assert "Expected --label among ['label']" in err[0]


def test_foreign_saved_model_is_refused(tmp_path, capsys):
    import tensorflow as tf

    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.serve = tf.function(lambda x: {"out": x * module.scale},
                               input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    tf.saved_model.save(module, str(tmp_path / "foreign"))
    code, err = call_main(capsys, f"--saved_model={tmp_path / 'foreign'}")
    assert code == 2 and len(err) == 1
    assert "exported by kcontrast" in err[0]
    code, err = call_main(capsys)
    assert code == 2 and len(err) == 1 and "--saved_model" in err[0]


def test_cli_error_has_no_traceback(tmp_path):
    done = run_module("kcontrast.probe", f"--saved_model={tmp_path / 'missing'}")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"kcontrast.probe: error: Expected a SavedModel directory; Received: "
        f"saved_model={tmp_path / 'missing'} (not a directory)"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real one-epoch RandBit point (pretrain_point, as kcontrast.run runs
    it) with a probe set, and its export by the CLI."""
    from kcontrast import config as cfg
    from kcontrast.pretrain import pretrain_point

    root = tmp_path_factory.mktemp("tiny_run")
    base, _ = cfg.split_meta(cfg.get_experiment_config("randbit"))
    c = base.to_dict()
    c["name"] = "randbit"
    c["data"]["args"]["bits"] = 2
    c["data"]["train_examples"] = 256
    c["optim"].update(epochs=1, batch_size=64)
    c["eval"]["max_probe_examples"] = 300
    c["eval"]["probe_sets"] = (
        {"builder": "randbit", "args": {"base": "mnist5k", "bits": 2, "bit_labels": True},
         "labels": {"bits": "bits_readback"}},)
    point = root / "point"
    metrics, _ = pretrain_point(c, point_dir=str(point), verbose=0)
    path = root / "export"
    done = run_module("kcontrast.export", f"--run={point}", f"--out={path}")
    assert done.returncode == 0, done.stderr[-2000:]
    return str(path), metrics


def test_probe_reproduces_the_runs_metrics_from_the_export_alone(tiny_run, tmp_path, capsys):
    path, metrics = tiny_run
    out = tmp_path / "probe.json"
    assert main(["kcontrast.probe", f"--saved_model={path}", f"--out={out}"]) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    # The recorded dataset and the recorded probe set, under the run's names.
    for name in ("linear/label", "knn/label", "linear/bits_readback", "knn/bits_readback",
                 "map/bits_readback", "chance_map/bits_readback"):
        assert record["metrics"][name] == pytest.approx(metrics[name], abs=0.005), name
    assert record["headline"] == ["linear/label"]
    assert [s["num_train"] for s in record["probe_sets"]] == [300]
    assert f"headline: linear/label={record['metrics']['linear/label']:.4f}" in printed
    assert "computed 7 metrics: linear/label=" in printed
    assert "map/bits_readback=" in printed
    assert "linear probe bits_readback (= bits, " in printed


def test_probe_refuses_an_existing_output_unless_overwrite(tiny_run, capsys):
    path, _ = tiny_run
    out = os.path.join(path, "probes", "randbit-representation.json")
    args = [f"--saved_model={path}", "--label=label", "--max_examples=200"]
    assert main(["kcontrast.probe", *args]) == 0   # the default --out
    capsys.readouterr()
    before = open(out).read()
    code, err = call_main(capsys, *args, "--max_examples=100")
    assert code == 2 and len(err) == 1
    assert err[0] == ("kcontrast.probe: error: Expected an --out that does not exist "
                      f"(pass --overwrite to replace it); Received: out={out}")
    assert open(out).read() == before
    assert main(["kcontrast.probe", *args, "--max_examples=100", "--overwrite"]) == 0
    assert json.loads(open(out).read())["num_test"] == 100
