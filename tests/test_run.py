"""The experiment runner as a user runs it: bad input, a quick run and what it
leaves behind, SIGTERM and --resume, and export + probe agreeing with the run."""

import csv
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from kcontrast import run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd, timeout=600, module="kcontrast.run"):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_done_line_fits_the_width_and_counts_what_it_leaves_out():
    metrics = {"online/presence": 0.5, "train_time_s": 3.0, "map/presence4": 0.61,
               **{f"linear/digit_{i}": 0.2 for i in range(20)},
               "linear/single_digit": 0.812}
    figure = {"y": ("linear/single_digit", "map/presence4")}
    line = run.done_line("[2/2] done in 14s (train 6s, eval 7s):", metrics, figure)
    assert len(line) <= 100
    assert line.startswith("[2/2] done in 14s (train 6s, eval 7s): "
                           "linear/single_digit=0.812 map/presence4=0.610 ")
    shown = line.count("=")
    assert line.endswith(f" +{23 - shown} more")
    short = run.done_line("[1/1] done:", {"linear/label": 0.5, "knn/label": 0.25})
    assert short == "[1/1] done: linear/label=0.500 knn/label=0.250"


@pytest.mark.parametrize("args, needle", [
    (["--exp=nope"], "exp='nope'"),
    (["--exp=randbit", "--bits=-1"], "bits"),
    (["--exp=randbit", "--bits=33"], "33"),
    (["--exp=randbit", "--bits=0,x"], "'x'"),
    (["--exp=randbit", "--batch_size=1"], "batch_size=1"),
    (["--exp=randbit", "--batch_size=5000"], "batch_size=5000"),
    (["--exp=randbit", "--temperature=0"], "temperature=0.0"),
    (["--exp=randbit", "--backend=mxnet"], "backend='mxnet'"),
    (["--exp=randbit", "--dataset=imagenet_nope"], "imagenet_nope"),
    (["--exp=randbit", "--loss=nope"], "nope"),
    (["--exp=randbit", "--loss=swd_normal", "--temperature=0.05,0.1"], "swd_normal"),
    (["--exp=randbit", "--preset=huge"], "preset='huge'"),
    (["--exp=randbit", "--no_such_flag=1"], "no_such_flag"),
    (["--exp=randbit", "--config.optim.learnin_rate=1e-3"], "learning_rate"),
    (["--exp=randbit", "--config.optim.epochs=2.5"], "2.5"),
    (["--exp=randbit", "--sweep=model.widht=1,2"], "'model.width'"),
    (["--exp=randbit", "--config.data.augment=nope"], "augment='nope'"),
    (["--exp=randbit", "--config.data.args.bogus=1"], "bogus"),
    (["--exp=randbit", "--config.model.bn_momentum=1.5"], "bn_momentum=1.5"),
    (["--exp=randbit", "--config.model.probe_views=second"], "probe_views='second'"),
    (["--exp=randbit", "--config.model.per_view_forward=maybe"], "per_view_forward"),
    (["--exp=multi_object", "--config.model.pool=max"], "model.pool='max'"),
    (["--exp=multi_object", "--config.model.encoder=small_convnet"], "model.pool"),
    (["--resume=nowhere"], "nowhere"),
    ([], "--exp"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                         args, needle):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kcontrast.run: error: ")
    assert needle in lines[0]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flag", ["--help", "--helpfull"])
def test_help_lists_experiments_and_flags(tmp_path, flag):
    result = _run([flag], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "randbit" in result.stdout and "--config.KEY=VALUE" in result.stdout
    assert "--resume" in result.stdout and "--sweep" in result.stdout
    assert os.listdir(tmp_path) == []


def test_list_names_the_experiments(tmp_path):
    result = _run(["--list"], cwd=tmp_path)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert names == sorted(names) and {"randbit", "multi_object"} <= set(names)


QUICK = ["--exp=randbit", "--quick", "--bits=0,3", "--temperature=0.2",
         "--batch_size=128", "--config.data.train_examples=512",
         "--config.eval.linear.optimizer=lbfgs"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("quick")
    out = root / "run"
    result = _run(QUICK + [f"--out={out}"], cwd=root)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return root, out, result


@pytest.mark.backend
def test_quick_run_results_and_logs(quick_run):
    root, out, result = quick_run
    first = result.stdout.splitlines()[0]
    assert "backend" in first and "device CPU" in first
    assert "[1/2]" in result.stdout and "ETA" in result.stdout and "elapsed" in result.stdout
    assert "linear probe label" in result.stdout and "kNN label" in result.stdout
    lines = result.stdout.splitlines()
    done = [l for l in lines if " done in " in l]
    assert len(done) == 2 and all(len(l) <= 100 for l in done)
    assert done[0].split(": ", 1)[1].startswith("linear/label=")   # the headline first
    # After the paths, the results table, as kcontrast.report --summary prints it.
    after = lines[[i for i, l in enumerate(lines) if l.startswith("wall time:")][0] + 1:]
    assert after[1] == f"results (python -m kcontrast.report {out} --summary):"
    assert after[2].startswith("| bits | temperature | linear/label | knn/label |")
    assert [l.split(" | ")[:2] for l in after[4:6]] == [["| 0", "0.2"], ["| 3", "0.2"]]
    again = _run([str(out), "--summary"], cwd=root, module="kcontrast.report")
    assert again.stdout.splitlines() == after[2:]
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "randbit" and record["complete"] is True
    assert record["config"]["data"]["args"]["base"] == "mnist5k"
    assert record["config"]["eval"]["linear"]["optimizer"] == "lbfgs"
    assert [r["params"] for r in record["runs"]] == [
        {"bits": 0, "temperature": 0.2}, {"bits": 3, "temperature": 0.2}]
    for r in record["runs"]:
        for key in ("linear/label", "online/label", "knn/label"):
            assert 0.0 <= r["metrics"][key] <= 1.0
    with open(out / "results.csv") as f:
        assert [row["bits"] for row in csv.DictReader(f)] == ["0", "3"]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = sorted(os.listdir(out / "points"))
    assert points == ["00-bits=0-temperature=0.2", "01-bits=3-temperature=0.2"]
    point = out / "points" / points[1]
    saved = json.loads((point / "config.json").read_text())
    assert saved["input_shape"] == [28, 28, 4]
    assert saved["config"]["loss"] == {"name": "nt_xent", "temperature": 0.2,
                                       "form": "simclr", "lambda_weight": None,
                                       "scale": None}
    for package in ("keras", "numpy", "kcontrast", saved["backend"]):
        assert saved["versions"][package], package
    assert saved["device"].startswith("CPU")
    epochs = [json.loads(l) for l in (point / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [0]
    assert "contrastive_loss" in epochs[0]
    assert glob.glob(str(point / "tensorboard" / "**" / "events.out.tfevents.*"),
                     recursive=True)
    assert json.loads((point / "metrics.json").read_text()) == record["runs"][1]["metrics"]
    assert not (point / "backup").exists()
    assert not [p for p in os.listdir(root) if "partial" in p]

    again = _run(QUICK + [f"--out={out}"], cwd=root)
    assert again.returncode == 2 and "exists" in again.stderr


@pytest.mark.backend
def test_online_accuracy_is_over_the_whole_test_split(quick_run):
    import keras

    from kcontrast import load_model
    from kcontrast.data import build_dataset

    _, out, _ = quick_run
    record = json.loads((out / "results.json").read_text())
    point = out / "points" / record["runs"][1]["point"]
    model = load_model(str(point / "model.keras"))
    ds = build_dataset("randbit", base="mnist5k", bits=3, seed=0)
    logits = keras.ops.convert_to_numpy(
        model(ds.test.model_inputs(), training=False)["probe_label"])
    expected = float(np.mean(np.argmax(logits, -1) == ds.test.labels["label"]))
    assert record["runs"][1]["metrics"]["online/label"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.backend
def test_probe_of_the_export_reproduces_the_run(quick_run, tmp_path):
    _, out, _ = quick_run
    record = json.loads((out / "results.json").read_text())
    point = out / "points" / record["runs"][1]["point"]
    exported = tmp_path / "export"
    done = _run([f"--run={point}", f"--out={exported}"], cwd=tmp_path,
                module="kcontrast.export")
    assert done.returncode == 0, done.stderr[-2000:]
    probed = _run([f"--saved_model={exported}", f"--out={tmp_path / 'probe.json'}",
                   "--controls"], cwd=tmp_path, module="kcontrast.probe")
    assert probed.returncode == 0, probed.stderr[-2000:]
    record_probe = json.loads((tmp_path / "probe.json").read_text())
    result = record_probe["results"]["label"]
    metrics = record["runs"][1]["metrics"]
    assert result["linear"]["accuracy"] == pytest.approx(metrics["linear/label"], abs=0.005)
    assert result["knn"]["accuracy"] == pytest.approx(metrics["knn/label"], abs=0.005)
    # The export's controls are the run's: the recorded encoder at
    # initialisation and the raw pixels, same rows and protocol.
    for kind, prefix in (("random_init", "control_random"), ("pixels", "control_pixels")):
        control = record_probe["controls"][kind]["label"]
        for probe in ("linear", "knn"):
            assert control[probe]["accuracy"] == pytest.approx(
                metrics[f"{prefix}/{probe}/label"], abs=0.005), (kind, probe)
    assert "random_init control: linear" in probed.stdout


@pytest.mark.backend
def test_companion_preset_quick_run_uses_every_companion_option(tmp_path):
    """``--preset=companion --quick`` (one point) trains with the companion
    loss form, per-view forward passes, BatchNorm momentum 0.99 and the
    probe on view 1, and records them."""
    import keras

    from kcontrast import load_model

    out = tmp_path / "run"
    result = _run(["--exp=randbit", "--preset=companion", "--quick", "--bits=20",
                   f"--out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    config = record["config"]
    assert config["loss"]["form"] == "companion"
    assert config["optim"]["batch_size"] == 1000
    assert config["optim"]["learning_rate"] == 1e-3
    assert config["model"]["bn_momentum"] == 0.99
    assert config["model"]["per_view_forward"] is True
    assert config["model"]["probe_views"] == "first"
    [run_] = record["runs"]
    assert run_["params"] == {"bits": 20, "temperature": 0.2}
    for key in ("linear/label", "online/label", "knn/label"):
        assert 0.0 <= run_["metrics"][key] <= 1.0
    model = load_model(str(out / "points" / run_["point"] / "model.keras"))
    assert model.per_view_forward is True and model.probe_views == "first"
    assert model.contrastive_loss.form == "companion"
    momenta = {l.momentum for m in (model.encoder, model.head) for l in m.layers
               if isinstance(l, keras.layers.BatchNormalization)}
    assert momenta == {0.99}


def _wait_for(predicate, process, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


@pytest.mark.backend
def test_sigterm_keeps_finished_points_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    partial = tmp_path / "run.partial"
    args = ["--exp=randbit", "--bits=0,2", "--temperature=0.2", "--epochs=12",
            "--batch_size=128", "--config.data.train_examples=512",
            "--config.eval.linear.optimizer=lbfgs", "--nosave_models", f"--out={out}"]
    env = dict(os.environ, PYTHONPATH=REPO)
    process = subprocess.Popen([sys.executable, "-m", "kcontrast.run", *args], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    second = partial / "points" / "01-bits=2-temperature=0.2"

    def second_point_trained_two_epochs():
        log = second / "metrics.jsonl"
        return log.exists() and len(log.read_text().splitlines()) >= 2

    reached = _wait_for(second_point_trained_two_epochs, process)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert reached, stdout[-2000:] + stderr[-2000:]
    assert process.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert f"--resume={partial}" in stderr
    assert (partial / "points" / "00-bits=0-temperature=0.2" / "metrics.json").exists()
    assert not (second / "metrics.json").exists()
    assert (second / "backup").is_dir()
    partial_record = json.loads((partial / "results.json").read_text())
    assert partial_record["complete"] is False and len(partial_record["runs"]) == 1

    changed = _run([f"--resume={partial}", "--epochs=5"], cwd=tmp_path)
    assert changed.returncode == 2 and "optim.epochs" in changed.stderr

    resumed = _run([f"--resume={partial}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "finished earlier, kept" in resumed.stdout and "(resuming)" in resumed.stdout
    # BackupAndRestore restarts after the last finished epoch: the resumed
    # process never trains epoch 1 of the second point again.
    assert "Epoch 1/12" not in resumed.stdout
    assert not partial.exists()
    record = json.loads((out / "results.json").read_text())
    assert record["complete"] is True and len(record["runs"]) == 2
    epochs = [json.loads(l)["epoch"] for l in
              (out / "points" / "01-bits=2-temperature=0.2" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(12))
    assert set(record) >= {"experiment", "config", "runs", "backend", "wall_time_s",
                           "command", "machine", "versions", "device"}


@pytest.mark.backend
@pytest.mark.slow
def test_multi_object_quick_run(tmp_path):
    """The main job's smoke size: both probe sets, presence mAP with its
    chance level, local-feature scores and figure, on every backend."""
    out = tmp_path / "run"
    result = _run(["--exp=multi_object", "--quick", f"--out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert [r["params"] for r in record["runs"]] == [
        {"num_digits": 1, "seed": 0}, {"num_digits": 4, "seed": 0}]
    four = record["runs"][1]["metrics"]
    for key in ("linear/single_digit", "knn/single_digit", "map/presence4",
                "chance_map/presence4", "f1/presence4", "online/presence",
                "local_ari/pixels", "local_ari/stage3", "local_fg_ari/stage3"):
        assert 0.0 <= four[key] <= 1.0, key
    assert 0.2 < four["chance_map/presence4"] < 0.5   # ~4 of 10 classes present
    # The model-free references at each stage's resolution: a finer grid
    # allows more (the masks reduced to the grid score higher).
    ceilings = [four[f"local_ari_ceiling/stage{i}"] for i in (1, 2, 3)]
    assert 1.0 > ceilings[0] > ceilings[1] > ceilings[2] > 0.0
    assert 0.0 <= four["local_ari_pixels_at/stage1"] <= 1.0
    point = out / "points" / record["runs"][1]["point"]
    assert (point / "local_features.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The probe sets' lines name the metric each label is reported under.
    assert "linear probe single_digit (= digit_0, " in result.stdout
    assert "kNN presence4 (= presence, " in result.stdout
    done = [l for l in result.stdout.splitlines() if " done in " in l]
    assert all(len(l) <= 100 for l in done)
    assert done[1].split(": ", 1)[1].startswith("linear/single_digit=")
    table = result.stdout.split("--summary):\n", 1)[1].splitlines()
    assert table[0].startswith("| num_digits | linear/single_digit | map/presence4 |")
    assert (out / "figure.png").exists()


@pytest.mark.backend
def test_quick_run_has_controls_once_per_dataset_and_dynamics(quick_run):
    _, out, result = quick_run
    record = json.loads((out / "results.json").read_text())
    for r in record["runs"]:
        m = r["metrics"]
        for key in ("control_random/linear/label", "control_random/knn/label",
                    "control_pixels/linear/label", "control_pixels/knn/label"):
            assert 0.0 <= m[key] <= 1.0, key
        assert m["trained_minus_random/linear/label"] == pytest.approx(
            m["linear/label"] - m["control_random/linear/label"])
    # bits 0 and 3 are two datasets: each control once per dataset.
    assert len(os.listdir(out / "controls")) == 4
    assert (out / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "dynamics:" in result.stdout
