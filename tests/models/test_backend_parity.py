"""With identical weights and an identical batch, one train step gives the
same losses on TensorFlow, JAX and PyTorch (each backend in its own process)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = r"""
import json, sys
import numpy as np
import keras
from kcontrast.losses import NTXent
from kcontrast.models import ContrastiveModel, projection_head, small_convnet

weights, batch = sys.argv[1], np.load(sys.argv[2])
model = ContrastiveModel(small_convnet((28, 28, 3)), projection_head(128),
                         loss=NTXent(temperature=0.1), probes={"label": 10})
if sys.argv[3] == "save":
    model.save_weights(weights)
model.load_weights(weights)
model.compile(optimizer=keras.optimizers.SGD(0.01))
views = {"view1": batch["view1"], "view2": batch["view2"]}
first = model.train_on_batch(views, {"label": batch["label"]}, return_dict=True)
second = model.train_on_batch(views, {"label": batch["label"]}, return_dict=True)
print("RESULT " + json.dumps({"first": {k: float(v) for k, v in first.items()},
                              "second_loss": float(second["loss"])}))
"""


def _step(backend, weights, batch, mode):
    env = dict(os.environ, KERAS_BACKEND=backend)
    result = subprocess.run([sys.executable, "-c", SCRIPT, weights, batch, mode],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_train_step_losses_agree_across_backends(tmp_path):
    rng = np.random.default_rng(0)
    batch = tmp_path / "batch.npz"
    np.savez(batch, view1=rng.random((32, 28, 28, 3), dtype=np.float32),
             view2=rng.random((32, 28, 28, 3), dtype=np.float32),
             label=rng.integers(0, 10, 32).astype("int32"))
    weights = str(tmp_path / "shared.weights.h5")
    results = {"tensorflow": _step("tensorflow", weights, str(batch), "save")}
    for backend in ("jax", "torch"):
        results[backend] = _step(backend, weights, str(batch), "load")
    ref = results["tensorflow"]
    for backend in ("jax", "torch"):
        got = results[backend]
        for key, value in ref["first"].items():
            assert got["first"][key] == pytest.approx(value, abs=1e-4), (backend, key)
        # the update itself agrees too: the loss after one SGD step
        assert got["second_loss"] == pytest.approx(ref["second_loss"], rel=1e-3), backend
