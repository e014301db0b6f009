"""``--exp=modified_multidigits`` as a user runs it: the quick sweep's
per-digit probes and figure on every backend, and bad input refused before
anything is written."""

import json
import os

import pytest

@pytest.mark.backend
@pytest.mark.slow
def test_quick_run(run_cli, tmp_path):
    out = tmp_path / "run"
    result = run_cli(["--exp=modified_multidigits", "--quick", f"--out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "modified_multidigits" and record["complete"] is True
    assert [r["params"] for r in record["runs"]] == [
        {"size_a": 20, "seed": 0}, {"size_a": 44, "seed": 0}]
    for run in record["runs"]:
        for digit in ("digit_a", "digit_b"):
            for probe in ("linear", "knn", "online"):
                assert 0.0 <= run["metrics"][f"{probe}/{digit}"] <= 1.0, (probe, digit)
        point = json.loads((out / "points" / run["point"] / "config.json").read_text())
        args = point["dataset"]["config"]
        assert (args["size_a"], args["size_b"]) == (run["params"]["size_a"], 20)
        assert point["config"]["model"]["encoder"] == "small_resnet"
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, needle", [
    # 50 + 20 > 64: the digits would not fit side by side.
    (["--sweep=data.args.size_a=20,50"], "size_a=50"),
    (["--sweep=data.args.size_b=0"], "size_b"),
])
def test_bad_input_is_one_line_and_writes_nothing(run_cli, tmp_path, args, needle):
    out = tmp_path / "run"
    result = run_cli(["--exp=modified_multidigits", f"--out={out}", *args], cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0], result.stderr
    assert os.listdir(tmp_path) == []
