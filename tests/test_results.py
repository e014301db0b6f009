"""results.spread and results.summarize: the numbers an experiment derives
across its points (no training)."""

import pytest

from kcontrast import results


def _runs(table):
    """``{(loss, depth, seed): accuracy}`` -> runs as kcontrast.run writes them."""
    return [{"params": {"name": loss, "head_depth": depth, "seed": seed},
             "metrics": {"linear/label": acc}}
            for (loss, depth, seed), acc in table.items()]


TABLE = {
    # depth 0: the losses differ (ranges 0.30 and 0.20 over seeds 0, 1)
    ("a", 0, 0): 0.50, ("b", 0, 0): 0.80, ("c", 0, 0): 0.60,
    ("a", 0, 1): 0.55, ("b", 0, 1): 0.75, ("c", 0, 1): 0.70,
    # depth 2: alike (ranges 0.02 and 0.04)
    ("a", 2, 0): 0.80, ("b", 2, 0): 0.81, ("c", 2, 0): 0.82,
    ("a", 2, 1): 0.78, ("b", 2, 1): 0.82, ("c", 2, 1): 0.80,
}


def test_spread_is_the_range_across_losses_per_seed_then_mean_sd():
    rows = results.spread(_runs(TABLE), "linear/label", across="name", by="head_depth")
    assert [r["head_depth"] for r in rows] == [0, 2]
    assert rows[0]["per_seed"] == pytest.approx([0.30, 0.20])
    assert rows[0]["mean"] == pytest.approx(0.25) and rows[0]["n"] == 2
    assert rows[0]["sd"] == pytest.approx(0.0707107, abs=1e-6)   # sample sd of 0.3, 0.2
    assert rows[1]["per_seed"] == pytest.approx([0.02, 0.04])


def test_spread_leaves_out_a_seed_that_lacks_a_loss():
    table = dict(TABLE)
    del table[("c", 2, 1)]
    rows = results.spread(_runs(table), "linear/label", across="name", by="head_depth")
    assert rows[1]["per_seed"] == pytest.approx([0.02]) and rows[1]["n"] == 1


def test_spread_without_a_seed_key_is_one_value_per_depth():
    runs = [r for r in _runs(TABLE) if r["params"].pop("seed") == 0]
    rows = results.spread(runs, "linear/label", across="name", by="head_depth")
    assert [r["mean"] for r in rows] == pytest.approx([0.30, 0.02])
    assert [r["sd"] for r in rows] == [0.0, 0.0]


def test_summarize_records_options_and_rows():
    options = {"metric": "linear/label", "across": "name", "by": "head_depth"}
    summary = results.summarize(_runs(TABLE), {"spread": options})
    assert summary["spread"]["metric"] == "linear/label"
    assert len(summary["spread"]["rows"]) == 2
    assert results.summarize(_runs(TABLE), None) == {}
    with pytest.raises(ValueError, match="Expected summary in"):
        results.summarize([], {"nope": {}})
