"""The CLI end to end, in subprocesses, as a user runs it."""

import csv
import json
import os
import subprocess
import sys

import pytest


def _run(args, cwd, backend=None, timeout=600):
    env = dict(os.environ)
    if backend:
        env["KERAS_BACKEND"] = backend
    return subprocess.run([sys.executable, "-m", "kcontrast.run", *args],
                          cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, needle", [
    (["--exp=nope"], "exp='nope'"),
    (["--exp=randbit", "--bits=-1"], "bits=-1"),
    (["--exp=randbit", "--bits=33"], "bits=33"),
    (["--exp=randbit", "--bits=0,x"], "bits='x'"),
    (["--exp=randbit", "--batch_size=1"], "batch_size=1"),
    (["--exp=randbit", "--temperature=0"], "temperature=0.0"),
    (["--exp=randbit", "--temperature=-0.1"], "temperature=-0.1"),
    (["--exp=randbit", "--backend=mxnet"], "backend='mxnet'"),
    (["--exp=randbit", "--dataset=imagenet_nope"], "dataset='imagenet_nope'"),
    (["--exp=randbit", "--loss=nope"], "nope"),
    (["--exp=randbit", "--preset=huge"], "preset='huge'"),
    (["--exp=randbit", "--no_such_flag=1"], "no_such_flag"),
    ([], "--exp"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    result = _run(args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert needle in lines[0]
    assert os.listdir(tmp_path) == []


def test_list_names_the_experiments(tmp_path):
    result = _run(["--list"], cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("randbit")


@pytest.mark.backend
def test_quick_run_writes_results_and_never_overwrites(tmp_path):
    out = tmp_path / "run"
    args = ["--exp=randbit", "--quick", "--bits=0,3", "--temperature=0.2",
            "--batch_size=128", f"--out={out}"]
    result = _run(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[2/2]" in result.stdout and str(out / "figure.png") in result.stdout
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "randbit"
    assert record["config"]["dataset"] == "mnist5k"
    assert [r["params"] for r in record["runs"]] == [
        {"bits": 0, "temperature": 0.2}, {"bits": 3, "temperature": 0.2}]
    for run in record["runs"]:
        for key in ("linear/label", "online/label", "knn/label"):
            assert 0.0 <= run["metrics"][key] <= 1.0
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["bits"] for r in rows] == ["0", "3"]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = sorted(os.listdir(out / "points"))
    assert points == ["00-bits=0-temperature=0.2", "01-bits=3-temperature=0.2"]
    saved = json.loads((out / "points" / points[1] / "config.json").read_text())
    assert saved["input_shape"] == [28, 28, 4]
    assert saved["labels"] == {"label": 10}
    assert not [p for p in os.listdir(tmp_path) if "partial" in p]

    again = _run(args, cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr
