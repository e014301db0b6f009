"""kcontrast.results.epoch_curves / write_dynamics: the per-epoch accuracies drawn."""

import json

import pytest

from kcontrast import results


def _run_dir(tmp_path):
    runs = []
    for seed, shift in ((0, 0.0), (1, 0.2)):
        for bits in (0, 10):
            name = f"bits={bits}-seed={seed}"
            point = tmp_path / "points" / name
            point.mkdir(parents=True)
            lines = [{"epoch": e, "time_s": 1.0, "contrastive_acc": 0.5 + 0.1 * e,
                      "probe_label_acc": 0.1 + shift + bits / 100, "loss": 3.0}
                     for e in range(3)]
            (point / "metrics.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
            runs.append({"params": {"bits": bits, "seed": seed}, "metrics": {}, "point": name})
    runs.append({"params": {"bits": 20, "seed": 0}, "metrics": {}, "point": "never-ran"})
    return runs


def test_curves_fold_seeds_per_epoch(tmp_path):
    curves = results.epoch_curves(str(tmp_path), _run_dir(tmp_path))
    assert sorted(curves) == ["contrastive_acc", "probe_label_acc"]  # accuracies only
    assert sorted(curves["probe_label_acc"]) == [(("bits", 0),), (("bits", 10),)]
    epoch, mean, sd, n = curves["probe_label_acc"][(("bits", 10),)][2]
    assert (epoch, n) == (2, 2)
    assert mean == pytest.approx(0.3) and sd == pytest.approx(0.2 / 2 ** 0.5)
    assert [p[1] for p in curves["contrastive_acc"][(("bits", 0),)]] == pytest.approx(
        [0.5, 0.6, 0.7])


def test_dynamics_figure_is_a_png_and_nothing_without_logs(tmp_path):
    runs = _run_dir(tmp_path)
    assert results.write_dynamics(str(tmp_path / "dynamics.png"), str(tmp_path), runs)
    assert (tmp_path / "dynamics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = tmp_path / "empty"
    assert not results.write_dynamics(str(empty / "d.png"), str(empty), runs)
    assert not (empty / "d.png").exists()
