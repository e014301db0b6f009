"""The GPU check in one run, one table: what ``bench/device.sh`` runs.

    bash bench/device.sh                 # on a GPU machine (about 5 minutes)
    bash bench/device.sh --size=tiny     # the same stages at toy sizes, any CPU

Stages, each in its own subprocess per backend (``KERAS_BACKEND`` is fixed
at import), each under a time limit so that one slow stage costs its cell,
not the table:

1. ``step``: one training step of each paper preset (``paper_cifar10``,
   ``paper_cifar10_r18``, ``paper_imagenet``: the preset's encoder, LARS,
   a streamed RandBit over a small tfds set prepared on disk), seconds of
   the first step (tracing and compiling included) and of a second one.
2. ``throughput``: ``bench/throughput.py --json`` (kcontrast fed by tf.data,
   kcontrast with the augmentation in the train step, the companion loop on
   TensorFlow), two-view images/s at batch 256 and 1000.
3. ``augment``: the SimCLR "cifar" augmentation alone on batches of
   32x32x3 images, views/s: the tf.data path (``SimCLRAugment`` in a
   ``Dataset.map``) against ``ViewAugmentation`` in a compiled function
   on the backend's device.

Without a GPU (TensorFlow, JAX and PyTorch all see none) it stops with one
line and exit status 2, unless ``--size=tiny`` (the check of this script
itself) or ``--allow_cpu``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
PRESETS = ("paper_cifar10", "paper_cifar10_r18", "paper_imagenet")
TAG = "DEVICE_RESULT "
SIZES = {
    # batch of the preset step, image side of the cifar / imagenet presets,
    # throughput batch sizes and steps, augmentation batch and repeats,
    # seconds allowed per subprocess.
    "full": dict(step_batch=64, sides=(32, 224), batches=(256, 1000), steps=20,
                 aug_batch=1024, aug_repeats=20, limit=150),
    "tiny": dict(step_batch=4, sides=(8, 32), batches=(16,), steps=1,
                 aug_batch=16, aug_repeats=2, limit=600),
}


# ------------------------------------------------------------ in a worker
def devices():
    """The accelerators the active backend sees, as a short string."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        return ",".join(g.name for g in gpus) or "cpu"
    if backend == "jax":
        import jax
        return ",".join(sorted({d.platform for d in jax.devices()}))
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def preset_steps(size):
    """Seconds of the first and second training step of each paper preset."""
    import keras

    sys.path.insert(0, os.path.join(ROOT, "tests", "data", "sources"))
    import tfds_fixtures

    from kcontrast import pretrain, run
    from kcontrast.data.pipeline import pretrain_dataset

    s = SIZES[size]
    batch = s["step_batch"]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        tfds_fixtures.prepare(tmp, sizes=(200,))
        for preset in PRESETS:
            side = s["sides"][1] if "imagenet" in preset else s["sides"][0]
            plan = run.prepare([
                "kcontrast.run", "--exp=randbit", f"--preset={preset}",
                "--dataset=kcontrast_stream_images/n200", f"--data_dir={tmp}", "--bits=5",
                f"--batch_size={batch}", "--epochs=1", "--config.optim.warmup_epochs=0",
                f"--config.data.args.image_size={side}",
                f"--config.data.train_examples={2 * batch}",
                f"--out={os.path.join(tmp, 'out')}"])
            (config,) = plan["configs"]
            (ds,) = plan["datasets"].values()
            keras.utils.set_random_seed(0)
            model = pretrain.build_model(config, ds.input_shape, ds.num_classes)
            pretrain.compile_model(model, config, steps_per_epoch=2)
            train = pretrain_dataset(ds.train, augment=config["data"]["augment"],
                                     batch_size=batch, seed=0)
            it = train.repeat().as_numpy_iterator()  # every backend takes NumPy
            times = []
            for _ in range(2):
                x, y = next(it)
                start = time.perf_counter()
                model.train_on_batch(x, y)
                times.append(time.perf_counter() - start)
            out[preset] = {"first_s": times[0], "second_s": times[1], "side": side,
                           "batch": batch}
    return out


def augment_rates(size):
    """Views/s of the cifar augmentation: tf.data map against in-graph."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kcontrast.data.augment import make_augmentation
    from kcontrast.models.augment import ViewAugmentation

    s = SIZES[size]
    n, repeats = s["aug_batch"], s["aug_repeats"]
    x = np.random.default_rng(0).random((n, 32, 32, 3), np.float32)
    aug = make_augmentation("cifar")
    ds = tf.data.Dataset.from_tensors(x).repeat(repeats + 1)
    seeds = tf.data.Dataset.random(seed=1).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds)).map(
        aug, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
    it = iter(ds)
    next(it)
    start = time.perf_counter()
    for _ in range(repeats):
        next(it)
    pipeline = n * repeats / (time.perf_counter() - start)

    layer = ViewAugmentation("cifar", seed=0)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        fn = tf.function(lambda v: layer(v), jit_compile=False)
    elif backend == "jax":
        import jax
        state = layer.seed_generator.state

        @jax.jit
        def fn(v, seed_state):
            with keras.StatelessScope(state_mapping=[(state, seed_state)]) as scope:
                out = layer(v)
            return out, scope.get_current_value(state)
    else:
        fn = layer
    xt = keras.ops.convert_to_tensor(x)

    def once(seed_state=None):
        if backend == "jax":
            out, seed_state = fn(xt, seed_state)
            return out, seed_state
        return fn(xt), None

    seed_state = layer.seed_generator.state.value if backend == "jax" else None
    out, seed_state = once(seed_state)
    keras.ops.convert_to_numpy(out[:1])
    start = time.perf_counter()
    for _ in range(repeats):
        out, seed_state = once(seed_state)
    keras.ops.convert_to_numpy(out[:1])
    ingraph = n * repeats / (time.perf_counter() - start)
    return {"pipeline": pipeline, "ingraph": ingraph}


def worker(stage, size):
    result = {"devices": devices()}
    if stage == "step":
        result.update(preset_steps(size))
    else:
        result.update(augment_rates(size))
    print(TAG + json.dumps(result), flush=True)


# ----------------------------------------------------------------- driver
def _run(command, backend, limit):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, f"timeout {limit}s"
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"failed: {tail[:120]}"
    return done.stdout, f"{time.perf_counter() - start:.0f}s"


def _stage(stage, backend, size, limit):
    out, note = _run([sys.executable, os.path.abspath(__file__), f"--worker={stage}",
                      f"--size={size}"], backend, limit)
    if out is None:
        return None, note
    for line in out.splitlines():
        if line.startswith(TAG):
            return json.loads(line[len(TAG):]), note
    return None, "no result line"


def _throughput(backend, size, limit):
    s = SIZES[size]
    command = [sys.executable, os.path.join(ROOT, "bench", "throughput.py"), "--json",
               f"--backends={backend}", f"--steps={s['steps']}", "--warmup=2",
               "--batch_sizes=" + ",".join(map(str, s["batches"]))]
    if backend != "tensorflow":
        command.append("--no_companion")
    if size == "tiny":
        command.append("--bits=3")
    out, note = _run(command, backend, limit)
    if out is None:
        return None, note
    return json.loads(out.strip().splitlines()[-1]), note


def any_gpu(limit):
    """{backend: devices string} (one short subprocess per backend)."""
    code = ("import sys; sys.path.insert(0, %r); from bench.device import devices; "
            "print(devices())" % ROOT)
    seen = {}
    for backend in BACKENDS:
        out, note = _run([sys.executable, "-c", code], backend, limit)
        seen[backend] = out.strip().splitlines()[-1] if out else note
    return seen


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--allow_cpu", action="store_true",
                        help="run the full sizes even without a GPU")
    parser.add_argument("--worker", choices=["step", "augment"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.size)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in backends if b not in BACKENDS]
    if bad:
        parser.error(f"Expected backends among {list(BACKENDS)}; Received: {bad}")
    limit = SIZES[args.size]["limit"]
    seen = any_gpu(limit)
    gpu = any(v not in ("cpu",) and not v.startswith(("failed", "timeout")) for v in seen.values())
    print("devices: " + ", ".join(f"{b}={v}" for b, v in seen.items()), flush=True)
    if not gpu and args.size == "full" and not args.allow_cpu:
        print("device.sh: no GPU seen by any backend; nothing measured (run it on a GPU "
              "machine, or --size=tiny to check the script here)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    rows = []
    for backend in backends:
        steps, note = _stage("step", backend, args.size, limit)
        for preset in PRESETS:
            r = (steps or {}).get(preset)
            rows.append((backend, f"step {preset}", "-" if r is None else
                         f"first {r['first_s']:.2f} s, then {r['second_s']:.3f} s "
                         f"(batch {r['batch']}, {r['side']} px)", note))
        rates, note = _throughput(backend, args.size, limit * 2)
        for batch in SIZES[args.size]["batches"]:
            for name in (f"kcontrast_{backend}", f"kcontrast_{backend}_ingraph", "companion"):
                value = (rates or {}).get(f"{name}_{batch}")
                if value is None and name == "companion" and backend != "tensorflow":
                    continue
                rows.append((backend, f"throughput {name} b{batch}",
                             "-" if value is None else f"{value:.0f} img/s", note))
        aug, note = _stage("augment", backend, args.size, limit)
        rows.append((backend, "cifar augmentation, views/s", "-" if aug is None else
                     f"tf.data {aug['pipeline']:.0f}, in-graph {aug['ingraph']:.0f} "
                     f"({aug['ingraph'] / aug['pipeline']:.2f}x)", note))
    print(f"\n| backend | measurement | result | stage time |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nsize={args.size}; total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
