"""Bad --strategy input: one line on stderr, exit code 2, nothing written."""

import os
import subprocess
import sys

import pytest

from kcontrast import run

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _assert_one_line(code, err, needle, directory):
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kcontrast.run: error: ")
    assert needle in lines[0]
    assert os.listdir(directory) == []


@pytest.mark.parametrize("args, needle", [
    (["--strategy=nope"], "strategy='nope'"),
    (["--strategy=data_parallel"], "strategy='data_parallel' (a jax strategy)"),
    (["--strategy=tpu"], "Expected a reachable TPU"),
])
def test_bad_strategy_under_tensorflow(tmp_path, monkeypatch, capsys, args, needle):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", "--exp=randbit", "--quick", *args])
    _assert_one_line(code, capsys.readouterr().err, needle, tmp_path)


def _cli(args, cwd, **env):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               **env)
    return subprocess.run([sys.executable, "-m", "kcontrast.run", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("backend, args, env, needle", [
    ("torch", ["--strategy=mirrored"], {},
     "the torch backend supports, one of ['none']"),
    ("jax", ["--strategy=mirrored"], {}, "the jax backend supports, one of ['none', 'data_parallel']"),
    ("jax", ["--strategy=data_parallel", "--batch_size=127"],
     {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"},
     "divisible by the 2 replicas of strategy 'data_parallel' (it is global); "
     "Received: optim.batch_size=127"),
])
def test_bad_strategy_on_other_backends(tmp_path, backend, args, env, needle):
    result = _cli(["--exp=randbit", "--quick", f"--backend={backend}", *args],
                  tmp_path, KERAS_BACKEND=backend, **env)
    _assert_one_line(result.returncode, result.stderr, needle, tmp_path)
