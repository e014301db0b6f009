"""Where the backends differ: the small ConvNet's convolutions, forward and
backward, as each Keras backend runs them, side by side in one invocation.

    PYTHONPATH=. python bench/conv_kernels.py [--batch=512] [--repeats=20] [--json]

``bench/throughput.py`` measures whole training steps; this isolates the
part that decides their ratio. For each convolution of the randbit default
model (``kcontrast.models.small_convnet`` with 5 RandBit channels, a batch of
``--batch`` images = both views of 256 examples), it times one
``keras.layers.Conv2D`` (3x3, stride 2, valid, no bias; the layer kcontrast
builds) forward plus the gradients of a squared-sum loss with respect to
its input and kernel, compiled as each backend compiles a train step
(``tf.function``, ``jax.jit``; PyTorch eager, as Keras runs it by default).
Each backend runs in its own subprocess (``KERAS_BACKEND`` is fixed at
import) on the same inputs.

Printed: milliseconds per forward+backward for each layer and backend, the
sum, and each backend's sum relative to TensorFlow's. ``--json`` prints, as
its last line, ``{"<backend>_<layer>": ms, "<backend>_total": ms}``.

Only the convolutions are timed: BatchNorm, the Dense layers, the loss and
the optimizer are left out (``throughput.py`` has the whole step).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import kcontrast  # noqa: F401  first: under torch, it sets torch's threads up (quiet_imports)

BACKENDS = ("tensorflow", "jax", "torch")
RESULT_TAG = "CONV_RESULT "
# (input side, input channels, filters) of the three convolutions of
# small_convnet on 28x28 RandBit images with 5 bits (1 + 5 channels).
LAYERS = ((28, 6, 32), (13, 32, 64), (6, 64, 64))


def _timer(step, repeats):
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats * 1e3


def layer_ms(backend, batch, side, channels, filters, repeats):
    """Milliseconds of one forward + input and kernel gradients."""
    import keras

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, side, side, channels)).astype("float32")
    layer = keras.layers.Conv2D(filters, 3, strides=2, padding="valid", use_bias=False)
    layer.build(x.shape)
    if backend == "tensorflow":
        import tensorflow as tf

        tx = tf.constant(x)

        @tf.function
        def grads(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs) ** 2)
            return tape.gradient(loss, [inputs, layer.kernel])

        return _timer(lambda: [g.numpy() for g in grads(tx)], repeats)
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        kernel = jnp.asarray(keras.ops.convert_to_numpy(layer.kernel))

        def loss(inputs, k):
            y = keras.ops.conv(inputs, k, strides=2, padding="valid")
            return jnp.sum(y ** 2)

        grads = jax.jit(jax.grad(loss, argnums=(0, 1)))
        jx = jnp.asarray(x)
        return _timer(lambda: jax.block_until_ready(grads(jx, kernel)), repeats)
    import torch

    tx = torch.tensor(x, requires_grad=True)

    def step():
        tx.grad = None
        layer.kernel.value.grad = None
        torch.sum(layer(tx) ** 2).backward()

    return _timer(step, repeats)


def worker(args):
    import keras

    backend = keras.backend.backend()
    result = {f"{side}x{side}x{c}->{f}": layer_ms(backend, args.batch, side, c, f, args.repeats)
              for side, c, f in LAYERS}
    print(RESULT_TAG + json.dumps(result), flush=True)


def run_worker(backend, args):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__), "--worker",
               f"--batch={args.batch}", f"--repeats={args.repeats}"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(f"{backend} failed:\n{proc.stderr[-3000:]}")


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"Expected a positive integer; Received: {text!r}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=_positive, default=512,
                        help="images per call (both views of 256 examples)")
    parser.add_argument("--repeats", type=_positive, default=20)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Conv2D 3x3 stride 2 forward + backward, batch {args.batch}, {args.repeats} "
          f"repeats; cpus={os.cpu_count()}, load average {load}")
    results = {backend: run_worker(backend, args) for backend in BACKENDS}
    names = list(results["tensorflow"])
    print(f"\n{'layer':<18}" + "".join(f"{b:>12}" for b in BACKENDS))
    for name in names:
        print(f"{name:<18}" + "".join(f"{results[b][name]:>10.1f}ms" for b in BACKENDS))
    totals = {b: sum(results[b].values()) for b in BACKENDS}
    print(f"{'total':<18}" + "".join(f"{totals[b]:>10.1f}ms" for b in BACKENDS))
    print(f"{'vs tensorflow':<18}" + "".join(
        f"{totals[b] / totals['tensorflow']:>11.2f}x" for b in BACKENDS))
    if args.json:
        flat = {f"{b}_{n}": round(v, 2) for b in BACKENDS for n, v in results[b].items()}
        flat.update({f"{b}_total": round(t, 2) for b, t in totals.items()})
        print(json.dumps(flat))


if __name__ == "__main__":
    main()
