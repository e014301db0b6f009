import json

import pytest

from kcontrast import report

RECORD = {
    "experiment": "toy",
    "config": {"figure": {"x": "bits", "lines": "temperature", "y": "linear/label"}},
    "runs": [
        {"params": {"bits": b, "temperature": t},
         "metrics": {"linear/label": round(1 - b / 40 - t, 4), "knn/label": 0.5}}
        for t in (0.1, 0.2) for b in (0, 20)
    ],
}


def test_pivot_table_has_one_row_per_line_value(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RECORD))
    text = report.table(report.load(str(tmp_path)))
    lines = text.splitlines()
    assert lines[0] == "| linear/label: temperature \\ bits | 0 | 20 |"
    assert lines[2] == "| 0.1 | 0.900 | 0.400 |"
    assert lines[3] == "| 0.2 | 0.800 | 0.300 |"


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"knn/label.*metric='nope'"):
        report.table(RECORD, "nope")


def test_cli_error_is_one_line(tmp_path, capsys):
    assert report.main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kcontrast.report: error:")


SEEDED = {
    "experiment": "toy",
    "config": {},
    "figure": {"x": "bits", "lines": "temperature", "y": "linear/label"},
    "runs": [
        {"params": {"bits": b, "temperature": 0.1, "seed": s},
         "metrics": {"linear/label": 0.5 + 0.1 * s - b / 100}}
        for b in (0, 20) for s in (0, 1, 2)
    ],
}


def test_seeds_give_mean_and_sd():
    lines = report.table(SEEDED).splitlines()
    assert "mean ± sd over 3 seeds" in lines[0]
    # seeds 0, 1, 2 -> 0.5, 0.6, 0.7: mean 0.6, sample sd 0.1.
    assert lines[2] == "| 0.1 | 0.600 ± 0.100 | 0.400 ± 0.100 |"


def test_figure_draws_error_bars_over_seeds(tmp_path):
    from kcontrast import results

    path = tmp_path / "figure.png"
    results.write_figure(str(path), SEEDED["runs"], **SEEDED["figure"])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mean, sd, n = results.aggregate(SEEDED["runs"], "linear/label")[
        (("bits", 20), ("temperature", 0.1))]
    assert (round(mean, 6), round(sd, 6), n) == (0.4, 0.1, 3)


def test_spread_row_under_the_pivot_table():
    from kcontrast import results

    runs = [{"params": {"name": loss, "head_depth": d, "seed": s},
             "metrics": {"linear/label": 0.5 + 0.1 * (loss == "b") * (d == 0) + 0.01 * s}}
            for loss in ("a", "b") for d in (0, 2) for s in (0, 1)]
    options = {"metric": "linear/label", "across": "name", "by": "head_depth"}
    record = {"experiment": "toy", "config": {}, "runs": runs,
              "figure": {"x": "head_depth", "lines": "name", "y": "linear/label"},
              "summary": results.summarize(runs, {"spread": options})}
    lines = report.table(record).splitlines()
    assert lines[-1] == "| spread (max − min over name) | 0.100 ± 0.000 | 0.000 ± 0.000 |"
    # Another metric's table has no spread row.
    record["runs"] = [dict(r, metrics={**r["metrics"], "knn/label": 0.5}) for r in runs]
    assert "spread" not in report.table(record, "knn/label")


def test_pivot_table_shows_only_the_points_with_the_metric():
    """Mixed datasets (mitigation): a label exists only under some x."""
    runs = [{"params": {"condition": c, "method": m},
             "metrics": ({"linear/label": 0.5} if c.startswith("bits")
                         else {"linear/object": 0.7})}
            for c in ("bits_05", "digits_1") for m in ("ifm", "nt_xent")]
    record = {"config": {"figure": {"x": "condition", "lines": "method"}}, "runs": runs}
    lines = report.table(record, "linear/object").splitlines()
    assert lines[0] == "| linear/object: method \\ condition | digits_1 |"
    assert lines[2:] == ["| ifm | 0.700 |", "| nt_xent | 0.700 |"]


def test_figure_is_redrawn_from_results_json(tmp_path, capsys):
    record = dict(RECORD, figure={"x": "bits", "lines": "temperature", "y": "linear/label",
                                  "title": "toy"})
    (tmp_path / "results.json").write_text(json.dumps(record))
    out = tmp_path / "redrawn.png"
    assert report.main(["report", str(tmp_path), f"--figure={out}"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"figure: {out}" in capsys.readouterr().out


def test_figure_without_settings_or_directory_is_one_line(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps(RECORD))   # no "figure" recorded
    assert report.main(["report", str(tmp_path), f"--figure={tmp_path / 'f.png'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "figure settings" in err[0]
    assert not (tmp_path / "f.png").exists()
    record = dict(RECORD, figure={"x": "bits", "y": "linear/label"})
    (tmp_path / "results.json").write_text(json.dumps(record))
    assert report.main(["report", str(tmp_path), "--figure=/no/such/dir/f.png"]) == 2
    assert "existing directory" in capsys.readouterr().err


MULTI = {
    "experiment": "toy",
    "config": {},
    "figure": {"x": "num_digits", "y": ("linear/single_digit", "map/presence4")},
    "runs": [
        {"params": {"num_digits": k, "seed": s},
         "metrics": {"linear/single_digit": 0.9 - 0.1 * k + 0.01 * s,
                     "map/presence4": 0.5 + 0.05 * k, "knn/single_digit": 0.4,
                     "chance_map/presence4": 0.34, "train_time_s": 3.0,
                     **{f"linear/digit_{i}": 0.2 for i in range(12)},
                     **{f"knn/digit_{i}": 0.1 for i in range(12)}}}
        for k in (1, 4) for s in (0, 1, 2)
    ],
}


def test_summary_puts_the_headline_metrics_first_and_fits_100_columns():
    text = report.summary(MULTI)
    lines = text.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:4] == ["num_digits", "linear/single_digit", "map/presence4",
                          "knn/single_digit"]
    assert "chance_map/presence4" not in header and "train_time_s" not in header
    assert max(len(l) for l in lines) <= 100
    # seeds 0, 1, 2 of num_digits=1: 0.80, 0.81, 0.82.
    assert lines[2].startswith("| 1 | 0.810 ± 0.010 | 0.550 ± 0.000 | 0.400 ± 0.000 |")
    shown = len(header) - 1
    assert f"{28 - shown} more probe metrics" in lines[-1]
    # The same table as the report CLI's --summary prints.
    assert report.wide_table(MULTI, header[1:]) in text


def test_summary_cli_and_its_conflict_with_metric(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps(MULTI))
    assert report.main(["report", str(tmp_path), "--summary"]) == 0
    assert capsys.readouterr().out.strip() == report.summary(MULTI)
    assert report.main(["report", str(tmp_path), "--summary", "--metric=knn/digit_0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--summary or --metric" in err[0]


def test_metric_order_without_a_figure_starts_with_linear_probes():
    assert report.metric_order(["online/a", "knn/a", "linear/b", "linear/a", "f1/a"]) == [
        "linear/a", "linear/b", "knn/a", "online/a"]
