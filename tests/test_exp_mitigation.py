"""``python -m kcontrast.run --exp=mitigation --quick`` on every backend: both
builders through the named conditions, IFM and the hybrid reconstruction
objective trained by fit, throughput recorded, table and figure written."""

import json

import pytest

from kcontrast import report

@pytest.mark.backend
@pytest.mark.slow
def test_mitigation_quick_run(run_cli, tmp_path, fashion_mnist_dir):
    out = tmp_path / "run"
    result = run_cli(["--exp=mitigation", "--quick", "--nosave_models", f"--out={out}",
                      f"--data_dir={fashion_mnist_dir}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    assert record["complete"] is True
    params = [r["params"] for r in record["runs"]]
    assert params == [{"condition": c, "method": "hybrid", "seed": 0}
                      for c in ("bits_05", "digits_100")]
    for run in record["runs"]:
        metrics = run["metrics"]
        labels = ("label",) if run["params"]["condition"].startswith("bits") \
            else ("object", "digit")
        for label in labels:
            assert 0.0 <= metrics[f"linear/{label}"] <= 1.0
        assert metrics["train_images_per_s"] > 0
        point = out / "points" / run["point"]
        saved = json.loads((point / "config.json").read_text())
        config = saved["config"]
        epochs = [json.loads(l) for l in (point / "metrics.jsonl").read_text().splitlines()]
        # the hybrid objective with IFM (quick sets loss.ifm_epsilon=0.1)
        assert config["model"]["objective"] == "hybrid"
        assert config["model"]["recon_weight"] == 10.0
        assert config["loss"]["ifm_epsilon"] == 0.1
        assert config["loss"]["ifm_weight"] == 0.5
        assert epochs[-1]["recon_loss"] > 0 and epochs[-1]["contrastive_loss"] > 0
        if run["params"]["condition"] == "bits_05":
            assert config["data"]["builder"] == "randbit"
            assert saved["input_shape"] == [28, 28, 6]
        else:
            assert config["data"]["builder"] == "digit_on_image"
            assert config["data"]["args"]["num_unique_digits"] == 100
            assert saved["input_shape"] == [32, 32, 1]
    assert (out / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = report.table(record, "linear/object")
    assert "method \\ condition" in table and "digits_100" in table
    speed = report.table(record, "train_images_per_s")
    assert "hybrid" in speed
