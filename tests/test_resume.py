"""``--deterministic`` on real runs: two runs of one command give the same
metrics to the bit, and so does a run stopped by SIGTERM in its second epoch
or in its evaluation and resumed with ``--resume``.

The SIGTERM is sent when the run's own output shows the moment (Keras'
"Epoch 2/3" line at the start of the second epoch; the point's "features of"
line at the start of its evaluation), never after a fixed sleep."""

import json
import os
import signal
import subprocess
import sys
import threading

import pytest

from kcontrast import pretrain, run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = ["--exp=randbit", "--bits=0", "--temperature=0.2", "--epochs=3",
        "--batch_size=128", "--config.data.train_examples=2048",
        "--config.eval.linear.optimizer=lbfgs", "--nosave_models", "--deterministic"]
POINT = "00-bits=0-temperature=0.2"
# Wall-clock figures, the only metrics that may differ between runs.
TIMES = ("train_time_s", "train_images_per_s", "eval_time_s", "controls_time_s")


def _env():
    return dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
                PYTHONUNBUFFERED="1")


def _run(args, cwd, timeout=600):
    return subprocess.run([sys.executable, "-m", "kcontrast.run", *args], cwd=cwd,
                          env=_env(), capture_output=True, text=True, timeout=timeout)


def _interrupt(args, cwd, when, timeout=600):
    """Runs ``kcontrast.run`` and sends SIGTERM once, at the first output
    line for which ``when(line)`` is true. Returns ``(returncode, output)``."""
    process = subprocess.Popen([sys.executable, "-m", "kcontrast.run", *args], cwd=cwd,
                               env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    lines, sent = [], False
    try:
        for line in process.stdout:
            lines.append(line)
            if not sent and when(line):
                process.send_signal(signal.SIGTERM)
                sent = True
        process.wait()
    finally:
        timer.cancel()
    assert sent, "".join(lines)[-3000:]
    return process.returncode, "".join(lines)


def _metrics(out):
    record = json.loads((out / "results.json").read_text())
    assert record["complete"] is True
    (point,) = record["runs"]
    return {k: v for k, v in point["metrics"].items() if k not in TIMES}


def _epochs(out):
    """The per-epoch training logs, without their timings."""
    lines = (out / "points" / POINT / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(l).items() if k != "time_s"} for l in lines]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted deterministic run: ``(metrics, epoch logs)``."""
    cwd = tmp_path_factory.mktemp("reference")
    result = _run(ARGS + [f"--out={cwd / 'run'}"], cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "deterministic" in result.stdout.splitlines()[0]
    config = json.loads((cwd / "run" / "points" / POINT / "config.json").read_text())
    assert config["deterministic"] is True
    return _metrics(cwd / "run"), _epochs(cwd / "run")


@pytest.mark.backend
@pytest.mark.slow
def test_two_runs_give_identical_metrics(reference, tmp_path):
    result = _run(ARGS + [f"--out={tmp_path / 'run'}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert _epochs(tmp_path / "run") == reference[1]
    assert _metrics(tmp_path / "run") == reference[0]


@pytest.mark.backend
@pytest.mark.slow
@pytest.mark.parametrize("moment", ["second_epoch", "evaluation"])
def test_resumed_run_gives_identical_metrics(reference, tmp_path, moment):
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    point = partial / "points" / POINT
    if moment == "second_epoch":
        when = lambda line: line.startswith("Epoch 2/3")  # noqa: E731
    else:
        when = lambda line: "features of" in line  # noqa: E731
    code, output = _interrupt(ARGS + [f"--out={out}"], tmp_path, when)
    assert code == 128 + signal.SIGTERM, output[-3000:]
    assert not (point / "metrics.json").exists()
    # Stopped where it was meant to: after one epoch, or after all three.
    assert pretrain.finished_epochs(str(point)) == (1 if moment == "second_epoch" else 3)

    # The mode is part of the resumed run: switching it off is refused.
    switched = _run([f"--resume={partial}", "--nodeterministic"], cwd=tmp_path)
    assert switched.returncode == 2 and "deterministic" in switched.stderr, switched.stderr

    resumed = _run([f"--resume={partial}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "(resuming)" in resumed.stdout
    assert ("Epoch 1/3" in resumed.stdout) is False
    assert _epochs(out) == reference[1]
    assert _metrics(out) == reference[0]


@pytest.mark.backend
@pytest.mark.slow
def test_resumed_run_with_the_augmentation_in_the_step_gives_identical_metrics(tmp_path):
    """``data.augment_in=model``: the crops come from the model's
    SeedGenerator, whose state is restored from the backup with the weights."""
    args = ARGS + ["--config.data.augment_in=model"]
    ref = _run(args + [f"--out={tmp_path / 'ref'}"], cwd=tmp_path)
    assert ref.returncode == 0, ref.stdout[-2000:] + ref.stderr[-3000:]
    out, partial = tmp_path / "run", tmp_path / "run.partial"
    code, output = _interrupt(args + [f"--out={out}"], tmp_path,
                              lambda line: line.startswith("Epoch 2/3"))
    assert code == 128 + signal.SIGTERM, output[-3000:]
    resumed = _run([f"--resume={partial}"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "Epoch 1/3" not in resumed.stdout
    assert _epochs(out) == _epochs(tmp_path / "ref")
    assert _metrics(out) == _metrics(tmp_path / "ref")


def test_deterministic_env_keeps_other_xla_flags_and_sets_each_variable_once():
    env = run.deterministic_env({"XLA_FLAGS": "--xla_cpu_foo=1"})
    assert env["XLA_FLAGS"] == f"--xla_cpu_foo=1 {pretrain.XLA_DETERMINISTIC}"
    assert run.deterministic_env(dict(env))["XLA_FLAGS"] == env["XLA_FLAGS"]
    assert env["TF_NUM_INTEROP_THREADS"] == "1"
    assert env["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert run.XLA_DETERMINISTIC == pretrain.XLA_DETERMINISTIC
