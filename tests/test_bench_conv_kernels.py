"""bench/conv_kernels.py: every backend's convolutions run and are reported
(no timing asserts), and bad flags are usage errors."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "conv_kernels.py")


def test_json_line_names_every_backend_and_layer(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, SCRIPT, "--batch=4", "--repeats=1", "--json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    layers = ("28x28x6->32", "13x13x32->64", "6x6x64->64", "total")
    assert set(result) == {f"{b}_{l}" for b in ("tensorflow", "jax", "torch") for l in layers}
    for backend in ("tensorflow", "jax", "torch"):
        parts = sum(result[f"{backend}_{l}"] for l in layers[:-1])
        assert abs(parts - result[f"{backend}_total"]) < 0.05 and parts > 0


def test_bad_batch_is_a_usage_error():
    done = subprocess.run([sys.executable, SCRIPT, "--batch=0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "'0'" in done.stderr
