"""An experiment's results: ``results.json``, ``results.csv`` and
``figure.png`` (each written atomically), ``dynamics.png`` (the per-epoch
accuracies of the points, ``write_dynamics``), and the mean ± sd over seeds
that tables and figures show.

``results.json``::

    {"experiment", "preset", "config", "sweep": [swept keys], "figure",
     "runs": [{"params": {short key: value}, "metrics": {...}, "point": dir}],
     "backend", "device", "versions", "quick", "wall_time_s", "command",
     "machine", "complete", "finished", "summary" (only where the
     experiment declares one, see ``summarize``)}
"""

import csv
import io
import json
import math
import os

import numpy as np

from kcontrast import atomic

SEED = "seed"


def results_record(experiment, config, runs, **extra):
    """The ``results.json`` document (see the module docstring)."""
    record = {"experiment": experiment, "config": config, "runs": list(runs)}
    record.update(extra)
    return record


def write_json(path, record):
    atomic.write_json(path, record, default=str)


def write_csv(path, runs):
    """One row per run: its params, then its metrics."""
    params = sorted({k for r in runs for k in r["params"]})
    metrics = sorted({k for r in runs for k in r["metrics"]
                      if not isinstance(r["metrics"][k], (list, dict))})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(params + metrics)
    for run in runs:
        writer.writerow([run["params"].get(k, "") for k in params]
                        + [run["metrics"].get(k, "") for k in metrics])
    atomic.write_text(path, buf.getvalue())


def mean_sd(values):
    """``(mean, sample sd, n)`` of finite values; sd is 0.0 for one value."""
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(values)
    if n == 0:
        return float("nan"), float("nan"), 0
    mean = sum(values) / n
    if n == 1:
        return mean, 0.0, 1
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var), n


def aggregate(runs, metric, over=SEED):
    """Groups runs by their params without ``over`` (seeds) and returns
    ``{params tuple: (mean, sd, n)}`` of ``metric``, in first-seen order."""
    groups = {}
    for run in runs:
        if metric not in run["metrics"]:
            continue
        key = tuple(sorted((k, v) for k, v in run["params"].items() if k != over))
        groups.setdefault(key, []).append(run["metrics"][metric])
    return {key: mean_sd(values) for key, values in groups.items()}


def spread(runs, metric, across, by, over=SEED):
    """How far apart the values of ``across`` put ``metric``, at each value
    of ``by``: for every ``(by, over)`` group (one seed), the range

        spread = max_a metric(a) - min_a metric(a)   over the values a of ``across``

    then its mean ± sd over the seeds. Runs must differ only in ``across``,
    ``by`` and ``over``; a group that lacks some value of ``across`` is left
    out (its range would not be comparable).

    Returns ``[{by: value, "mean", "sd", "n", "per_seed": [...]}]`` sorted
    by ``by``.

    >>> runs = [{"params": {"loss": l, "depth": 0, "seed": 0},
    ...          "metrics": {"acc": a}} for l, a in (("x", 0.5), ("y", 0.8))]
    >>> spread(runs, "acc", "loss", "depth")[0]["mean"]  # doctest: +ELLIPSIS
    0.3...
    """
    values = sorted({r["params"][across] for r in runs if across in r["params"]}, key=str)
    groups = {}
    for run in runs:
        p = run["params"]
        if metric not in run["metrics"] or across not in p or by not in p:
            continue
        groups.setdefault((p[by], p.get(over)), {})[p[across]] = run["metrics"][metric]
    per = {}
    for (at, seed), by_value in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
        if len(by_value) == len(values):
            per.setdefault(at, []).append(max(by_value.values()) - min(by_value.values()))
    rows = []
    for at in sorted(per):
        mean, sd, n = mean_sd(per[at])
        rows.append({by: at, "mean": mean, "sd": sd, "n": n, "per_seed": per[at]})
    return rows


# Summaries an experiment may declare (its ``summary`` config section):
# name -> function of (runs, **options).
SUMMARIES = {"spread": spread}


def summarize(runs, summary):
    """The ``summary`` section of ``results.json``: for each ``{name:
    options}`` the experiment declares (``name`` in ``SUMMARIES``, e.g.
    ``{"spread": {"metric": "linear/label", "across": "name", "by":
    "head_depth"}}``), ``{name: {**options, "rows": SUMMARIES[name](runs,
    **options)}}``."""
    out = {}
    for name, options in (summary or {}).items():
        if name not in SUMMARIES:
            raise ValueError(f"Expected summary in {sorted(SUMMARIES)}; Received: {name!r}")
        out[name] = {**options, "rows": SUMMARIES[name](runs, **options)}
    return out


def tradeoff_points(runs, x, y, by, lines=None):
    """The points of a trade-off plot: metric ``y`` against metric ``x``, one
    point per value of param ``by``, one curve per value of ``lines``.

    Returns ``{line value (None without lines): [(by value, (x mean, sd,
    n), (y mean, sd, n)), ...]}``, each curve sorted by ``by``; points that
    lack either metric are left out.

    >>> runs = [{"params": {"k": k}, "metrics": {"a": 1 - k / 10, "b": k / 10}}
    ...         for k in (1, 5)]
    >>> [(k, a[0], b[0]) for k, a, b in tradeoff_points(runs, "a", "b", "k")[None]]
    [(1, 0.9, 0.1), (5, 0.5, 0.5)]
    """
    xs, ys = aggregate(runs, x), aggregate(runs, y)
    curves = {}
    for key in xs:
        if key not in ys:
            continue
        params = dict(key)
        if by not in params:
            continue
        curves.setdefault(params.get(lines) if lines else None, []).append(
            (params[by], xs[key], ys[key]))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in curves.items()}


def write_figure(path, runs, x, y, lines=None, ylabel=None, title=None, ylim=(0, 1),
                 baselines=None, xscale=None, tradeoff=None):
    """Plots metric ``y`` against param ``x``, one line per value of
    ``lines``; with several seeds per point, the mean with ± sd error bars.
    ``y`` may be a tuple of metrics: one panel each, side by side (then
    ``ylabel`` may be a tuple too). ``baselines`` maps a plotted metric to
    another (e.g. its chance level), drawn dashed against the same x.
    ``xscale`` is matplotlib's x scale of those panels (e.g. "log").
    ``tradeoff`` ``{"x": metric, "y": metric, "xlabel", "ylabel"}`` adds a
    last panel: metric y against metric x, one point per value of param
    ``x`` (annotated with it), one curve per value of ``lines``, with ± sd
    error bars both ways (``tradeoff_points``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [y] if isinstance(y, str) else list(y)
    labels = [ylabel] * len(metrics) if isinstance(ylabel, (str, type(None))) else list(ylabel)
    present = runs[0]["params"] if runs else {}
    lines = lines if lines in present else None
    panels = len(metrics) + (1 if tradeoff else 0)
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, 3.6), dpi=120,
                             squeeze=False)
    if tradeoff:
        _draw_tradeoff(axes[0][-1], runs, tradeoff, x, lines, ylim)
    for ax, metric, label in zip(axes[0], metrics, labels):
        groups = {}
        for key, (mean, sd, n) in aggregate(runs, metric).items():
            params = dict(key)
            if x not in params:
                continue
            groups.setdefault(params.get(lines) if lines else None, []).append(
                (params[x], mean, sd, n))
        seeds = max((p[3] for pts in groups.values() for p in pts), default=1)
        for key in sorted(groups, key=_legend_order):
            pts = sorted(groups[key], key=lambda p: p[0])
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                        yerr=[p[2] for p in pts] if seeds > 1 else None,
                        marker="o", capsize=3, label=f"{lines}={key}" if lines else None)
        reference = (baselines or {}).get(metric)
        if reference:
            base = {}
            for key, (mean, _, _) in aggregate(runs, reference).items():
                params = dict(key)
                if x in params:
                    base.setdefault(params[x], []).append(mean)
            xs = sorted(base)
            ax.plot(xs, [sum(base[v]) / len(base[v]) for v in xs], "k--", lw=1,
                    label=reference)
            ax.legend(fontsize=8)
        ax.set_xlabel(x)
        if xscale:
            ax.set_xscale(xscale)
        _integer_ticks(ax, [p[0] for pts in groups.values() for p in pts])
        ax.set_ylabel((label or metric) + (f"\n(mean ± sd, {seeds} seeds)" if seeds > 1 else ""),
                      fontsize=8)
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        if lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())


def epoch_curves(run_dir, runs, over=SEED):
    """Per-epoch accuracies of a run's points, mean ± sd over ``over``.

    Reads ``<run_dir>/points/<point>/metrics.jsonl`` (one line per epoch,
    ``kcontrast.pretrain.EpochLog``) of every run in ``runs`` (``results.json``
    entries, each naming its ``point``) and keeps the logged accuracies: the
    keys ending in ``_acc`` (``contrastive_acc``, the online probes'
    ``probe_<label>_acc``).

    Returns ``{metric: {group: [(epoch, mean, sd, n), ...]}}``; ``group`` is
    the sorted ``(param, value)`` tuple of the point without ``over``.
    Points without a log are left out.
    """
    values = {}
    for run in runs:
        path = os.path.join(run_dir, "points", run.get("point") or "", "metrics.jsonl")
        if not run.get("point") or not os.path.exists(path):
            continue
        group = tuple(sorted((k, v) for k, v in run["params"].items() if k != over))
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                for key, value in record.items():
                    if key.endswith("_acc"):
                        values.setdefault(key, {}).setdefault(group, {}).setdefault(
                            int(record["epoch"]), []).append(float(value))
    return {metric: {group: [(e, *mean_sd(v)) for e, v in sorted(by_epoch.items())]
                     for group, by_epoch in groups.items()}
            for metric, groups in values.items()}


def write_dynamics(path, run_dir, runs, title=None):
    """Draws the learning dynamics of a run: one panel per logged accuracy
    (``contrastive_acc`` first, then each online probe, e.g. RandBit's
    digit ``probe_label_acc`` beside its ``probe_bits_acc``) against the
    epoch, one line per point (seeds folded: mean with a ± sd band).
    Returns False (and draws nothing) when no point has a per-epoch log."""
    curves = epoch_curves(run_dir, runs)
    if not curves:
        return False
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    metrics = sorted(curves, key=lambda m: (m != "contrastive_acc", m))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), dpi=120,
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        seeds = 1
        for group in sorted(curves[metric]):
            pts = curves[metric][group]
            epochs = [p[0] + 1 for p in pts]
            mean = np.array([p[1] for p in pts])
            sd = np.array([p[2] for p in pts])
            seeds = max(seeds, max(p[3] for p in pts))
            label = " ".join(f"{k}={v}" for k, v in group) or None
            (line,) = ax.plot(epochs, mean, lw=1.2, label=label)
            if seeds > 1:
                ax.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.2)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric + (f" (mean ± sd, {seeds} seeds)" if seeds > 1 else ""),
                      fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if len(curves[metric]) > 1:
            ax.legend(fontsize=6)
    fig.suptitle(title or "learning dynamics: training accuracies per epoch", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return True


def _legend_order(key):
    """Sort key for legend entries: numbers by value (128 before 1000),
    then everything else by text, then the ``None`` group last."""
    number = isinstance(key, (int, float)) and not isinstance(key, bool)
    return (key is None, not number, key if number else 0, str(key))


def _integer_ticks(ax, xs):
    """On an axis whose plotted values are all integers (bits, digits per
    canvas, head depth), ticks at those values when they are few, else at
    integers only: matplotlib's default would label 0.5, 1.5, ..."""
    values = sorted({v for v in xs if isinstance(v, (int, float)) and not isinstance(v, bool)})
    if not values or any(float(v) != int(v) for v in values):
        return
    if ax.get_xscale() == "linear":
        if len(values) <= 8:
            ax.set_xticks(values)
        else:
            from matplotlib.ticker import MaxNLocator
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    elif ax.get_xscale() == "log" and len(values) <= 8:
        from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
        ax.xaxis.set_major_locator(FixedLocator([v for v in values if v > 0]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_locator(NullLocator())


def _draw_tradeoff(ax, runs, options, by, lines, lim):
    """The trade-off panel of ``write_figure``."""
    mx, my = options["x"], options["y"]
    curves = tradeoff_points(runs, mx, my, by, lines)
    seeds = max((p[1][2] for pts in curves.values() for p in pts), default=1)
    for key in sorted(curves, key=_legend_order):
        pts = curves[key]
        ax.errorbar([p[1][0] for p in pts], [p[2][0] for p in pts],
                    xerr=[p[1][1] for p in pts] if seeds > 1 else None,
                    yerr=[p[2][1] for p in pts] if seeds > 1 else None,
                    marker="o", capsize=3, label=f"{lines}={key}" if lines else None)
        for value, px, py in pts:
            ax.annotate(str(value), (px[0], py[0]), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    note = f" (mean ± sd, {seeds} seeds)" if seeds > 1 else ""
    ax.set_xlabel(options.get("xlabel") or mx, fontsize=8)
    ax.set_ylabel((options.get("ylabel") or my) + note, fontsize=8)
    ax.set_title(f"trade-off; points labelled by {by}", fontsize=8)
    if lim:
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(fontsize=8)
