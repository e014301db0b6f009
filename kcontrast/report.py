"""Markdown tables from a run's ``results.json``.

Usage::

    python -m kcontrast.report DIR_OR_JSON [--metric=linear/label]
    python -m kcontrast.report DIR_OR_JSON --metric=linear/single_digit,map/presence4
    python -m kcontrast.report DIR_OR_JSON --figure=figure.png   # redraw the figure too
    python -m kcontrast.report DIR_OR_JSON --summary   # what a finished run prints
    python -m kcontrast.report --gallery [--check]   # every gallery table, in place

Prints the metric as a table: rows are the figure's line key (e.g.
temperature), columns its x key (e.g. bits), as the experiment's ``figure``
config declares; with no figure, one row per point. Runs that differ only in
their seed are one cell: ``mean ± sd (n)`` over seeds. Where the run records
a spread of this metric across the row key (``results.spread``), a last row
gives it per column (mean ± sd over seeds of max − min).

``--summary`` prints the table a finished ``kcontrast.run`` prints: one row
per point, the experiment's headline metrics (its figure's ``y``) first, then
their kNN twins and the other probe metrics, as many columns as fit in 100
characters (``summary``); the full metrics stay in ``results.json``.

``--gallery`` re-renders, in place, every table of the gallery
(``experiments/README.md``, ``experiments/results/*/README.md``) written
between ``<!-- table: PATH [metric=NAME] -->`` and ``<!-- /table -->``
(PATH relative to the markdown file); ``--check`` writes nothing and exits 1
when a table differs from what its ``results.json`` renders. A table with
no number, a marker whose results lack the metric, and a table outside any
marker (unless declared ``<!-- hand-written table: why -->``) are errors.
"""

import glob
import json
import os
import re
import shlex
import sys

from absl import flags

from kcontrast.results import SEED, aggregate

PROGRAM = "kcontrast.report"


def define_flags(fv):
    flags.DEFINE_string("metric", None, "Metric to tabulate (default: the figure's y).", flag_values=fv)
    flags.DEFINE_string("figure", None, "Also redraw the run's figure from results.json to this "
                        "PNG path (the run's own figure settings, this version's plotting).",
                        flag_values=fv)
    flags.DEFINE_bool("summary", False, "Print the run's summary table (headline metrics "
                      "first, fitted to 100 columns), as kcontrast.run prints at its end.",
                      flag_values=fv)
    flags.DEFINE_boolean("gallery", False, "Re-render every marked table of experiments/README.md "
                         "and experiments/results/*/README.md from its results.json, in place "
                         "(positional argument: the repository root, default .).", flag_values=fv)
    flags.DEFINE_boolean("check", False, "With --gallery: write nothing; exit 1 when a table "
                         "differs from what its results.json renders.", flag_values=fv)
    return fv


WIDTH = 100
# After the headline metrics, the order in which other metrics are shown.
_PREFIXES = ("linear/", "map/", "knn/", "online/")


def headline_metrics(figure):
    """The headline metrics of an experiment: its figure's ``y`` (a name or a
    tuple of names) as a list; ``[]`` without a figure.

    >>> headline_metrics({"x": "num_digits", "y": ("linear/single_digit", "map/presence4")})
    ['linear/single_digit', 'map/presence4']
    """
    y = (figure or {}).get("y")
    if not y:
        return []
    return [y] if isinstance(y, str) else list(y)


def metric_order(names, headline=()):
    """``names`` (metric names) in display order: the headline metrics first,
    then the kNN twin of each headline ``linear/X`` (``knn/X``), then the
    other ``linear/``, ``map/``, ``knn/`` and ``online/`` metrics; the rest
    (chance levels, F1, local-feature scores, times) are left out.

    >>> metric_order(["knn/label", "online/label", "linear/label", "train_time_s"],
    ...              ["linear/label"])
    ['linear/label', 'knn/label', 'online/label']
    """
    names = list(names)
    order = [m for m in headline if m in names]
    order += [f"knn/{m[len('linear/'):]}" for m in order if m.startswith("linear/")
              and f"knn/{m[len('linear/'):]}" in names]
    for prefix in _PREFIXES:
        order += sorted(m for m in names if m.startswith(prefix) and m not in order)
    return list(dict.fromkeys(order))


def summary(record, width=WIDTH):
    """The table a finished run prints: ``wide_table`` of the headline
    metrics (``headline_metrics`` of the record's figure) and then, in
    ``metric_order``, as many other metrics as keep every line within
    ``width`` characters (the headline metrics are always shown). A last line
    says how many ``<kind>/<label>`` metrics were left out and where they are.

    >>> print(summary(record))  # doctest: +SKIP
    | bits | temperature | linear/label | knn/label | online/label |
    |---|---|---|---|---|
    | 0 | 0.2 | 0.789 | 0.818 | 0.106 |
    """
    runs = record["runs"]
    if not runs:
        raise ValueError("Expected at least one run; Received: runs=[]")
    figure = record.get("figure") or record["config"].get("figure") or {}
    names = {k for r in runs for k, v in r["metrics"].items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    order = metric_order(names, headline_metrics(figure))
    if not order:
        raise ValueError(f"Expected probe metrics in the runs; Received: {sorted(names)}")
    fixed = max(1, len([m for m in headline_metrics(figure) if m in names]))
    shown = order[:fixed]
    for metric in order[fixed:]:
        text = wide_table(record, shown + [metric])
        if max(len(line) for line in text.splitlines()) > width:
            break
        shown.append(metric)
    text = wide_table(record, shown)
    left = len([m for m in names if "/" in m and m not in shown])
    if left:
        text += (f"\n\n{left} more probe metrics per point in results.json "
                 f"(python -m kcontrast.report DIR --metric=NAME).")
    return text


def redraw_figure(record, path):
    """Draws ``record``'s figure (its ``figure`` settings, as the run drew
    it) to ``path`` with this version's ``results.write_figure``; the
    parent directory must exist."""
    from kcontrast import results

    figure = record.get("figure")
    if not figure:
        raise ValueError("Expected a results.json with figure settings; Received: none recorded")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ValueError(f"Expected --figure in an existing directory; Received: {path!r}")
    results.write_figure(path, record["runs"], **figure)


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    if not os.path.exists(path):
        raise ValueError(f"Expected a results.json or a run directory; Received: {path!r} does not exist")
    with open(path) as f:
        return json.load(f)


def _fmt(mean, sd, n):
    if n > 1:
        return f"{mean:.3f} ± {sd:.3f}"
    return f"{mean:.3f}"


def wide_table(record, metrics):
    """One row per point (seeds folded into mean ± sd), one column per metric
    of ``metrics``; ``n/a`` where a point lacks the metric."""
    runs = record["runs"]
    for metric in metrics:
        if not any(metric in r["metrics"] for r in runs):
            known = sorted({k for r in runs for k, v in r["metrics"].items()
                            if not isinstance(v, (list, dict))})
            raise ValueError(f"Expected --metric in {known}; Received: metric={metric!r}")
    cells = {m: aggregate(runs, m) for m in metrics}
    keys = []
    for r in runs:
        key = tuple(sorted((k, v) for k, v in r["params"].items() if k != SEED))
        if key not in keys:
            keys.append(key)
    seeds = max(n for c in cells.values() for _, _, n in c.values())
    names = [k for k, _ in keys[0]] if keys else []
    note = f" (mean ± sd over {seeds} seeds)" if seeds > 1 else ""
    lines = ["| " + " | ".join(names + [m for m in metrics]) + " |",
             "|---" * (len(names) + len(metrics)) + "|"]
    for key in keys:
        row = [str(v) for _, v in key]
        row += [_fmt(*cells[m][key]) if key in cells[m] else "n/a" for m in metrics]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + (f"\n\n{note.strip(' ()').capitalize()}." if note else "")


def table(record, metric=None):
    """A markdown table of ``metric`` over the runs of ``record`` (mean ± sd
    over seeds where a point has several). Several metrics (a list, or
    comma-separated) give one column each (``wide_table``)."""
    figure = record.get("figure") or record["config"].get("figure") or {}
    metric = metric or figure.get("y")
    if isinstance(metric, str) and "," in metric:
        metric = [m.strip() for m in metric.split(",") if m.strip()]
    if isinstance(metric, (list, tuple)):
        return wide_table(record, list(metric))
    runs = record["runs"]
    if not runs:
        raise ValueError("Expected at least one run; Received: runs=[]")
    if metric is None or not any(metric in r["metrics"] for r in runs):
        known = sorted({k for r in runs for k, v in r["metrics"].items()
                        if not isinstance(v, (list, dict))})
        raise ValueError(f"Expected --metric in {known}; Received: metric={metric!r}")
    cells = aggregate(runs, metric)
    seeds = max(n for _, _, n in cells.values())
    note = f" (mean ± sd over {seeds} seeds)" if seeds > 1 else ""
    x, rows_key = figure.get("x"), figure.get("lines")
    params = runs[0]["params"]
    if x in params and rows_key in params:
        # Only the rows and columns of points that have the metric (an
        # experiment mixing datasets has per-dataset labels).
        shown = [dict(key) for key in cells]
        xs = sorted({p[x] for p in shown if x in p})
        ys = sorted({p[rows_key] for p in shown if rows_key in p})
        grid = {}
        for key, value in cells.items():
            p = dict(key)
            grid[(p[rows_key], p[x])] = value
        lines = [f"| {metric}{note}: {rows_key} \\ {x} | " + " | ".join(map(str, xs)) + " |",
                 "|---" * (len(xs) + 1) + "|"]
        for y in ys:
            lines.append(f"| {y} | " + " | ".join(
                _fmt(*grid[(y, v)]) if (y, v) in grid else "" for v in xs) + " |")
        spread = (record.get("summary") or {}).get("spread") or {}
        if (spread.get("metric"), spread.get("across"), spread.get("by")) == (metric, rows_key, x):
            at = {row[x]: row for row in spread["rows"]}
            lines.append(f"| spread (max − min over {rows_key}) | " + " | ".join(
                _fmt(at[v]["mean"], at[v]["sd"], at[v]["n"]) if v in at else "" for v in xs)
                + " |")
        return "\n".join(lines)
    keys = sorted(k for k in params if k != SEED)
    lines = ["| " + " | ".join(keys + [metric + note]) + " |", "|---" * (len(keys) + 1) + "|"]
    for key, value in cells.items():
        p = dict(key)
        lines.append("| " + " | ".join([str(p.get(k, "")) for k in keys] + [_fmt(*value)]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------ gallery
# A gallery table is written between two markers; everything between them
# is what ``table`` renders from the named results (the path is relative to
# the markdown file's folder; ``metric=`` as ``--metric``):
#
#     <!-- table: results/randbit metric=linear/label -->
#     | linear/label (mean ± sd over 3 seeds): temperature \ bits | 0 | ... |
#     <!-- /table -->
#
# A table no results.json renders (a verdict summary, numbers from several
# runs, a paper's table beside ours) is marked as such instead:
#
#     <!-- hand-written table: why -->
GALLERY_FILES = ("experiments/README.md", "experiments/results/*/README.md")
TABLE_MARK = re.compile(r"^<!-- table: (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^<!-- /table -->$",
                        re.M | re.S)
HAND_MARK = "<!-- hand-written table:"


def gallery_files(root="."):
    """The gallery's markdown files under the repository ``root``, sorted."""
    found = []
    for pattern in GALLERY_FILES:
        found += glob.glob(os.path.join(root, pattern))
    return sorted(found)


def parse_spec(spec):
    """``(results path, metric or None)`` from a marker's ``PATH
    [metric=NAME[,NAME...]]``."""
    parts = shlex.split(spec)
    if not parts or any(not p.startswith("metric=") for p in parts[1:]) or len(parts) > 2:
        raise ValueError(f"Expected a table marker 'PATH [metric=NAME]'; Received: {spec!r}")
    return parts[0], (parts[1][len("metric="):] if len(parts) > 1 else None)


def _check_filled(rendered, where):
    """Raises when a rendered table has no number in any data cell."""
    rows = [l for l in rendered.splitlines() if l.startswith("|")][2:]
    cells = [c.strip() for row in rows for c in row.strip("|").split("|")[1:]]
    if not any(re.search(r"\d", c) and c != "n/a" for c in cells):
        raise ValueError(f"Expected a table with numbers; Received: an empty table at {where}")


def render_markdown(text, base, where="markdown"):
    """``text`` with every marked table re-rendered from its results
    (paths relative to ``base``). Raises ValueError naming the marker when
    its results are missing, lack the metric, or render an empty table."""
    def render(match):
        spec = match.group("spec")
        path, metric = parse_spec(spec)
        try:
            rendered = table(load(os.path.join(base, path)), metric)
        except ValueError as e:
            raise ValueError(f"{where}: table {spec!r}: {e}") from None
        _check_filled(rendered, f"{where}: table {spec!r}")
        return f"<!-- table: {spec} -->\n\n{rendered}\n\n<!-- /table -->"

    return TABLE_MARK.sub(render, text)


def unmarked_tables(text):
    """Line numbers (1-based) of markdown tables outside any marker and not
    declared hand-written on the line before them (a blank line allowed)."""
    inside = set()
    for match in TABLE_MARK.finditer(text):
        first = text.count("\n", 0, match.start())
        inside.update(range(first, first + match.group(0).count("\n") + 1))
    lines, found = text.splitlines(), []
    for i, line in enumerate(lines):
        if not line.startswith("|") or (i and lines[i - 1].startswith("|")) or i in inside:
            continue
        before = [l for l in lines[max(0, i - 2):i] if l.strip()]
        if not (before and before[-1].startswith(HAND_MARK)):
            found.append(i + 1)
    return found


def gallery(root=".", check=False):
    """Re-renders every marked table of the gallery (``GALLERY_FILES``) in
    place; with ``check``, writes nothing. Returns the files whose text
    differs (would change). Raises ValueError for a broken marker, an
    empty table, or a table that is neither marked nor hand-written."""
    from kcontrast import atomic

    changed = []
    for path in gallery_files(root):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        where = os.path.relpath(path, root)
        loose = unmarked_tables(text)
        if loose:
            raise ValueError(f"Expected every table of {where} between table markers; "
                             f"Received: unmarked tables at lines {loose}")
        new = render_markdown(text, os.path.dirname(path), where)
        if new != text:
            changed.append(path)
            if not check:
                atomic.write_text(path, new)
    return changed


def _main(argv=None):
    from kcontrast import cli

    argv = list(sys.argv if argv is None else argv)
    fv = define_flags(flags.FlagValues())
    rest = cli.parse_flags(fv, argv, PROGRAM, __doc__)
    try:
        if fv.gallery:
            if len(rest) > 1:
                raise ValueError(f"Expected at most one repository root; Received: {rest}")
            changed = gallery(rest[0] if rest else ".", check=fv.check)
            for path in changed:
                print(f"{'differs' if fv.check else 'rendered'}: {path}")
            if fv.check and changed:
                return 1
            return 0
        if fv.check:
            raise ValueError("Expected --check only with --gallery")
        if len(rest) != 1:
            raise ValueError(f"Expected one results path; Received: {rest}")
        record = load(rest[0])
        if fv.summary and fv.metric:
            raise ValueError("Expected --summary or --metric, not both; Received: both")
        print(summary(record) if fv.summary else table(record, fv.metric))
        if fv.figure:
            redraw_figure(record, fv.figure)
            print(f"figure: {fv.figure}")
    except (ValueError, OSError) as e:
        cli.fail(PROGRAM, e)
    return 0


def main(argv=None):
    """The CLI; returns the exit code (2 with one line on stderr for a bad
    request)."""
    from kcontrast import cli

    return cli.exit_code(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
