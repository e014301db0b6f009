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
