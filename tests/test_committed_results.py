"""The committed results under experiments/results: every run directory has
its README, figure and tables, and kcontrast.report renders each of them
(the gallery's tables are printed by that command)."""

import glob
import json
import os

import pytest

from kcontrast import report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = sorted(os.path.dirname(p) for p in glob.glob(
    os.path.join(ROOT, "experiments", "results", "**", "results.json"), recursive=True))


def test_there_are_committed_runs():
    names = {os.path.relpath(r, os.path.join(ROOT, "experiments", "results")) for r in RUNS}
    assert {"randbit", "randbit/companion", "multi_object", "generalized_loss"} <= names


@pytest.mark.parametrize("run", RUNS, ids=lambda r: os.path.relpath(r, ROOT))
def test_each_run_has_its_files_and_renders(run):
    for name in ("results.csv", "figure.png"):
        assert os.path.getsize(os.path.join(run, name)) > 0, name
    # A README here or, for a preset's sub-run, in the experiment's directory.
    assert (os.path.exists(os.path.join(run, "README.md"))
            or os.path.exists(os.path.join(os.path.dirname(run), "README.md")))
    record = report.load(run)
    assert record["runs"] and all("params" in r and "metrics" in r for r in record["runs"])
    with open(os.path.join(run, "results.json")) as f:
        raw = json.load(f)
    # Each run says what produced it: the command, the commit, the machine.
    assert raw["command"].startswith("python -m kcontrast.run --exp=")
    # (A "-dirty" commit ran with uncommitted changes; its README says which.)
    commit = raw["versions"]["git_commit"].removesuffix("-dirty")
    assert len(commit) == 40 and raw["machine"] and raw["complete"]
    assert not raw["quick"]
    metric = raw["figure"]["y"]
    metrics = [metric] if isinstance(metric, str) else list(metric)
    text = report.table(record, metrics[0])
    assert text.startswith("| ") and "nan" not in text
