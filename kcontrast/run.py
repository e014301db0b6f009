"""Runs a paper experiment: ``python -m kcontrast.run --exp=NAME``.

Every flag value is checked before a backend is chosen or a file written; a
bad value ends the run with one line on stderr and exit code 2. Results go to
``--out`` (default ``runs/<exp>/<timestamp>``), which must not exist yet: the
run writes into ``<out>.partial-<pid>`` and renames it when it is complete.

Examples::

    python -m kcontrast.run --list
    python -m kcontrast.run --exp=randbit
    python -m kcontrast.run --exp=randbit --quick --backend=jax
    python -m kcontrast.run --exp=randbit --bits=0,20 --temperature=0.1
"""

import datetime
import importlib
import json
import os
import platform
import shutil
import sys
import time

from absl import flags

from kcontrast import sweep
from kcontrast.quiet_imports import import_frameworks

BACKENDS = ("tensorflow", "jax", "torch")

FLAGS = flags.FlagValues()
flags.DEFINE_string("exp", None, "Experiment name (see --list).", flag_values=FLAGS)
flags.DEFINE_bool("list", False, "List the experiments and exit.", flag_values=FLAGS)
flags.DEFINE_string("preset", "default", "Config preset: default (CPU-sized) or paper.", flag_values=FLAGS)
flags.DEFINE_string("backend", None, "Keras backend: tensorflow, jax or torch (default: $KERAS_BACKEND or tensorflow).", flag_values=FLAGS)
flags.DEFINE_string("out", None, "Output directory; must not exist (default: runs/<exp>/<timestamp>).", flag_values=FLAGS)
flags.DEFINE_bool("quick", False, "Smoke-test size (about a minute).", flag_values=FLAGS)
flags.DEFINE_bool("save_models", True, "Save each point's model under points/.", flag_values=FLAGS)
flags.DEFINE_string("dataset", None, "Base dataset (a kcontrast.data source).", flag_values=FLAGS)
flags.DEFINE_string("data_dir", None, "Directory of local dataset files.", flag_values=FLAGS)
flags.DEFINE_list("bits", None, "RandBit bit counts, e.g. 0,5,20.", flag_values=FLAGS)
flags.DEFINE_list("temperature", None, "Loss temperatures, e.g. 0.1,0.2.", flag_values=FLAGS)
flags.DEFINE_list("loss", None, "Contrastive losses, e.g. nt_xent,swd_normal.", flag_values=FLAGS)
flags.DEFINE_list("lambda_weight", None, "Distribution-term weights.", flag_values=FLAGS)
flags.DEFINE_string("epochs", None, "Pretraining epochs.", flag_values=FLAGS)
flags.DEFINE_string("batch_size", None, "Batch size.", flag_values=FLAGS)
flags.DEFINE_string("seed", None, "Random seed.", flag_values=FLAGS)

# flag -> (type, is a list)
OVERRIDES = {
    "dataset": (str, False), "data_dir": (str, False),
    "bits": (int, True), "temperature": (float, True), "loss": (str, True),
    "lambda_weight": (float, True), "epochs": (int, False),
    "batch_size": (int, False), "seed": (int, False),
}


class UsageError(ValueError):
    """A bad command line: reported as one line, exit code 2."""


def _experiments():
    try:
        return importlib.import_module("kcontrast.experiments")
    except ImportError:  # running from a source checkout without install
        return importlib.import_module("experiments")


def load_experiment(name):
    """Returns the experiment module registered as ``name``."""
    package = _experiments()
    if name not in package.EXPERIMENTS:
        raise UsageError(
            f"Expected --exp in {sorted(package.EXPERIMENTS)}; "
            f"Received: exp={name!r}")
    return importlib.import_module(
        f"{package.__name__}.{package.EXPERIMENTS[name]}")


def _parse(name, text, kind):
    try:
        return kind(text)
    except ValueError:
        raise UsageError(
            f"Expected --{name} to be {kind.__name__} values; "
            f"Received: {name}={text!r}") from None


def collect_overrides(values):
    """Typed overrides from raw flag values ``{name: str or [str]}``."""
    out = {}
    for name, (kind, is_list) in OVERRIDES.items():
        raw = values.get(name)
        if raw is None:
            continue
        if is_list:
            out[name] = [_parse(name, v.strip(), kind) for v in raw]
        else:
            out[name] = _parse(name, raw, kind)
    return out


def choose_backend(requested):
    """Sets KERAS_BACKEND before Keras is imported; checks it afterwards."""
    backend = requested or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in BACKENDS:
        raise UsageError(
            f"Expected --backend in {list(BACKENDS)}; Received: backend={backend!r}")
    if "keras" in sys.modules:
        import keras
        if keras.backend.backend() != backend:
            raise UsageError(
                f"Expected Keras not yet imported with another backend; "
                f"Received: backend={backend!r} but Keras runs "
                f"{keras.backend.backend()!r}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if backend == "jax":
        # jaxlib's QR (SWD's random projection) runs on OpenBLAS; its threads
        # next to XLA's stall on a small CPU (bench/losses.py).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    return backend


def default_out(exp):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", exp, stamp)
    out, i = base, 1
    while os.path.exists(out) or os.path.exists(out + ".partial"):
        i += 1
        out = f"{base}-{i}"
    return out


def check_out(out):
    if os.path.exists(out):
        raise UsageError(
            f"Expected --out to be a new directory (runs never overwrite each "
            f"other); Received: out={out!r} already exists")
    parent = os.path.dirname(os.path.abspath(out))
    if os.path.exists(parent) and not os.access(parent, os.W_OK):
        raise UsageError(f"Expected a writable parent of --out; Received: out={out!r}")


def prepare(values):
    """Checks a whole command line. Returns everything the run needs.

    Raises UsageError (or ValueError from a config check) before anything is
    written.
    """
    if values.get("list"):
        return None
    if not values.get("exp"):
        raise UsageError("Expected --exp=NAME (see --list); Received: no --exp")
    module = load_experiment(values["exp"])
    try:
        config = module.get_config(values.get("preset") or "default")
    except ValueError as e:
        raise UsageError(str(e)) from None
    overrides = collect_overrides(values)
    base, points = sweep.resolve(config, overrides, quick=values.get("quick"),
                                 limits=getattr(module, "LIMITS", {}))
    backend = choose_backend(values.get("backend"))
    import_frameworks()
    # Checks that need the package (data registry, loss registry).
    from kcontrast.data import SOURCES
    from kcontrast.losses import make_loss
    if base["dataset"] not in SOURCES:
        raise UsageError(
            f"Expected --dataset in {sorted(SOURCES)}; "
            f"Received: dataset={base['dataset']!r}")
    for point in points:
        p = {**base, **point}
        make_loss(p["loss"], temperature=p.get("temperature"),
                  lambda_weight=p.get("lambda_weight"), seed=p["seed"])
    out = values.get("out") or default_out(values["exp"])
    check_out(out)
    return {"module": module, "base": base, "points": points,
            "backend": backend, "out": out, "quick": bool(values.get("quick")),
            "save_models": values.get("save_models", True)}


def execute(plan):
    """Runs every point and writes the results; returns the output dir."""
    from kcontrast import pretrain, results

    base, points, out = plan["base"], plan["points"], plan["out"]
    partial = f"{out}.partial-{os.getpid()}"
    os.makedirs(partial)
    try:
        runs = []
        start = time.perf_counter()
        for i, params in enumerate(points):
            config = {**base, **params}
            desc = " ".join(f"{k}={v}" for k, v in params.items()) or "single run"
            print(f"[{i + 1}/{len(points)}] {base['name']}: {desc}", flush=True)
            point_dir = (os.path.join(partial, "points", sweep.point_name(i, params))
                         if plan["save_models"] else None)
            metrics, _ = pretrain.pretrain_point(config, out_dir=point_dir)
            runs.append({"params": params, "metrics": metrics})
            shown = " ".join(f"{k}={v:.3f}" for k, v in metrics.items()
                             if "/" in k)
            print(f"[{i + 1}/{len(points)}] done in {metrics['train_time_s']:.0f}s: {shown}",
                  flush=True)
        wall = time.perf_counter() - start
        record = results.results_record(
            base["name"], base, runs, backend=plan["backend"],
            quick=plan["quick"], wall_time_s=round(wall, 1),
            command=" ".join(["python -m kcontrast.run"] + sys.argv[1:]),
            machine=f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
            finished=datetime.datetime.now().isoformat(timespec="seconds"))
        results.write_json(os.path.join(partial, "results.json"), record)
        results.write_csv(os.path.join(partial, "results.csv"), runs)
        fig = base.get("figure")
        if fig:
            results.write_figure(
                os.path.join(partial, "figure.png"), runs, x=fig["x"],
                y=fig["y"], lines=fig.get("lines") if fig.get("lines") in points[0] else None,
                ylabel=fig.get("ylabel"), title=fig.get("title"))
        os.replace(partial, out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    print(f"results: {os.path.join(out, 'results.json')} (and results.csv)")
    if base.get("figure"):
        print(f"figure:  {os.path.join(out, 'figure.png')}")
    print(f"wall time: {wall:.0f}s on {plan['backend']}")
    return out


def list_experiments():
    package = _experiments()
    for name in sorted(package.EXPERIMENTS):
        module = load_experiment(name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        print(f"{name:16s} {summary}")


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    try:
        FLAGS(argv)
    except flags.Error as e:
        print(f"kcontrast.run: error: {e}", file=sys.stderr)
        return 2
    values = {name: FLAGS[name].value for name in FLAGS}
    try:
        plan = prepare(values)
    except ValueError as e:
        print(f"kcontrast.run: error: {e}", file=sys.stderr)
        return 2
    if plan is None:
        list_experiments()
        return 0
    execute(plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
