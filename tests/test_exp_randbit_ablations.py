"""``--exp=randbit_ablations`` as a user runs it: the bits read-back probe in
the quick run of the default preset and of each ablation preset, and bad
input."""

import json
import os
import subprocess
import sys

import pytest

from kcontrast import run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kcontrast.run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.backend
def test_quick_run_reads_the_bits_back(tmp_path):
    out = tmp_path / "run"
    result = _run(["--exp=randbit_ablations", "--quick", "--nosave_models", f"--out={out}"],
                  cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "randbit_ablations" and record["complete"] is True
    assert record["config"]["data"]["args"]["bit_labels"] is True
    assert [r["params"] for r in record["runs"]] == [{"bits": 0, "seed": 0},
                                                     {"bits": 12, "seed": 0}]
    none, twelve = (r["metrics"] for r in record["runs"])
    for metrics in (none, twelve):
        for kind in ("linear", "knn", "online"):
            assert 0.0 <= metrics[f"{kind}/label"] <= 1.0
    # No bits, nothing to read back; 12 bits: one mean bit accuracy per probe.
    assert not [k for k in none if k.endswith("/bits")]
    for kind in ("linear", "knn", "online"):
        assert 0.0 <= twelve[f"{kind}/bits"] <= 1.0
    # Even one epoch reads the bits, constant input channels, well above
    # chance (0.5): a linear function of h separates them.
    assert twelve["linear/bits"] > 0.6
    saved = json.loads((out / "points" / record["runs"][1]["point"] / "config.json").read_text())
    assert saved["labels"] == {"label": 10, "bits": 12} and saved["multi_label"] == ["bits"]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.backend
@pytest.mark.parametrize("preset, key, values", [
    ("batch", "batch_size", [64, 128]),
    ("width", "width", [1, 2]),
    ("loss", "name", ["nt_xent", "swd_normal"]),
])
def test_ablation_presets_quick_runs(tmp_path, preset, key, values):
    out = tmp_path / "run"
    result = _run(["--exp=randbit_ablations", f"--preset={preset}", "--quick",
                   "--nosave_models", f"--out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["preset"] == preset
    assert [r["params"][key] for r in record["runs"]] == values
    for r in record["runs"]:
        assert r["params"]["bits"] == 12
        for kind in ("linear", "knn", "online"):
            assert 0.0 <= r["metrics"][f"{kind}/label"] <= 1.0
            assert 0.0 <= r["metrics"][f"{kind}/bits"] <= 1.0
    assert record["figure"]["lines"] == key


@pytest.mark.parametrize("args, needle", [
    (["--preset=huge"], "preset='huge'"),
    (["--config.data.args.bit_labels=maybe"], "bit_labels"),
    (["--bits=40"], "40"),
    (["--preset=loss", "--temperature=0.1"], "swd_normal"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                         args, needle):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", "--exp=randbit_ablations", "--quick", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("kcontrast.run: error: "), err
    assert needle in lines[0]
    assert os.listdir(tmp_path) == []
