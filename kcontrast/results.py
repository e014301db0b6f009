"""Writing an experiment's results: ``results.json``, ``results.csv`` and
``figure.png``, each written to a temporary file and renamed into place."""

import csv
import io
import json
import os
import tempfile


def _atomic_write(path, data, mode="w"):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def results_record(experiment, config, runs, **extra):
    """The ``results.json`` document.

    ``{"experiment": str, "config": dict, "runs": [{"params": {...},
    "metrics": {...}}], ...extra}``. Later tooling reads these keys.
    """
    record = {"experiment": experiment, "config": config, "runs": list(runs)}
    record.update(extra)
    return record


def write_json(path, record):
    _atomic_write(path, json.dumps(record, indent=2, sort_keys=True,
                                   default=str) + "\n")


def write_csv(path, runs):
    """One row per run: its params, then its metrics."""
    params = sorted({k for r in runs for k in r["params"]})
    metrics = sorted({k for r in runs for k in r["metrics"]})
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(params + metrics)
    for run in runs:
        writer.writerow([run["params"].get(k, "") for k in params]
                        + [run["metrics"].get(k, "") for k in metrics])
    _atomic_write(path, buf.getvalue())


def write_figure(path, runs, x, y, lines=None, ylabel=None, title=None):
    """Plots metric ``y`` against param ``x``, one line per value of ``lines``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {}
    for run in runs:
        key = run["params"].get(lines) if lines else None
        groups.setdefault(key, []).append(
            (run["params"][x], run["metrics"][y]))
    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for key in sorted(groups, key=lambda k: (k is None, k)):
        pts = sorted(groups[key])
        label = f"{lines}={key}" if lines else None
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or y)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    if lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    _atomic_write(path, buf.getvalue(), mode="wb")
