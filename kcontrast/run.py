"""Runs a paper experiment: ``python -m kcontrast.run --exp=NAME``.

Usage::

    python -m kcontrast.run --list
    python -m kcontrast.run --exp=randbit                      # the full sweep
    python -m kcontrast.run --exp=randbit --quick --backend=jax
    python -m kcontrast.run --exp=randbit --bits=0,20 --seed=0,1,2
    python -m kcontrast.run --exp=randbit --config.optim.learning_rate=1e-3 \\
        --sweep=model.width=1,2
    python -m kcontrast.run --resume=runs/randbit/20261129-101500.partial
    python -m kcontrast.run --exp=randbit --strategy=mirrored --batch_size=1024
    python -m kcontrast.run --exp=randbit --quick --deterministic

Any key of the experiment's config can be set with ``--config.KEY=VALUE`` and
swept with ``--sweep=KEY=V1,V2`` (repeatable); ``--seed=0,1,2`` sweeps
seeds. Short flags (``--bits``, ``--temperature``, ``--loss``,
``--lambda_weight``, ``--epochs``, ``--batch_size``, ``--learning_rate``,
``--seed``, ``--dataset``, ``--data_dir``) are aliases of config keys: one
value sets it (or restricts a swept key), several sweep it.

Everything is checked before anything is written (keys, types, ranges, the
loss's own keys, dataset-builder arguments, batch size against the dataset):
a bad value ends the run with one line on stderr and exit code 2. A run writes
into ``<out>.partial``: each point's metrics land as soon as it finishes;
an interrupted run (Ctrl-C, SIGTERM) keeps that directory and prints the
``--resume`` command, which skips finished points and continues the
interrupted one from its last finished epoch. The directory is renamed to
``<out>`` when the sweep is complete. Each point ends with one "done" line
(its headline metrics first, within 100 columns); the finished run prints
the paths of its files, then its results table (mean ± sd over seeds, as
``python -m kcontrast.report <out> --summary`` prints it again).

``--deterministic`` runs deterministic kernels (TensorFlow's op determinism,
``torch.use_deterministic_algorithms``, XLA's deterministic GPU ops; see
``kcontrast.pretrain.enable_determinism``): two runs of one command give the
same metrics to the bit, and so does a run interrupted anywhere and
resumed. A resume keeps the mode of the run it resumes.

``--strategy`` spreads training over devices (``kcontrast.distribute``):
``mirrored``, ``multi_worker_mirrored`` or ``tpu`` on TensorFlow,
``data_parallel`` on JAX, ``none`` (the default) everywhere. The batch size
is global (it must divide over the replicas); the contrastive loss sees the
global batch as negatives and BatchNorm its statistics
(``--nosync_batch_norm``: per replica, TensorFlow only).
"""

import datetime
import json
import os
import signal
import sys
import time

from absl import flags

from kcontrast import config as cfg
from kcontrast.quiet_imports import import_frameworks

BACKENDS = ("tensorflow", "jax", "torch")
PROGRAM = "kcontrast.run"
RUN_FILE = "run.json"
PARTIAL = ".partial"
WIDTH = 100  # the terminal a run's per-point lines fit


class UsageError(ValueError):
    """A bad command line: reported as one line, exit code 2."""


class Interrupted(Exception):
    """SIGTERM or SIGINT during a run."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def define_flags(fv, config=None):
    """The CLI's flags on ``fv``; with ``config``, also ``--config.*``."""
    flags.DEFINE_string("exp", None, "Experiment name (see --list).", flag_values=fv)
    flags.DEFINE_bool("list", False, "List the experiments and exit.", flag_values=fv)
    flags.DEFINE_string("preset", "default", "Config preset: default (CPU-sized), or one the experiment lists (paper, ...).", flag_values=fv)
    flags.DEFINE_string("backend", None, "Keras backend: tensorflow, jax or torch (default: $KERAS_BACKEND or tensorflow).", flag_values=fv)
    flags.DEFINE_string("out", None, "Output directory; must not exist (default: runs/<exp>/<timestamp>).", flag_values=fv)
    flags.DEFINE_string("resume", None, "Resume the interrupted run in this directory (its .partial directory).", flag_values=fv)
    flags.DEFINE_bool("quick", False, "Smoke-test size (at most 90 s on a 2-core CPU).", flag_values=fv)
    flags.DEFINE_bool("deterministic", False, "Deterministic kernels: the same command gives the same metrics to the bit, resumed or not (slower).", flag_values=fv)
    flags.DEFINE_bool("save_models", True, "Save each point's model under points/.", flag_values=fv)
    flags.DEFINE_string("strategy", "none", "Distribution strategy: none; mirrored, multi_worker_mirrored, tpu (TensorFlow); data_parallel (JAX). The batch size is global.", flag_values=fv)
    flags.DEFINE_bool("sync_batch_norm", True, "Under a TensorFlow strategy, BatchNorm statistics over the global batch (--nosync_batch_norm: per replica).", flag_values=fv)
    flags.DEFINE_string("tpu", None, "--strategy=tpu: TPU name or grpc address (default: the local TPU VM).", flag_values=fv)
    flags.DEFINE_multi_string("sweep", [], "KEY=V1,V2: sweep a config key (repeatable).", flag_values=fv)
    flags.DEFINE_string("bits", None, "Alias: RandBit bit counts (data.args.bits), e.g. 0,5,20.", flag_values=fv)
    flags.DEFINE_string("temperature", None, "Alias of loss.temperature, e.g. 0.1,0.2.", flag_values=fv)
    flags.DEFINE_string("loss", None, "Alias of loss.name: nt_xent, decoupled_nt_xent, swd_normal, swd_hypersphere, swd_hypercube.", flag_values=fv)
    flags.DEFINE_string("lambda_weight", None, "Alias of loss.lambda_weight (distribution-term weight).", flag_values=fv)
    flags.DEFINE_string("epochs", None, "Alias of optim.epochs.", flag_values=fv)
    flags.DEFINE_string("batch_size", None, "Alias of optim.batch_size.", flag_values=fv)
    flags.DEFINE_string("learning_rate", None, "Alias of optim.learning_rate.", flag_values=fv)
    flags.DEFINE_string("seed", None, "Alias of seed; several values sweep seeds, e.g. 0,1,2.", flag_values=fv)
    flags.DEFINE_string("dataset", None, "Alias of the base dataset key of the experiment (randbit: data.args.base).", flag_values=fv)
    flags.DEFINE_string("data_dir", None, "Alias of data.data_dir: directory of local dataset files.", flag_values=fv)
    if config is not None:
        from ml_collections import config_flags
        config_flags.DEFINE_config_dict(
            "config", config, "The experiment config; set any key with --config.KEY=VALUE.",
            flag_values=fv)
    return fv


ALIAS_FLAGS = ("bits", "temperature", "loss", "lambda_weight", "epochs",
               "batch_size", "learning_rate", "seed", "dataset", "data_dir")


def _one_line(error):
    text = str(error).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__


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


XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"


def deterministic_env(environ=None):
    """Sets the environment variables deterministic kernels need, before any
    framework starts (``--deterministic`` calls it before Keras is
    imported): one TensorFlow inter-op thread (``TF_NUM_INTEROP_THREADS``:
    ops run concurrently on a CPU round differently from run to run, op
    determinism or not; ``tf.data`` keeps its own threads), XLA's
    deterministic GPU ops for JAX (in ``XLA_FLAGS``) and cuBLAS's fixed
    workspace for PyTorch on CUDA (``CUBLAS_WORKSPACE_CONFIG``).

    >>> env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    >>> deterministic_env(env)["XLA_FLAGS"]
    '--xla_force_host_platform_device_count=2 --xla_gpu_deterministic_ops=true'
    """
    environ = os.environ if environ is None else environ
    xla = environ.get("XLA_FLAGS", "")
    if XLA_DETERMINISTIC not in xla.split():
        environ["XLA_FLAGS"] = f"{xla} {XLA_DETERMINISTIC}".strip()
    environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    environ["TF_NUM_INTEROP_THREADS"] = "1"
    return environ


def default_out(exp):
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join("runs", exp, stamp)
    out, i = base, 1
    while os.path.exists(out) or os.path.exists(out + PARTIAL):
        i += 1
        out = f"{base}-{i}"
    return out


def check_out(out):
    for path in (out, out + PARTIAL):
        if os.path.exists(path):
            raise UsageError(
                f"Expected --out to be a new directory (runs never overwrite each "
                f"other; resume an interrupted one with --resume); Received: "
                f"out={out!r} ({path} exists)")
    parent = os.path.dirname(os.path.abspath(out))
    probe = parent
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.access(probe, os.W_OK):
        raise UsageError(f"Expected a writable parent of --out; Received: out={out!r}")


# ------------------------------------------------------------------ parsing
def _scan(argv):
    """Known non-config flags of ``argv`` (exp, preset, resume, ...)."""
    fv = define_flags(flags.FlagValues())
    try:
        rest = fv(argv, known_only=True)[1:]
    except flags.Error as e:
        raise UsageError(_one_line(e)) from None
    for arg in rest:
        if not arg.startswith("--config."):
            name = arg.lstrip("-").split("=", 1)[0]
            if arg.startswith("-"):
                raise UsageError(f"Unknown command line flag '{name}'")
            raise UsageError(f"Expected only flags; Received: {arg!r}")
    return fv


def _alias_overrides(fv, module, base):
    """``(sets, sweeps)`` from the short flags."""
    table = cfg.aliases(module)
    sets, sweeps = [], []
    for name in ALIAS_FLAGS:
        raw = fv[name].value
        if raw is None:
            continue
        key = table.get(name)
        if key is None or key not in cfg.flat_keys(base):
            raise UsageError(
                f"Expected --{name} only on experiments with that key; "
                f"Received: --{name}={raw} on {module.__name__.rsplit('.', 1)[-1]}")
        values = [cfg.parse_value(base, key, v) for v in raw.split(",") if v.strip()]
        if not values:
            raise UsageError(f"Expected a value for --{name}; Received: --{name}={raw!r}")
        if len(values) == 1:
            sets.append((key, values[0]))
        else:
            sweeps.append((key, values))
    return sets, sweeps


def parse_command(argv):
    """Parses a full command line into a request, checking keys and types.

    Returns a dict: ``exp, preset, backend, out, resume, quick, save_models,
    config`` (the ConfigDict with ``--config.*`` applied), ``meta``,
    ``sets``, ``sweeps``, ``explicit`` and ``module``; or ``{"list": True}``.
    """
    head = _scan(argv)
    if head.list:
        return {"list": True}
    recorded, resume = None, head.resume
    if resume:
        # The resumed run's own command line, then whatever this one adds:
        # anything that changes the config is refused in ``prepare``.
        recorded = read_run_file(resume)
        added = [a for a in argv[1:] if not (a == "--resume" or a.startswith("--resume="))]
        if head.exp and head.exp != recorded["experiment"]:
            raise UsageError(f"Expected --exp={recorded['experiment']} (the resumed run's); "
                             f"Received: exp={head.exp!r}")
        argv = [argv[0]] + list(recorded["argv"]) + added
        head = _scan(argv)
    exp = head.exp
    if not exp:
        raise UsageError(f"Expected --exp=NAME, one of {cfg.experiment_names()}; Received: no --exp")
    preset = head.preset
    backend = head.backend or (recorded or {}).get("backend")
    module = cfg.load_experiment(exp)
    # Configs read the data and loss registries: pick the backend and import
    # the frameworks (quietly) first.
    if head.deterministic:
        deterministic_env()
    backend = choose_backend(backend)
    import_frameworks()
    full = cfg.get_experiment_config(exp, preset)
    base, meta = cfg.split_meta(full)
    for arg in argv[1:]:
        if arg.startswith("--config."):
            key = arg[len("--config."):].split("=", 1)[0]
            try:
                cfg.check_key(base, key)
            except cfg.ConfigError as e:
                raise UsageError(f"{e} (in {arg})") from None
    saved_argv = sys.argv
    # config_flags reads the --config.* overrides it registers from sys.argv
    # when the flag is defined; give it this command line (main(argv) in
    # process).
    sys.argv = list(argv)
    try:
        fv = define_flags(flags.FlagValues(), base)
        fv(argv)
        config = fv.config
        explicit = sorted(fv["config"].override_values)
    except (flags.Error, AttributeError, KeyError, TypeError) as e:
        raise UsageError(_one_line(e)) from None
    finally:
        sys.argv = saved_argv
    sets, sweeps = _alias_overrides(fv, module, config)
    sweeps = list(fv.sweep) + sweeps
    return {"list": False, "exp": exp, "preset": preset, "module": module,
            "backend": backend, "out": fv.out, "resume": resume, "quick": fv.quick,
            "save_models": fv.save_models, "deterministic": fv.deterministic,
            "strategy": fv.strategy,
            "sync_batch_norm": fv.sync_batch_norm, "tpu": fv.tpu,
            "config": config, "meta": meta,
            "sets": sets, "sweeps": sweeps, "explicit": explicit,
            "recorded": recorded}


# ----------------------------------------------------------------- prepare
def prepare(argv):
    """Checks a whole command line and everything it implies (datasets,
    losses, batch sizes, the output directory). Returns the plan; raises
    UsageError (or ValueError) before anything is written."""
    request = parse_command(argv)
    if request["list"]:
        return None
    backend = request["backend"]
    try:
        base, meta, points = cfg.resolve(
            request["config"], meta=request["meta"], sets=request["sets"], sweeps=request["sweeps"],
            quick=request["quick"], explicit=request["explicit"])
    except cfg.ConfigError as e:
        raise UsageError(str(e)) from None
    name = meta.get("name") or request["exp"]
    configs = []
    for params in points:
        c = cfg.point_config(base, params, meta.get("variants"))
        c["name"] = name
        configs.append(c)
    strategy = make_strategy(request, configs)
    datasets = check_points(configs)
    try:
        from kcontrast import results
        results.summarize([], meta.get("summary"))
    except (ValueError, TypeError) as e:
        raise UsageError(_one_line(e)) from None

    recorded = request["recorded"]
    if recorded:
        current = {"config": base.to_dict(), "points": [_jsonable(p) for p in points]}
        before = {"config": recorded["config"], "points": recorded["points"]}
        differ = cfg.diff(before, current)
        if request["quick"] != recorded["quick"]:
            differ.append("quick")
        if request["deterministic"] != recorded.get("deterministic", False):
            differ.append("deterministic")
        if differ:
            raise UsageError(
                f"Expected the resumed run's config; Received: different values for "
                f"{', '.join(differ)} (resume with --resume alone)")
        out = recorded["out"]
        partial = request["resume"].rstrip("/")
    else:
        out = request["out"] or default_out(request["exp"])
        check_out(out)
        partial = out + PARTIAL
    return {"exp": request["exp"], "preset": request["preset"], "base": base,
            "meta": meta, "points": points, "configs": configs,
            "datasets": datasets, "backend": backend, "out": out,
            "partial": partial, "quick": request["quick"],
            "save_models": request["save_models"], "resumed": bool(recorded),
            "deterministic": request["deterministic"],
            "strategy": strategy, "sync_batch_norm": request["sync_batch_norm"],
            "argv": list(argv[1:]),
            "command": " ".join(["python -m kcontrast.run"] + list(argv[1:]))}


def make_strategy(request, configs):
    """The run's ``kcontrast.distribute.Strategy``, checked against the
    backend and every point's (global) batch size."""
    from kcontrast import distribute

    try:
        distribute.check_strategy(request["strategy"], request["backend"])
        strategy = distribute.get_strategy(request["strategy"], tpu=request["tpu"])
        for c in configs:
            strategy.check_batch_size(c["optim"]["batch_size"], "optim.batch_size")
    except ValueError as e:
        raise UsageError(_one_line(e)) from None
    return strategy


def _data_key(config):
    return json.dumps({"data": config["data"], "seed": config["seed"]}, sort_keys=True)


def check_points(configs):
    """Builds each distinct dataset once and checks every point against it
    (builder arguments, batch size, augmentation, encoder, loss, optimizer,
    evaluation protocol). Returns ``{data key: Dataset}``."""
    from kcontrast import pretrain
    from kcontrast.data.augment import AUGMENTATIONS
    from kcontrast.evaluation.linear_probe import OPTIMIZERS as PROBE_OPTIMIZERS
    from kcontrast.models import ENCODERS
    from kcontrast.models.contrastive_model import OBJECTIVES
    from kcontrast.models.contrastive_model import PROBE_VIEWS

    datasets, decodable = {}, set()
    for c in configs:
        key = _data_key(c)
        if key not in datasets:
            try:
                datasets[key] = pretrain.load_data(c)
            except ValueError as e:
                raise UsageError(_one_line(e)) from None
        ds = datasets[key]
        batch = c["optim"]["batch_size"]
        if batch > len(ds.train):
            raise UsageError(
                f"Expected optim.batch_size <= {len(ds.train)} (the training split of "
                f"{c['data']['builder']}); Received: batch_size={batch}")
        checks = [
            ("data.augment", c["data"]["augment"], AUGMENTATIONS),
            ("model.encoder", c["model"]["encoder"], ENCODERS),
            ("model.probe_views", c["model"].get("probe_views", "both"), PROBE_VIEWS),
            ("model.objective", c["model"].get("objective", "contrastive"), OBJECTIVES),
            ("model.precision", c["model"].get("precision", "float32"), pretrain.PRECISIONS),
            ("optim.optimizer", c["optim"]["optimizer"], pretrain.OPTIMIZERS),
            ("optim.schedule", c["optim"]["schedule"], pretrain.SCHEDULES),
            ("eval.linear.optimizer", c["eval"]["linear"]["optimizer"], PROBE_OPTIMIZERS),
        ]
        for key_name, value, allowed in checks:
            if value not in allowed:
                raise UsageError(f"Expected {key_name} in {sorted(allowed)}; "
                                 f"Received: {key_name}={value!r}")
        try:
            pretrain.make_point_loss(c)
            pretrain.encoder_kwargs(c["model"])
            pretrain.check_optim(c)
            if c.get("mcl"):
                from kcontrast import mcl
                mcl.check_point(c, len(ds.train))
        except ValueError as e:
            raise UsageError(_one_line(e)) from None
        if c["model"].get("objective", "contrastive") != "contrastive":
            # Can the encoder's representation be decoded at this input?
            model_key = json.dumps([c["model"], list(ds.input_shape)], sort_keys=True)
            if model_key not in decodable:
                try:
                    pretrain.build_model(
                        c, ds.input_shape, ds.num_classes, ds.multi_label,
                        image_channels=ds.input_shape[-1] - ds.train.num_extra)
                except ValueError as e:
                    raise UsageError(_one_line(e)) from None
                decodable.add(model_key)
    return datasets


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


# --------------------------------------------------------------- run files
def read_run_file(directory):
    path = os.path.join(directory, RUN_FILE)
    if not os.path.isdir(directory):
        raise UsageError(f"Expected --resume to be a run directory; Received: resume={directory!r} does not exist")
    if not os.path.exists(path):
        if os.path.exists(os.path.join(directory, "results.json")):
            raise UsageError(f"Expected an interrupted run; Received: resume={directory!r} is complete")
        raise UsageError(f"Expected a kcontrast run directory with {RUN_FILE}; Received: resume={directory!r}")
    with open(path) as f:
        return json.load(f)


def _fmt_time(seconds):
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _describe(params):
    return " ".join(f"{k}={v}" for k, v in cfg.short(params).items()) or "single run"


def execute(plan):
    """Runs (or resumes) every point, writing as it goes; returns the
    output directory. Raises ``Interrupted`` on SIGTERM/SIGINT, leaving the
    partial directory for ``--resume``."""
    from kcontrast import atomic, pretrain, provenance, results

    partial, points = plan["partial"], plan["points"]
    os.makedirs(os.path.join(partial, "points"), exist_ok=True)
    # The commit is read (and cached) now, before any training: the code
    # this process imported, not whatever the checkout holds when the first
    # point ends.
    provenance.git_commit()
    device = provenance.device(plan["backend"])
    run_record = {
        "experiment": plan["exp"], "preset": plan["preset"], "quick": plan["quick"],
        "out": plan["out"], "config": plan["base"].to_dict(),
        "points": [_jsonable(p) for p in points], "meta": _jsonable(plan["meta"]),
        "command": plan["command"], "argv": plan["argv"], "backend": plan["backend"],
        "strategy": plan["strategy"].describe(),
        "deterministic": plan["deterministic"],
    }
    if plan["resumed"]:
        previous = os.path.join(partial, "results.json")
        if os.path.exists(previous):  # time spent before the interruption
            with open(previous) as f:
                plan["wall_before"] = json.load(f).get("wall_time_s", 0.0)
    else:
        atomic.write_json(os.path.join(partial, RUN_FILE), run_record, default=str)
    print(f"{PROGRAM}: {plan['exp']} ({plan['preset']}{', quick' if plan['quick'] else ''}"
          f"{', deterministic' if plan['deterministic'] else ''}), "
          f"{len(points)} point(s) on backend {plan['backend']}, device {device}"
          + (f", strategy {plan['strategy'].name} over {plan['strategy'].num_replicas} replicas"
             if plan["strategy"].name != "none" else ""), flush=True)
    print(f"{PROGRAM}: writing {partial}", flush=True)

    runs, timed = [], []
    start = time.perf_counter()
    for i, (params, config) in enumerate(zip(points, plan["configs"])):
        name = cfg.point_name(i, params)
        point_dir = os.path.join(partial, "points", name)
        tag = f"[{i + 1}/{len(points)}]"
        done = os.path.join(point_dir, pretrain.METRICS_FILE)
        if os.path.exists(done):
            with open(done) as f:
                metrics = json.load(f)
            print(f"{tag} {_describe(params)}: finished earlier, kept", flush=True)
        else:
            elapsed = time.perf_counter() - start
            remaining = len(points) - i
            eta = (f"ETA {_fmt_time(sum(timed) / len(timed) * remaining)}"
                   if timed else "ETA after the first point")
            resuming = os.path.isdir(os.path.join(point_dir, "backup"))
            print(f"{tag} {_describe(params)}{' (resuming)' if resuming else ''} | "
                  f"elapsed {_fmt_time(elapsed)} | {eta}", flush=True)
            point_start = time.perf_counter()
            ds = plan["datasets"].get(_data_key(config))
            metrics, _ = pretrain.pretrain_point(
                config, point_dir=point_dir, save_model=plan["save_models"],
                log=lambda line, tag=tag: print(f"{tag}   {line}", flush=True),
                dataset=ds, check=check_stop, strategy=plan["strategy"],
                sync_batch_norm=plan["sync_batch_norm"],
                deterministic=plan["deterministic"],
                controls_dir=os.path.join(partial, "controls"))
            timed.append(time.perf_counter() - point_start)
            print(done_line(
                f"{tag} done in {_fmt_time(timed[-1])} (train {metrics['train_time_s']:.0f}s, "
                f"eval {metrics['eval_time_s']:.0f}s):", metrics, plan["meta"].get("figure")),
                flush=True)
        runs.append({"params": _jsonable(cfg.short(params)), "metrics": metrics,
                     "point": name})
        _write_results(plan, partial, runs, start, device, complete=False)
        check_stop()

    wall = time.perf_counter() - start + plan.get("wall_before", 0.0)
    _write_results(plan, partial, runs, start, device, complete=True)
    figure = plan["meta"].get("figure")
    if figure:
        results.write_figure(os.path.join(partial, "figure.png"), runs, **figure)
    dynamics = results.write_dynamics(
        os.path.join(partial, "dynamics.png"), partial, runs,
        title=f"{plan['exp']}: contrastive accuracy and online probes per epoch")
    os.remove(os.path.join(partial, RUN_FILE))
    os.replace(partial, plan["out"])
    out = plan["out"]
    print(f"results: {os.path.join(out, 'results.json')} (and results.csv)")
    if figure:
        print(f"figure:  {os.path.join(out, 'figure.png')}")
    if dynamics:
        print(f"dynamics: {os.path.join(out, 'dynamics.png')}")
    print(f"wall time: {_fmt_time(wall)} on {plan['backend']}")
    print_summary(out)
    return out


def done_line(head, metrics, figure=None, width=WIDTH):
    """A point's "done" line: ``head``, then its probe metrics
    (``kcontrast.report.metric_order``: the experiment's headline metrics
    first) as ``name=value`` while the line stays within ``width``
    characters, then ``+N more`` for those left out (all of them are in the
    point's ``metrics.json``)."""
    from kcontrast import report

    probes = [k for k, v in metrics.items() if "/" in k and isinstance(v, (int, float))]
    order = report.metric_order(probes, report.headline_metrics(figure))
    order += [k for k in probes if k not in order]
    line = head
    for i, name in enumerate(order):
        part = f" {name}={metrics[name]:.3f}"
        rest = len(order) - i - 1
        more = f" +{rest} more" if rest else ""
        if len(line + part + more) > width and i > 0:
            return f"{line} +{len(order) - i} more"
        line += part
    return line


def print_summary(out):
    """Prints the finished run's results table (``kcontrast.report.summary``:
    mean ± sd over seeds, the headline metrics first) and the command that
    prints it again."""
    from kcontrast import report

    record = report.load(out)
    try:
        text = report.summary(record)
    except ValueError as e:  # no probe metrics: nothing to tabulate
        print(f"(no results table: {_one_line(e)})")
        return
    print(f"\nresults (python -m kcontrast.report {out} --summary):\n{text}", flush=True)


def _write_results(plan, partial, runs, start, device, complete):
    from kcontrast import provenance, results

    wall = time.perf_counter() - start + plan.get("wall_before", 0.0)
    record = results.results_record(
        plan["exp"], plan["base"].to_dict(), runs, preset=plan["preset"],
        sweep=plan["meta"].get("sweep_keys", []), figure=plan["meta"].get("figure"),
        backend=plan["backend"], device=device,
        versions=provenance.versions(plan["backend"]), quick=plan["quick"],
        wall_time_s=round(wall, 1), command=plan["command"],
        machine=provenance.machine(), complete=complete,
        finished=datetime.datetime.now().isoformat(timespec="seconds"))
    if plan["meta"].get("summary"):
        record["summary"] = results.summarize(runs, plan["meta"]["summary"])
    results.write_json(os.path.join(partial, "results.json"), record)
    results.write_csv(os.path.join(partial, "results.csv"), runs)


def list_experiments(data_dir=None):
    """One line per experiment; those whose data (``DATA_SOURCES`` of the
    experiment file, default mnist5k) is not on this machine are marked, and
    a last line names the command that gets it. Reads no framework."""
    from kcontrast.data.sources import missing_data

    missing = {}
    for name in cfg.experiment_names():
        module = cfg.load_experiment(name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        absent = missing_data(getattr(module, "DATA_SOURCES", ("mnist5k",)), data_dir)
        missing.update(absent)
        mark = f"  [data missing here: {', '.join(absent)}]" if absent else ""
        print(f"  {name:22s} {summary}{mark}")
    where = f"in --data_dir={data_dir}" if data_dir else "on this machine"
    for source, command in missing.items():
        print(f"{source} is not {where}: get it with `{command}` (Debian/Ubuntu), or "
              "pass --data_dir=DIR holding it; without --data_dir and with network, "
              "tensorflow-datasets downloads it on the first run.")


class _Stop:
    """The signal a run has been asked to stop by (None: keep going)."""
    signum = None


def _on_signal(signum, frame):
    """Records the request; training stops at the next safe point (after a
    batch, between phases). A second signal stops at once."""
    if _Stop.signum is not None:
        raise Interrupted(signum)
    _Stop.signum = signum
    print(f"\n{PROGRAM}: {signal.Signals(signum).name} received; stopping after this "
          "batch (send it again to stop at once)", file=sys.stderr, flush=True)


def check_stop():
    if _Stop.signum is not None:
        raise Interrupted(_Stop.signum)


def main(argv=None):
    from kcontrast import cli

    argv = list(sys.argv if argv is None else argv)
    args = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    if any(a in cli.HELP + cli.HELPFULL for a in args):
        print_help(full=any(a in cli.HELPFULL for a in args))
        return 0
    try:
        plan = prepare(argv)
    except ValueError as e:
        print(f"{PROGRAM}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    if plan is None:
        list_experiments(_scan(argv).data_dir)
        return 0
    _Stop.signum = None
    handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        execute(plan)
    except Interrupted as e:
        print(f"\n{PROGRAM}: interrupted by {e}; finished points are kept in "
              f"{plan['partial']}\n{PROGRAM}: resume with: python -m kcontrast.run "
              f"--resume={plan['partial']}", file=sys.stderr, flush=True)
        return 128 + e.signum
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    return 0


def print_help(full=False):
    """``--help``: usage, the experiments (one line each), the flags."""
    from kcontrast import cli

    text = cli.help_text(define_flags(flags.FlagValues()), __doc__, full=full)
    usage, _, rest = text.partition("\n\nflags:")
    print(usage)
    print("\nexperiments:")
    list_experiments()
    print("\nflags:" + rest.rstrip())
    print("  --config.KEY=VALUE: set any key of the experiment's config "
          "(python -m kcontrast.run --exp=NAME --config.seed=1; see experiments/NAME.py)")


if __name__ == "__main__":
    sys.exit(main())
