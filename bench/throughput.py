"""Training throughput: kcontrast ``fit`` on each backend next to a
companion-style TensorFlow loop, on the same work, in one invocation.

    cd /work/main && PYTHONPATH=. python bench/throughput.py [--json]
    PYTHONPATH=. python bench/throughput.py --steps=10 --backends=tensorflow --batch_sizes=64
    PYTHONPATH=. python bench/throughput.py --sweep      # + the full randbit sweep (minutes)
    PYTHONPATH=. python bench/throughput.py --held       # + each step on a batch held in memory
    PYTHONPATH=. python bench/throughput.py --augment_in=pipeline   # without the in-graph contender

The work, identical for every contender: the ``randbit`` experiment's
default model (``kcontrast.models.small_convnet`` + 2-layer projection head
256-64 + one online linear probe, L2 1e-4 on kernels, Adam with the linear
decay), RandBit over mnist5k with ``--bits`` bits, the companion crop
(area 0.5-1, aspect 3/4-4/3), NT-Xent (SimCLR form, t=0.2), at each batch
size in ``--batch_sizes``; ``--warmup`` steps (tracing, compilation, the
first prefetches) are run first and not timed, then ``--steps`` steps are.

Contenders, each in its own subprocess (``KERAS_BACKEND`` is fixed at
import):

- ``kcontrast_<backend>_<batch>``: ``ContrastiveModel.fit`` built by
  ``kcontrast.pretrain.build_model`` / ``compile_model`` from the randbit
  default config (so ``optim.jit_compile`` and ``optim.steps_per_execution``
  take their defaults; ``--set optim.jit_compile=false`` changes them), fed
  by ``kcontrast.data.pipeline.pretrain_dataset``.
- ``kcontrast_<backend>_ingraph_<batch>``: the same, with
  ``data.augment_in=model``: tf.data only gathers raw batches and the
  crop runs inside the compiled train step
  (``kcontrast.models.augment.ViewAugmentation``). ``--augment_in``
  chooses which of the two kcontrast paths run (default both).
- ``companion_<batch>``: a plain TensorFlow loop written here after the
  companion RandBits recipe: a per-example tf.data map that computes the
  bits every pass by hashing the PNG-encoded digit
  (``tf.strings.to_hash_bucket_fast``), the crop applied per view, a
  ``tf.function`` step under a ``GradientTape`` that calls the encoder and
  head once per view (two forward passes), NT-Xent written inline, the
  probe on view 1, Adam; the Python loop feeds one batch per step. The
  small ConvNet and head are the same ``kcontrast.models`` builders.

Each contender is timed at every precision in ``--precisions``
(kcontrast's ``model.precision``: float32, the default, and
mixed_bfloat16);
the companion loop runs at the same precision (its layers built under the
same Keras dtype policy, its losses upcast to float32), so every ratio
compares equal arithmetic. Names of bfloat16 contenders end in ``_bf16``
before the batch size (``kcontrast_tensorflow_bf16_256``,
``companion_bf16_256``).

``--held`` also times every contender on one augmented batch drawn once
and fed again at every step (names end in ``_held_<batch>``): the step
alone, without the input pipeline (and, for the companion loop, without
the hashing). A contender's fed rate as a share of its held rate is what
its input costs; the fastest held step against the fed companion loop is
the most any contender could gain over that loop with these kernels and
this model, were its input free.

Printed: two-view images per second (one image = one example, both views)
per second of wall time and per CPU-second of the contender's process (the
CPU figure moves much less with other jobs' load on a shared machine), and
the ratios to the companion loop and to kcontrast on TensorFlow.

The limit: the FLOPs of one training step, counted analytically from the
layer shapes (Conv2D and Dense multiply-adds x2; backward = 2x forward,
minus the first convolution's input gradient; the probe's backward only
for its kernel; NT-Xent's similarity matmul; BatchNorm, ReLU and the
optimizer's element-wise work are left out), and the achieved GFLOP/s
against this machine's float32 matmul peak, measured here with NumPy and
TensorFlow on 2048x2048 matrices (the best of both).

``--sweep``: runs ``python -m kcontrast.run --exp=randbit --nosave_models``
(the full default sweep, 15 points) in a subprocess and splits its wall time
into start-up (the time before the first point and around each point's
fit/evaluation: building, writing), training (``train_time_s`` of every
point) and evaluation (``eval_time_s``: features, probes and kNN), with the
peak resident memory of the run's process.

``--json`` prints, as its last line, one JSON object of two-view images per
second (wall), keyed ``kcontrast_<backend>[_bf16]_<batch>`` and
``companion[_bf16]_<batch>``, plus ``flops_per_image``,
``matmul_peak_gflops``, ``matmul_peak_bf16_gflops`` and, with ``--sweep``,
``sweep_*`` figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import kcontrast  # noqa: F401  first: under torch, it sets torch's threads up (quiet_imports)

BACKENDS = ("tensorflow", "jax", "torch")
PRECISIONS = ("float32", "mixed_bfloat16")
TAGS = {"float32": "", "mixed_bfloat16": "_bf16"}   # in the contenders' names
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_TAG = "THROUGHPUT_RESULT "


# ----------------------------------------------------------------- the work
def point_config(bits, batch_size, sets=()):
    """The randbit experiment's default point config at ``bits`` and
    ``batch_size``, with ``sets`` (``["key=value"]``) applied."""
    from kcontrast import config as cfg

    # This checkout's experiments/randbit.py (an installed kcontrast may map
    # kcontrast.experiments to another checkout).
    sys.path.insert(0, ROOT)
    from experiments import randbit

    base, _ = cfg.split_meta(randbit.get_config())
    params = {"data.args.bits": bits, "optim.batch_size": batch_size}
    for text in sets:
        key, values = cfg.parse_assignment(base, text)
        params[key] = values[0]
    return cfg.point_config(base, params)


def load_randbit(bits):
    from kcontrast.data import build_dataset

    return build_dataset("randbit", base="mnist5k", bits=bits, seed=0)


class _Timer:
    """Wall and process CPU seconds between ``start`` and ``stop``."""

    def start(self):
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def stop(self):
        self.seconds = time.perf_counter() - self.t0
        self.cpu_seconds = time.process_time() - self.c0


def _rates(images, timer):
    return {"wall": images / timer.seconds, "cpu": images / timer.cpu_seconds}


# ------------------------------------------------------------ kcontrast fit
def kcontrast_rate(bits, batch_size, steps, warmup, sets=(), held=False):
    """Two-view images/s of ``ContrastiveModel.fit`` on the active backend;
    ``held=True``: on one augmented batch held in memory and fed again at
    every step (the step alone, without the input pipeline's work; with
    ``data.augment_in=model`` in ``sets`` the held batch is raw and the
    crop still runs in every step)."""
    import keras
    import tensorflow as tf

    from kcontrast import pretrain
    from kcontrast.data.pipeline import pretrain_dataset

    config = point_config(bits, batch_size, sets)
    ds = load_randbit(bits)
    keras.utils.set_random_seed(0)
    data = pretrain_dataset(ds.train, augment="companion", batch_size=batch_size,
                            seed=0, augment_in=config["data"]["augment_in"]).repeat()
    if held:
        data = tf.data.Dataset.from_tensors(next(iter(data))).repeat()
    model = pretrain.build_model(config, ds.input_shape, ds.num_classes)
    pretrain.compile_model(model, config, pretrain.steps_per_epoch(config, len(ds.train)))
    timer = _Timer()

    class Epoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            timer.start()

        def on_epoch_end(self, epoch, logs=None):
            timer.stop()

    model.fit(data, epochs=1, steps_per_epoch=warmup, verbose=0)
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[Epoch()])
    return _rates(steps * batch_size, timer)


# ---------------------------------------------------- companion-style loop
def companion_dataset(split, bits, batch_size, seed=0):
    """The companion recipe's input: per example, the bits are the hash of
    the PNG-encoded digit (``bits`` low bits of
    ``to_hash_bucket_fast(png, 2**bits)``), recomputed on every pass; per
    batch, the crop is drawn once for each view. Yields ``(view1, view2,
    label)``, the views ``[B, 28, 28, 1 + bits]``."""
    import tensorflow as tf

    from kcontrast.data.augment import companion

    images = np.asarray(split.images, np.float32)
    labels = np.asarray(split.labels["label"], np.int32)

    def hash_bits(image, label):
        png = tf.io.encode_png(tf.cast(tf.round(image * 255.0), tf.uint8))
        if bits == 0:
            return image, tf.zeros([0], tf.float32), label
        code = tf.strings.to_hash_bucket_fast(png, 2 ** bits)
        planes = tf.bitwise.right_shift(code, tf.range(bits, dtype=tf.int64)) % 2
        return image, tf.cast(planes, tf.float32), label

    def views(image, b, label, seed):
        def view(s):
            v = companion(image, s)
            planes = tf.broadcast_to(b[:, None, None, :],
                                     tf.concat([tf.shape(v)[:3], [bits]], 0))
            return tf.concat([v, planes], axis=-1)
        return view(seed[:2]), view(seed[2:]), label

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.shuffle(len(images), seed=seed).repeat()
    ds = ds.map(hash_bits, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=True)
    seeds = tf.data.Dataset.random(seed=seed + 1).batch(4)
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        lambda x, s: views(*x, s), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def companion_rate(bits, batch_size, steps, warmup, precision="float32", held=False):
    """Two-view images/s of the companion-style GradientTape loop; with
    ``precision="mixed_bfloat16"`` its layers are built under that Keras
    policy and the losses upcast to float32, as kcontrast's are;
    ``held=True``: every step on the same batch, drawn once (no input
    pipeline, no hashing)."""
    import keras
    import tensorflow as tf

    from kcontrast.models import projection_head, small_convnet

    config = point_config(bits, batch_size)
    m, o = config["model"], config["optim"]
    temperature = config["loss"]["temperature"]
    ds = load_randbit(0)
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(precision)
    encoder = small_convnet((28, 28, 1 + bits), width=m["width"],
                            weight_decay=m["weight_decay"], bn_momentum=m["bn_momentum"])
    head = projection_head(128 * m["width"], depth=m["head_depth"],
                           hidden_units=m["head_hidden_units"],
                           output_units=m["head_output_units"],
                           weight_decay=m["weight_decay"], bn_momentum=m["bn_momentum"])
    probe = keras.layers.Dense(10)
    probe.build((None, 128 * m["width"]))
    total = max(1, len(ds.train) // batch_size * o["epochs"])
    optimizer = keras.optimizers.Adam(keras.optimizers.schedules.PolynomialDecay(
        o["learning_rate"], decay_steps=total, end_learning_rate=0.0))
    variables = (encoder.trainable_variables + head.trainable_variables
                 + probe.trainable_variables)
    optimizer.build(variables)

    def nt_xent(z1, z2):
        # SimCLR NT-Xent on [z1; z2]: 2n x 2n cosine logits / t, self excluded.
        z = tf.math.l2_normalize(tf.cast(tf.concat([z1, z2], 0), tf.float32), axis=1)
        n = tf.shape(z1)[0]
        logits = tf.matmul(z, z, transpose_b=True) / temperature
        logits -= 1e9 * tf.eye(2 * n)
        positive = tf.concat([tf.range(n, 2 * n), tf.range(n)], 0)
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            positive, logits))

    @tf.function
    def train_step(v1, v2, y):
        with tf.GradientTape() as tape:
            h1 = encoder(v1, training=True)
            z1 = head(h1, training=True)
            h2 = encoder(v2, training=True)
            z2 = head(h2, training=True)
            logits = tf.cast(probe(tf.stop_gradient(h1)), tf.float32)
            probe_loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
            loss = nt_xent(z1, z2) + probe_loss + tf.cast(
                tf.add_n(encoder.losses + head.losses), tf.float32)
        grads = tape.gradient(loss, variables)
        optimizer.apply(grads, variables)
        return loss

    it = iter(companion_dataset(ds.train, bits, batch_size))
    if held:
        batch = next(it)

        def next_batch(_):
            return batch
    else:
        next_batch = next
    for _ in range(warmup):
        loss = train_step(*next_batch(it))
    loss.numpy()
    timer = _Timer()
    timer.start()
    for _ in range(steps):
        loss = train_step(*next_batch(it))
    loss.numpy()
    timer.stop()
    return _rates(steps * batch_size, timer)


# ---------------------------------------------------------------- the limit
def step_flops(bits, batch_size):
    """FLOPs of one training step of the default randbit model on a batch
    of ``batch_size`` examples (two views), counted from the layer shapes.

    Forward of a Conv2D: ``2 * Ho * Wo * k_h * k_w * C_in * C_out`` per
    image; of a Dense: ``2 * d_in * d_out``. Backward: 2x forward (input
    and kernel gradients), except the first convolution (no input
    gradient: 1x) and the probe (stop_gradient below it: 1x). NT-Xent:
    ``2 * (2n)^2 * P`` forward, 3x with its backward. BatchNorm, ReLU,
    the softmax and the optimizer's element-wise updates are left out.

    Returns ``(flops per step, forward FLOPs per image of encoder + head)``.
    """
    import keras

    from kcontrast import pretrain

    config = point_config(bits, batch_size)
    model = pretrain.build_model(config, (28, 28, 1 + bits), {"label": 10})

    def layer_flops(sub):
        out = []
        for layer in sub.layers:
            if isinstance(layer, keras.layers.Conv2D):
                _, ho, wo, co = layer.output.shape
                kh, kw, ci, _ = layer.kernel.shape
                out.append(2 * ho * wo * kh * kw * ci * co)
            elif isinstance(layer, keras.layers.Dense):
                di, do = layer.kernel.shape
                out.append(2 * di * do)
        return out

    enc, head = layer_flops(model.encoder), layer_flops(model.head)
    forward = sum(enc) + sum(head)
    backward = 2 * forward - enc[0]  # no input gradient at the first conv
    probe = sum(2 * int(np.prod(p.kernel.shape)) for p in model.probes.values())
    views = 2 * batch_size
    p = config["model"]["head_output_units"]
    loss = 3 * 2 * views * views * p
    probe_rows = views if config["model"].get("probe_views", "both") == "both" else batch_size
    return views * (forward + backward) + probe_rows * 2 * probe + loss, forward


def matmul_peak(n=2048, repeats=5):
    """Best float32 GFLOP/s of an n x n matmul, NumPy and TensorFlow, and
    TensorFlow's bfloat16 one (``tensorflow_bf16``)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2 * n ** 3
    best = {}
    a @ b
    best["numpy"] = max(flops / _timed(lambda: a @ b) for _ in range(repeats)) / 1e9
    ta, tb = tf.constant(a), tf.constant(b)
    tf.matmul(ta, tb).numpy()
    best["tensorflow"] = max(
        flops / _timed(lambda: tf.matmul(ta, tb).numpy()) for _ in range(repeats)) / 1e9
    ha, hb = tf.cast(ta, tf.bfloat16), tf.cast(tb, tf.bfloat16)
    tf.matmul(ha, hb).numpy()
    best["tensorflow_bf16"] = max(
        flops / _timed(lambda: tf.matmul(ha, hb).numpy()) for _ in range(repeats)) / 1e9
    return best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# -------------------------------------------------------------- the sweep
def sweep_cost(out_dir, backend="tensorflow", extra=()):
    """Runs the full default randbit sweep and splits its cost.

    Returns ``{"wall_s", "startup_s", "train_s", "eval_s", "other_s",
    "peak_rss_mib", "points"}``: ``wall_s`` the subprocess's whole wall
    time (imports included); ``train_s`` / ``eval_s`` the sums of the
    points' ``train_time_s`` / ``eval_time_s``; ``startup_s`` the part of
    the wall time before ``results.json``'s clock starts (imports, config,
    data checks); ``other_s`` the rest (building and compiling each model,
    writing configs, TensorBoard and results).
    """
    out = os.path.join(out_dir, "randbit")
    command = [sys.executable, "-m", "kcontrast.run", "--exp=randbit",
               "--nosave_models", f"--out={out}", f"--backend={backend}", *extra]
    # A wrapper process whose only child is the run, so that its children's
    # peak RSS is the run's own (not an earlier contender's).
    wrapper = ("import resource, subprocess, sys\n"
               "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", wrapper, *command], check=True,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak = int(done.stdout.split()[-1]) / 1024
    with open(os.path.join(out, "results.json")) as f:
        record = json.load(f)
    train = sum(r["metrics"]["train_time_s"] for r in record["runs"])
    evaluation = sum(r["metrics"]["eval_time_s"] for r in record["runs"])
    startup = wall - record["wall_time_s"]
    return {"wall_s": wall, "startup_s": startup, "train_s": train, "eval_s": evaluation,
            "other_s": record["wall_time_s"] - train - evaluation,
            "peak_rss_mib": peak, "points": len(record["runs"])}


# ----------------------------------------------------------------- driver
def worker(args):
    """One contender in this process: prints its rates as one tagged line."""
    result = {}
    (precision,) = args.precisions
    for held in ([False, True] if args.held else [False]):
        for batch in args.batch_sizes:
            if args.worker == "kcontrast":
                sets = list(args.set) + [f"model.precision={precision}",
                                         f"data.augment_in={args.augment_in[0]}"]
                rates = kcontrast_rate(args.bits, batch, args.steps, args.warmup, sets, held)
            else:
                rates = companion_rate(args.bits, batch, args.steps, args.warmup, precision,
                                       held)
            result[f"held_{batch}" if held else str(batch)] = rates
    print(RESULT_TAG + json.dumps(result), flush=True)


def print_floors(rates, batch_sizes):
    """What the held-batch runs say: each contender's fed rate as a share
    of its own held-batch rate (the rest is the input pipeline's cost, and
    the hashing's for the companion loop), and the fastest held step
    against the fed companion loop: the most any contender could gain over
    the companion loop with these kernels, were its input free."""
    print("\nheld batch (the step alone): fed rate as a share of the contender's own "
          "held rate")
    for name, held in rates.items():
        fed_name = name.replace("_held_", "_")
        if fed_name != name and fed_name in rates:
            print(f"  {fed_name:<38}{100 * rates[fed_name]['wall'] / held['wall']:5.1f}% "
                  f"of {held['wall']:.0f} img/s")
    for batch in batch_sizes:
        for tag in ("", "_bf16"):
            comp = rates.get(f"companion{tag}_{batch}")
            floors = {n: r for n, r in rates.items()
                      if n.endswith(f"{tag}_held_{batch}") and (tag or "_bf16_" not in n)}
            if comp and floors:
                best = max(floors, key=lambda n: floors[n]["wall"])
                print(f"  batch {batch}{tag}: fastest held step {best} "
                      f"{floors[best]['wall']:.0f} img/s = "
                      f"{floors[best]['wall'] / comp['wall']:.2f}x the fed companion loop")


def print_fastest(rates, batch_sizes):
    """The fastest fed kcontrast contender (a complete configuration: data to
    weights, chosen by flags) per batch size, against the fed companion loop
    and, when timed, its own held-batch rate."""
    for batch in batch_sizes:
        fed = {n: r for n, r in rates.items() if n.startswith("kcontrast_")
               and n.endswith(f"_{batch}") and "_held_" not in n and "_bf16_" not in n}
        comp = rates.get(f"companion_{batch}")
        if not fed or not comp:
            continue
        best = max(fed, key=lambda n: fed[n]["wall"])
        held = rates.get(best[:-len(f"_{batch}")] + f"_held_{batch}")
        share = f", {100 * fed[best]['wall'] / held['wall']:.0f}% of its held rate" if held else ""
        print(f"fastest kcontrast at batch {batch}: {best} = "
              f"{fed[best]['wall'] / comp['wall']:.2f}x the fed companion loop{share}")


def run_worker(kind, backend, args, precision="float32", augment_in="pipeline"):
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, os.path.abspath(__file__), f"--worker={kind}",
               f"--precisions={precision}", f"--augment_in={augment_in}",
               f"--bits={args.bits}", f"--steps={args.steps}", f"--warmup={args.warmup}",
               "--batch_sizes=" + ",".join(map(str, args.batch_sizes))]
    command += [f"--set={s}" for s in args.set]
    command += ["--held"] if args.held else []
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(f"{kind} on {backend} failed:\n{proc.stderr[-3000:]}")


def _int_list(text):
    return [int(v) for v in text.split(",") if v.strip()]


def _choice_list(allowed, what):
    """An argparse type: a comma-separated list of names from ``allowed``."""
    def parse(text):
        names = [v.strip() for v in text.split(",") if v.strip()]
        for name in names:
            if name not in allowed:
                raise argparse.ArgumentTypeError(
                    f"Expected {what} among {list(allowed)}; Received: {name!r}")
        return names
    return parse


_name_list = _choice_list(BACKENDS, "backends")
_precision_list = _choice_list(PRECISIONS, "precisions")
AUGMENT_IN = ("pipeline", "model")
INGRAPH = {"pipeline": "", "model": "_ingraph"}  # in the contenders' names
_augment_list = _choice_list(AUGMENT_IN, "augment_in")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--backends", type=_name_list, default=list(BACKENDS))
    parser.add_argument("--batch_sizes", type=_int_list, default=[256, 1000])
    parser.add_argument("--bits", type=int, default=5)
    parser.add_argument("--precisions", type=_precision_list, default=["float32"],
                        help="model.precision values to time, each against the companion "
                             "loop at the same precision")
    parser.add_argument("--augment_in", type=_augment_list, default=list(AUGMENT_IN),
                        help="kcontrast's augmentation paths to time: pipeline (tf.data), "
                             "model (inside the train step, named _ingraph)")
    parser.add_argument("--no_companion", action="store_true",
                        help="skip the companion-style loop")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="config override for kcontrast, e.g. optim.jit_compile=false")
    parser.add_argument("--held", action="store_true",
                        help="also time every contender on one batch held in memory: "
                             "its step alone, the floor its input pipeline sits on")
    parser.add_argument("--sweep", action="store_true",
                        help="also time the full default randbit sweep (minutes)")
    parser.add_argument("--sweep_out", default=None,
                        help="directory of the sweep's output (default: a temporary one)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object as the last line")
    parser.add_argument("--worker", choices=["kcontrast", "companion"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1:
        parser.error(f"Expected --steps >= 1 and --warmup >= 1; "
                     f"Received: steps={args.steps}, warmup={args.warmup}")
    return args


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    if args.worker:
        return worker(args)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"randbit default model, mnist5k, bits={args.bits}, {args.steps} timed steps "
          f"after {args.warmup}; cpus={os.cpu_count()}, load average {load}")
    if args.set:
        print(f"kcontrast overrides: {' '.join(args.set)}")
    rates = {}
    for precision in args.precisions:
        tag = TAGS[precision]
        for backend in args.backends:
            for where in args.augment_in:
                result = run_worker("kcontrast", backend, args, precision, where)
                for batch, r in result.items():
                    rates[f"kcontrast_{backend}{INGRAPH[where]}{tag}_{batch}"] = r
        if not args.no_companion:
            for batch, r in run_worker("companion", "tensorflow", args, precision).items():
                rates[f"companion{tag}_{batch}"] = r

    print(f"\n{'contender':<38}{'img/s wall':>11}{'img/s cpu':>11}"
          f"{'vs companion':>14}{'vs kc-tf':>10}{'cpu vs comp':>13}{'cpu vs kc-tf':>14}")
    for name, r in rates.items():
        batch = name.rsplit("_", 1)[1]
        tag = "_bf16" if "_bf16_" in name else ""
        comp = rates.get(f"companion{tag}_{batch}")
        tf_rate = rates.get(f"kcontrast_tensorflow{tag}_{batch}")
        ratio = f"{r['wall'] / comp['wall']:.2f}x" if comp else "-"
        ratio_tf = f"{r['wall'] / tf_rate['wall']:.2f}x" if tf_rate else "-"
        cpu_ratio = f"{r['cpu'] / comp['cpu']:.2f}x" if comp else "-"
        cpu_tf = f"{r['cpu'] / tf_rate['cpu']:.2f}x" if tf_rate else "-"
        print(f"{name:<38}{r['wall']:>11.0f}{r['cpu']:>11.0f}{ratio:>14}{ratio_tf:>10}"
              f"{cpu_ratio:>13}{cpu_tf:>14}")

    if args.held:
        print_floors(rates, args.batch_sizes)
    print_fastest(rates, args.batch_sizes)

    peak = matmul_peak()
    peak_best = max(peak["numpy"], peak["tensorflow"])
    summary = {name: round(r["wall"], 1) for name, r in rates.items()}
    print(f"\nfloat32 matmul peak (2048^3): numpy {peak['numpy']:.1f} GFLOP/s, "
          f"tensorflow {peak['tensorflow']:.1f} GFLOP/s; bfloat16 (tensorflow) "
          f"{peak['tensorflow_bf16']:.1f} GFLOP/s")
    print("FLOPs of one training step, counted from layer shapes (conv/dense "
          "multiply-adds x2, backward 2x, NT-Xent matmul; BN/ReLU/optimizer left out):")
    flops_per_image = None
    for batch in args.batch_sizes:
        flops, forward = step_flops(args.bits, batch)
        flops_per_image = flops / batch
        print(f"  batch {batch}: {flops / 1e9:.2f} GFLOP per step "
              f"({flops / batch / 1e6:.1f} MFLOP per two-view image; forward "
              f"{forward / 1e6:.2f} MFLOP per view)")
        for name, r in rates.items():
            if name.endswith(f"_{batch}"):
                achieved = r["wall"] * flops / batch / 1e9
                bf16 = "_bf16_" in name
                limit = peak["tensorflow_bf16"] if bf16 else peak_best
                print(f"    {name:<38}{achieved:7.1f} GFLOP/s = "
                      f"{100 * achieved / limit:5.1f}% of the "
                      f"{'bfloat16' if bf16 else 'float32'} matmul peak")
    summary["flops_per_image"] = round(flops_per_image)
    summary["matmul_peak_gflops"] = round(peak_best, 1)
    summary["matmul_peak_bf16_gflops"] = round(peak["tensorflow_bf16"], 1)

    if args.sweep:
        with tempfile.TemporaryDirectory(dir=args.sweep_out) as tmp:
            cost = sweep_cost(tmp)
        print(f"\nfull default randbit sweep ({cost['points']} points, tensorflow): "
              f"wall {cost['wall_s']:.0f} s = start-up {cost['startup_s']:.0f} s + "
              f"training {cost['train_s']:.0f} s + evaluation {cost['eval_s']:.0f} s + "
              f"other {cost['other_s']:.0f} s; peak RSS {cost['peak_rss_mib']:.0f} MiB")
        summary.update({f"sweep_{k}": round(v, 1) for k, v in cost.items()})
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
