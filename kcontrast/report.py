"""Markdown tables from a run's ``results.json``.

``python -m kcontrast.report DIR_OR_JSON [--metric=linear/label]`` prints the
metric as a table: rows are the figure's line key (e.g. temperature), columns
its x key (e.g. bits), as declared in the experiment's ``figure`` config;
with no figure config, one row per run.
"""

import json
import os
import sys

from absl import flags

from kcontrast.cli import parse_flags

FLAGS = flags.FlagValues()
flags.DEFINE_string("metric", None, "Metric to tabulate (default: the figure's y).", flag_values=FLAGS)


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path) as f:
        return json.load(f)


def _fmt(value):
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def table(record, metric=None):
    """Returns a markdown table of ``metric`` over the runs of ``record``."""
    figure = record["config"].get("figure") or {}
    metric = metric or figure.get("y")
    runs = record["runs"]
    if not runs:
        raise ValueError("Expected at least one run; Received: runs=[]")
    if metric is None or any(metric not in r["metrics"] for r in runs):
        known = sorted(runs[0]["metrics"])
        raise ValueError(f"Expected --metric in {known}; Received: metric={metric!r}")
    x, rows_key = figure.get("x"), figure.get("lines")
    params = runs[0]["params"]
    if x in params and rows_key in params:
        xs = sorted({r["params"][x] for r in runs})
        ys = sorted({r["params"][rows_key] for r in runs})
        cell = {(r["params"][rows_key], r["params"][x]): r["metrics"][metric] for r in runs}
        lines = [f"| {metric}: {rows_key} \\ {x} | " + " | ".join(map(str, xs)) + " |",
                 "|---" * (len(xs) + 1) + "|"]
        for y in ys:
            lines.append(f"| {y} | " + " | ".join(
                _fmt(cell[(y, v)]) if (y, v) in cell else "" for v in xs) + " |")
        return "\n".join(lines)
    keys = sorted(params)
    lines = ["| " + " | ".join(keys + [metric]) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in runs:
        lines.append("| " + " | ".join([_fmt(r["params"][k]) for k in keys]
                                       + [_fmt(r["metrics"][metric])]) + " |")
    return "\n".join(lines)


def main(argv=None):
    """The CLI: `--help`; one line on stderr and exit code 2 on a bad request."""
    rest = parse_flags(FLAGS, sys.argv if argv is None else argv, "kcontrast.report", __doc__)
    try:
        if len(rest) != 1:
            raise ValueError(f"Expected one results path; Received: {rest}")
        print(table(load(rest[0]), FLAGS.metric))
    except (ValueError, OSError) as e:
        print(f"kcontrast.report: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
