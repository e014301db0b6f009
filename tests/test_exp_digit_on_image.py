"""``--exp=digit_on_image`` as a user runs it: its quick run (results.json
schema, both probes, the held-out digit probe set, the figure with its
trade-off panel) and bad input."""

import json
import os
import struct

import pytest

from kcontrast import run

@pytest.mark.backend
@pytest.mark.slow
def test_quick_run_probes_object_and_heldout_digit(run_cli, tmp_path, fashion_mnist_dir):
    out = tmp_path / "run"
    result = run_cli(["--exp=digit_on_image", "--quick", "--nosave_models", f"--out={out}",
                      f"--data_dir={fashion_mnist_dir}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "digit_on_image" and record["complete"] is True
    args = record["config"]["data"]["args"]
    assert args["objects"] == "fashion_mnist" and args["redraw"] is True
    assert [r["params"] for r in record["runs"]] == [
        {"num_unique_digits": 1, "temperature": 0.1, "seed": 0},
        {"num_unique_digits": 4000, "temperature": 0.1, "seed": 0}]
    for r in record["runs"]:
        for label in ("object", "digit"):
            for kind in ("linear", "knn", "online"):
                assert 0.0 <= r["metrics"][f"{kind}/{label}"] <= 1.0, (kind, label)
        for kind in ("linear", "knn"):
            assert 0.0 <= r["metrics"][f"{kind}/digit_heldout"] <= 1.0
    # A pool of one digit: the pretraining set's train digits are one class,
    # so its own digit probe can only predict that class (chance on 10).
    assert record["runs"][0]["metrics"]["linear/digit"] < 0.2
    # Each point probes its own pool; the probe set holds every train digit.
    for r in record["runs"]:
        saved = json.loads((out / "points" / r["point"] / "config.json").read_text())
        assert saved["dataset"]["config"]["num_unique_digits"] == r["params"]["num_unique_digits"]
        assert saved["config"]["eval"]["probe_sets"][0]["args"]["num_unique_digits"] == 4000
    png = (out / "figure.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, _ = struct.unpack(">II", png[16:24])
    assert width == 3 * 5 * 120   # object, digit and trade-off panels


@pytest.mark.parametrize("args, needle", [
    (["--sweep=data.args.num_unique_digits=0"], "num_unique_digits=0"),
    (["--sweep=data.args.num_unique_digits=4001"], "num_unique_digits=4001"),
    (["--config.data.args.geometry=paper"], "geometry='paper'"),
    (["--config.data.args.redraw=maybe"], "redraw"),
    (["--config.data.args.digit_size=20"], "digit_size=20"),
    (["--temperature=0"], "temperature=0.0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, monkeypatch, capsys,
                                                         fashion_mnist_dir, args, needle):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", "--exp=digit_on_image", "--quick",
                     f"--data_dir={fashion_mnist_dir}", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("kcontrast.run: error: "), err
    assert needle in lines[0]
    assert os.listdir(tmp_path) == []
