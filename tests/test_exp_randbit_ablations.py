"""``--exp=randbit_ablations`` as a user runs it: the bits read-back probe in
the quick run, what each ablation preset sweeps, and bad input."""

import json
import os

import pytest

from kcontrast import run

@pytest.mark.backend
@pytest.mark.slow
def test_quick_run_reads_the_bits_back(run_cli, tmp_path):
    out = tmp_path / "run"
    result = run_cli(["--exp=randbit_ablations", "--quick", "--nosave_models", f"--out={out}"],
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


@pytest.mark.parametrize("preset, key, values", [
    ("default", "seed", [0, 1, 2]),
    ("batch", "batch_size", [128, 256, 1000]),
    ("width", "width", [1, 2, 4]),
    ("loss", "name", ["nt_xent", "decoupled_nt_xent", "swd_normal"]),
])
def test_presets_sweep_their_ablation_against_bits(tmp_path, monkeypatch, preset, key, values):
    """What each preset would train, checked without training (the quick run
    above covers the training path; the presets change only config keys)."""
    monkeypatch.chdir(tmp_path)
    plan = run.prepare(["kcontrast.run", "--exp=randbit_ablations", f"--preset={preset}",
                        f"--out={tmp_path / 'never'}"])
    points = [run.cfg.short(p) for p in plan["points"]]
    bits = [0, 5, 10, 15, 20] if preset == "default" else [0, 10, 20]
    assert sorted({p[key] for p in points}) == sorted(values)
    assert sorted({p["bits"] for p in points}) == bits
    assert len(points) == len(values) * len(bits)
    for config in plan["configs"]:
        assert config["data"]["args"]["bit_labels"] is True
        assert config["optim"]["epochs"] == 20
    if preset == "loss":   # each loss with the paper's constants
        losses = {c["loss"]["name"]: c["loss"] for c in plan["configs"]}
        assert losses["nt_xent"]["temperature"] == 0.2
        assert (losses["decoupled_nt_xent"]["temperature"],
                losses["decoupled_nt_xent"]["lambda_weight"]) == (1.0, 0.1)
        assert losses["swd_normal"]["lambda_weight"] == 5.0
    if preset != "default":
        assert plan["meta"]["figure"]["lines"] == key
    assert os.listdir(tmp_path) == []


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
