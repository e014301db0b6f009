"""Strategies on two simulated devices give the one-device results.

``replicas.py`` runs in a subprocess (the simulated devices must exist
before the framework initializes): two logical TensorFlow CPU devices under
``mirrored``, or two JAX host devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``) under
``data_parallel``. A global batch of 2b over 2 replicas is compared with
one device on the same 2b batch, from the same initial weights. The
checkpoint it writes under the strategy is restored here, on one device.

The TensorFlow stage runs the mirrored checks; the JAX stage (marker
``backend``, ``KERAS_BACKEND=jax``) the data_parallel ones; elsewhere the
other backend's test is skipped.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from kcontrast import load_model

# Two subprocesses of a few minutes on a shared 2-core CPU (about 40 s of
# CPU time each).
pytestmark = pytest.mark.slow

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOL = 1e-5
BACKEND = keras.backend.backend()


def _worker(backend, out):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "replicas.py"), backend, str(out)],
        env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    with open(os.path.join(out, "result.json")) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    if BACKEND not in ("tensorflow", "jax"):
        pytest.skip("strategies run on tensorflow and jax")
    out = tmp_path_factory.mktemp(f"replicas_{BACKEND}")
    return out, _worker(BACKEND, out)


def _stage(strategy):
    """Runs a test under the backend that owns ``strategy``."""
    owner = {"mirrored": "tensorflow", "data_parallel": "jax"}[strategy]
    marks = [] if owner == "tensorflow" else [pytest.mark.backend]
    return pytest.param(strategy, marks=marks, id=strategy)


def _skip_other(strategy):
    owner = {"mirrored": "tensorflow", "data_parallel": "jax"}[strategy]
    if BACKEND != owner:
        pytest.skip(f"{strategy} runs under KERAS_BACKEND={owner}")


STRATEGIES = [_stage("mirrored"), _stage("data_parallel")]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_two_replicas(measured, strategy):
    _skip_other(strategy)
    _, result = measured
    assert result["strategy"] == {"name": strategy, "num_replicas": 2}
    if strategy == "data_parallel":
        # Keras splits each input batch along the batch axis over the
        # devices; the jitted step then runs on the global (sharded) batch.
        assert result["data_layout"] == ["batch", None, None, None]


@pytest.mark.parametrize("loss", ["nt_xent", "swd_normal"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_one_step_same_loss_gradients_and_weights(measured, strategy, loss):
    # fit one step of SGD(lr=1) from the same weights: the update is the
    # gradient; every logged metric (loss, contrastive and probe losses and
    # accuracies, reg) and the BatchNorm statistics (synchronized) agree.
    _skip_other(strategy)
    step = measured[1]["losses"][loss]["one_step"]
    assert step["log_keys"] == sorted(step["logs"])
    assert {"loss", "contrastive_loss", "contrastive_acc", "reg_loss",
            "probe_label_loss", "probe_label_acc"} <= set(step["logs"])
    for name, error in step["logs"].items():
        assert error <= TOL, (name, error)
    assert step["gradient_norm"] > 1.0
    assert step["gradients"] <= TOL
    assert step["weights"] <= TOL
    assert step["non_trainable"] <= TOL


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_plain_keras_fit_logs_the_global_batch_loss(measured, strategy):
    # Built, compiled and fit inside strategy.scope() with no other call:
    # the logged contrastive loss is NT-Xent of the whole global batch (on
    # one device, BatchNorm over the whole batch), not the mean of the two
    # replicas' half-batch losses; and fit leaves no synchronized flag.
    _skip_other(strategy)
    logged = measured[1]["logged_loss"]
    assert logged["vs_global"] <= TOL
    assert abs(logged["global"] - logged["per_replica"]) > 1e-2
    assert logged["vs_per_replica"] > 1e-2
    assert logged["batch_norm_released"]


def test_mirrored_loss_without_global_negatives_stops_with_one_line(measured):
    # A plain Keras loss would contrast each replica's shard only: fit
    # refuses it, saying what to use.
    _skip_other("mirrored")
    message = measured[1]["foreign_loss_error"]
    assert message is not None and "\n" not in message
    assert message.startswith("Expected a loss with global negatives")
    assert "Received: loss=MeanSquaredError" in message


@pytest.mark.parametrize("loss", ["nt_xent", "swd_normal"])
def test_mirrored_gradients_taken_directly(measured, loss):
    # The replicas' losses (mean) and gradients (sum, as the optimizer
    # applies them) from tensorflow_step.compute_gradients: equal to one
    # device; unscaled, the sum would be twice the gradient.
    _skip_other("mirrored")
    direct = measured[1]["losses"][loss]["direct"]
    assert direct["loss"] <= TOL
    assert direct["gradients"] <= TOL


def test_mirrored_per_replica_batch_norm_differs(measured):
    # sync_batch_norm=False: each replica normalizes its own b rows, so the
    # step is no longer the one-device step; the option matters.
    _skip_other("mirrored")
    step = measured[1]["per_replica_batch_norm"]
    assert step["gradients"] > 1e-2
    assert step["non_trainable"] > 1e-3


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_few_epochs_follow_one_device(measured, strategy):
    # Three epochs of four steps (SGD, momentum 0.9): the per-epoch logs
    # follow the one-device run and the loss goes down. Looser than one
    # step: over 12 steps float rounding (summation order across replicas,
    # and TensorFlow's one-pass synchronized variance) is amplified by
    # ill-conditioned steps; on this model one device alone differs by
    # ~1e-4 between two processes at such a step.
    _skip_other(strategy)
    few = measured[1]["few_epochs"]
    curve = few["loss_curve"]
    assert len(curve) == 3 and all(np.isfinite(curve))
    assert curve[-1] < curve[0]
    for name, error in few["logs"].items():
        assert error <= 1e-3, (name, error)
    assert few["weights"] <= 1e-2


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_checkpoint_written_under_strategy_restores_on_one_device(measured, strategy):
    _skip_other(strategy)
    out, _ = measured
    saved = np.load(os.path.join(out, "predict.npz"))
    model = load_model(os.path.join(out, "model.keras"))
    restored = model.predict(saved["images"], verbose=0)
    for key in ("representation", "projection", "probe_label"):
        np.testing.assert_allclose(restored[key], saved[key], rtol=TOL, atol=TOL)
    # The weights file too, into a freshly built model.
    fresh = load_model(os.path.join(out, "model.keras"))
    fresh.set_weights([np.zeros_like(w) for w in fresh.get_weights()])
    fresh.load_weights(os.path.join(out, "model.weights.h5"))
    again = fresh.predict(saved["images"], verbose=0)
    np.testing.assert_allclose(again["projection"], saved["projection"],
                               rtol=TOL, atol=TOL)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cli_run_under_strategy(measured, strategy):
    # python -m kcontrast.run --strategy=...: trains on 2 replicas, records
    # the strategy in the point's config.json, and its model loads here.
    _skip_other(strategy)
    cli = measured[1]["cli"]
    assert cli["exit_code"] == 0
    assert cli["strategy"] == {"name": strategy, "num_replicas": 2}
    assert 0.0 <= cli["metrics"]["linear/label"] <= 1.0
    model = load_model(cli["model"])
    images = np.zeros((3, 28, 28, 1), "float32")
    assert model.predict(images, verbose=0)["projection"].shape[0] == 3
