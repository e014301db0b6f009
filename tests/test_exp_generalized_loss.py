"""``--exp=generalized_loss`` as a user runs it: the quick sweep's results
(schema, the spread across losses per head depth, the figure) on every
backend, and bad input refused before anything is written."""

import json
import os

import pytest

@pytest.mark.backend
@pytest.mark.slow
def test_quick_run(run_cli, tmp_path, fashion_mnist_dir):
    out = tmp_path / "run"
    result = run_cli(["--exp=generalized_loss", "--quick", f"--out={out}",
                      f"--data_dir={fashion_mnist_dir}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    # The quick size caps the test split (data.test_examples) too.
    assert "features of 512 train / 1000 test images" in result.stdout
    record = json.loads((out / "results.json").read_text())
    assert record["experiment"] == "generalized_loss" and record["complete"] is True
    assert record["config"]["data"]["args"]["base"] == "fashion_mnist"
    assert [r["params"] for r in record["runs"]] == [
        {"name": loss, "head_depth": depth, "seed": 0}
        for loss in ("nt_xent", "swd_normal") for depth in (0, 2)]
    for run in record["runs"]:
        for key in ("linear/label", "knn/label", "online/label"):
            assert 0.0 <= run["metrics"][key] <= 1.0, key
        # Each point trained its own loss with that loss's constants.
        point = json.loads((out / "points" / run["point"] / "config.json").read_text())
        loss = point["config"]["loss"]
        assert loss["name"] == run["params"]["name"]
        assert (loss["temperature"], loss["lambda_weight"]) == (
            (0.2, None) if loss["name"] == "nt_xent" else (None, 5.0))
        assert point["config"]["model"]["head_depth"] == run["params"]["head_depth"]
    spread = record["summary"]["spread"]
    assert (spread["metric"], spread["across"], spread["by"]) == (
        "linear/label", "name", "head_depth")
    for row in spread["rows"]:
        accs = [r["metrics"]["linear/label"] for r in record["runs"]
                if r["params"]["head_depth"] == row["head_depth"]]
        assert row["mean"] == pytest.approx(max(accs) - min(accs))
    assert [row["head_depth"] for row in spread["rows"]] == [0, 2]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, needle", [
    (["--temperature=0.1"], "swd_normal"),          # the SWD losses take no temperature
    (["--loss=nope"], "nope"),
    (["--sweep=model.head_depth=-1"], "model.head_depth"),
])
def test_bad_input_is_one_line_and_writes_nothing(run_cli, tmp_path, fashion_mnist_dir,
                                                  args, needle):
    out = tmp_path / "run"
    result = run_cli(["--exp=generalized_loss", f"--out={out}",
                      f"--data_dir={fashion_mnist_dir}", *args], cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and needle in err[0], result.stderr
    assert os.listdir(tmp_path) == []
