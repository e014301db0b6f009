"""bench/throughput.py: its JSON line and its FLOP count (no timing asserts)."""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "bench", "throughput.py")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.backend
def test_json_line_names_every_contender(tmp_path):
    backend = keras.backend.backend()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run(
        [sys.executable, SCRIPT, "--steps=1", "--warmup=1", "--batch_sizes=16,32",
         f"--backends={backend}", "--bits=3", "--precisions=float32,mixed_bfloat16",
         "--held", "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    contenders = {f"{name}{tag}{held}_{batch}"
                  for name in (f"kcontrast_{backend}", f"kcontrast_{backend}_ingraph",
                               "companion")
                  for tag in ("", "_bf16") for held in ("", "_held") for batch in (16, 32)}
    assert set(result) == contenders | {"flops_per_image", "matmul_peak_gflops",
                                        "matmul_peak_bf16_gflops"}
    assert all(value > 0 for value in result.values())


def test_step_flops_counts_the_layers_by_hand():
    bench = _bench()
    n, views = 8, 16
    # bits=0: 28x28x1 -> 13x13x32 -> 6x6x64 -> 2x2x64 -> 128 -> 256 -> 64.
    conv1 = 2 * 13 * 13 * 9 * 1 * 32
    forward = (conv1 + 2 * 6 * 6 * 9 * 32 * 64 + 2 * 2 * 2 * 9 * 64 * 64
               + 2 * 256 * 128 + 2 * 128 * 256 + 2 * 256 * 64)
    backward = 2 * forward - conv1
    probe = 2 * 2 * 128 * 10  # forward + kernel gradient, on both views
    loss = 3 * 2 * views * views * 64
    flops, per_view = bench.step_flops(0, n)
    assert per_view == forward
    assert flops == views * (forward + backward + probe) + loss


def test_bad_backend_is_a_usage_error():
    done = subprocess.run([sys.executable, SCRIPT, "--backends=mxnet"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "mxnet" in done.stderr


def test_bad_precision_is_a_usage_error():
    done = subprocess.run([sys.executable, SCRIPT, "--precisions=float16"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "float16" in done.stderr
