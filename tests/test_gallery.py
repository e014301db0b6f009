"""The gallery's tables are rendered from their results.json and cannot drift."""

import json
import os

import pytest

from kcontrast import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RECORD = {
    "experiment": "toy",
    "config": {"figure": {"x": "bits", "lines": "temperature", "y": "linear/label"}},
    "runs": [{"params": {"bits": b, "temperature": t},
              "metrics": {"linear/label": round(1 - b / 40 - t, 4)}}
             for t in (0.1, 0.2) for b in (0, 20)],
}


def _gallery(tmp_path, body):
    """A repository root holding experiments/README.md and one run."""
    run = tmp_path / "experiments" / "results" / "toy"
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(RECORD))
    readme = tmp_path / "experiments" / "README.md"
    readme.write_text(body)
    return readme


def test_committed_gallery_is_what_its_results_render():
    """Every table of experiments/README.md and experiments/results/*/README.md
    is marked, filled, and equal to what its results.json renders now
    (fix with ``python -m kcontrast.report --gallery``)."""
    assert report.gallery_files(ROOT)
    assert report.gallery(ROOT, check=True) == []


def test_a_blank_table_is_filled_and_a_stale_one_detected(tmp_path):
    readme = _gallery(tmp_path, "# toy\n\n<!-- table: results/toy -->\n\n<!-- /table -->\n\nafter\n")
    assert report.gallery(str(tmp_path), check=True) == [str(readme)]
    assert report.gallery(str(tmp_path)) == [str(readme)]
    text = readme.read_text()
    assert "| 0.1 | 0.900 | 0.400 |" in text and text.endswith("<!-- /table -->\n\nafter\n")
    assert report.gallery(str(tmp_path), check=True) == []
    readme.write_text(text.replace("0.400", "0.410"))
    assert report.gallery(str(tmp_path), check=True) == [str(readme)]


def test_an_unmarked_table_is_an_error_unless_declared_hand_written(tmp_path):
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    _gallery(tmp_path, f"text\n\n{table}")
    with pytest.raises(ValueError, match="unmarked tables at lines \\[3\\]"):
        report.gallery(str(tmp_path), check=True)
    _gallery_root = tmp_path / "other"
    _gallery(_gallery_root, f"text\n\n<!-- hand-written table: a paper's numbers -->\n{table}")
    assert report.gallery(str(_gallery_root), check=True) == []


def test_an_empty_table_or_a_missing_metric_is_an_error(tmp_path):
    _gallery(tmp_path, "<!-- table: results/toy metric=knn/label -->\n<!-- /table -->\n")
    with pytest.raises(ValueError, match="README.md: table 'results/toy metric=knn/label'"):
        report.gallery(str(tmp_path), check=True)
    with pytest.raises(ValueError, match="empty table"):
        report._check_filled("| a | b |\n|---|---|\n| 1 |  |\n| 2 | n/a |", "here")


def test_cli_check_exits_1_on_a_difference(tmp_path, capsys):
    readme = _gallery(tmp_path, "<!-- table: results/toy -->\n<!-- /table -->\n")
    before = readme.read_text()
    assert report.main(["report", "--gallery", "--check", str(tmp_path)]) == 1
    assert readme.read_text() == before and "differs" in capsys.readouterr().out
    assert report.main(["report", "--gallery", str(tmp_path)]) == 0
    assert report.main(["report", "--gallery", "--check", str(tmp_path)]) == 0
    assert report.main(["report", "--check", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--check only with --gallery" in err[0]
