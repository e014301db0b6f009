"""Time per call of every registered contrastive loss, on each backend.

Usage (from the repository root):

    python bench/losses.py                      # one subprocess per backend
    python bench/losses.py --backend=jax        # a single backend
    python bench/losses.py --batches=256 --reps=3   # a quick look

For each loss in `kcontrast.losses.LOSSES` and each batch size n (the two
views are [n, d] each, d = 128 by default) it prints the median wall time of
one forward call (the best of --reps timed calls: the machine is shared,
and the minimum is the figure least disturbed by other processes), compiled
where the backend allows (tf.function on
TensorFlow, jax.jit on JAX with the SeedGenerator state threaded through a
StatelessScope; eager on PyTorch), the first (compiling) call excluded.

It then times the sliced Wasserstein distance of a [b, d] batch (b = 2048
by default) with `ops.sort` against the companion code's rank-matrix sort
(rank = sum_k [x_i > x_k] per column, then a one-hot permutation matrix),
reimplemented below in keras.ops. The rank sort needs O(b^2 d) time and
memory (a [d, b, b] comparison and a [d, b, b] one-hot); it is run in chunks
of 16 dimensions so that it fits in memory; its time is the same O(b^2 d).
On eager PyTorch, where the full rank sort alone takes minutes, it is timed
on 16 of the d slices and scaled by d / 16 (see --rank_slices).

OPENBLAS_NUM_THREADS defaults to 1 here. On JAX the SWD projection's QR
runs in the OpenBLAS that jaxlib's LAPACK kernels call; with OpenBLAS's own
threads next to XLA's on 2 busy cores, a 20 ms SWD call intermittently took
~600 ms (thread spin/sleep contention). A single OpenBLAS thread removes the
stalls; a 128 x 128 QR gains nothing from threads. Set it for JAX training
runs with an SWD loss on small CPUs too.

Total runtime: about 2 minutes (101-125 s measured on the 2-core dev machine
with other jobs running).
"""

import argparse
import os
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default=None,
                        help="run one backend in-process (default: all, "
                             "one subprocess each)")
    parser.add_argument("--batches", default="256,2048,8192",
                        help="comma-separated batch sizes n")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--reps", type=int, default=0,
                        help="timed calls per case (0: 20/5/1 by size)")
    parser.add_argument("--sort_batch", type=int, default=2048,
                        help="rows b of the sort comparison (0: skip it)")
    parser.add_argument("--rank_slices", type=int, default=0,
                        help="slices the rank-matrix sort times (0: all "
                             "d, but 16 on torch; its time is scaled by "
                             "d / rank_slices)")
    return parser.parse_args(argv)


def run_all(args):
    """Runs this script once per backend in a subprocess."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=root + os.pathsep + os.environ.get(
                       "PYTHONPATH", ""))
        cmd = [sys.executable, os.path.abspath(__file__),
               f"--backend={backend}", f"--batches={args.batches}",
               f"--dim={args.dim}", f"--reps={args.reps}",
               f"--sort_batch={args.sort_batch}",
               f"--rank_slices={args.rank_slices}"]
        sys.stdout.flush()
        result = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        sys.stdout.write(result.stdout)
        if result.returncode:
            sys.stdout.write(f"[{backend}] failed:\n{result.stderr[-2000:]}\n")
        sys.stdout.flush()


def compile_fn(loss_fn, loss):
    """Returns `call(z1, z2) -> float` compiled for the current backend."""
    import keras

    backend = keras.backend.backend()
    generator = getattr(loss, "seed_generator", None)
    if backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(loss_fn)
        return lambda z1, z2: float(fn(z1, z2))
    if backend == "jax":
        import jax

        if generator is None:
            fn = jax.jit(loss_fn)
            return lambda z1, z2: float(fn(z1, z2))
        var = generator.state

        @jax.jit
        def stateless(state, z1, z2):
            with keras.StatelessScope(state_mapping=[(var, state)]) as scope:
                value = loss_fn(z1, z2)
            return value, scope.get_current_value(var)

        holder = {"state": var.value}

        def call(z1, z2):
            value, holder["state"] = stateless(holder["state"], z1, z2)
            return float(value)

        return call
    return lambda z1, z2: float(loss_fn(z1, z2))


def time_calls(call, args, reps, warm_up=True):
    """Returns (best time of `reps` calls, value of the first call)."""
    if not warm_up:
        start = time.perf_counter()
        value = call(*args)
        return time.perf_counter() - start, value
    value = call(*args)  # compile / warm up, excluded
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        call(*args)
        times.append(time.perf_counter() - start)
    return min(times), value


def rank_matrix_sort(x):
    """Sorts each row of `x` ([k, b]) the companion code's way: O(k b^2).

    rank_i = #{j: x_i > x_j}, then a one-hot [k, b, b] permutation matrix
    contracted with arange(b). The companion code has no tie-break: two
    equal values get the same rank and the "permutation" sums their
    indices, out of range. Float32 ties are common at b = 2048 (about 2M
    pairs per column), so this copy adds the index tie-break
    `x_i == x_j and i > j`, at the same O(k b^2) cost.
    """
    from keras import ops

    b = x.shape[1]
    xi, xj = ops.expand_dims(x, 2), ops.expand_dims(x, 1)
    idx = ops.arange(b, dtype="int32")
    earlier = ops.expand_dims(idx, 1) > ops.expand_dims(idx, 0)  # i > j
    before = ops.logical_or(xi > xj, ops.logical_and(xi == xj, earlier))
    rank = ops.sum(ops.cast(before, "int32"), axis=2)
    perm = ops.transpose(ops.one_hot(rank, b, dtype="float32"), [0, 2, 1])
    rank_inv = ops.einsum("kbc,c->kb", perm, ops.arange(b, dtype="float32"))
    return ops.take_along_axis(x, ops.cast(rank_inv, "int32"), axis=1)


def swd_rank_sort(h, prior, w, chunk=16):
    """`sliced_wasserstein` with the rank-matrix sort, chunked over slices."""
    from keras import ops

    x = ops.transpose(ops.matmul(h, w))
    y = ops.transpose(ops.matmul(prior, w))
    total = 0.0
    for start in range(0, x.shape[0], chunk):
        xs = rank_matrix_sort(x[start:start + chunk])
        ys = rank_matrix_sort(y[start:start + chunk])
        total = total + ops.sum(ops.square(xs - ys))
    return total / (x.shape[0] * x.shape[1])


def run_backend(args):
    import keras
    import numpy as np
    from keras import ops

    from kcontrast.losses import LOSSES
    from kcontrast.losses import make_loss
    from kcontrast.losses import sliced_wasserstein

    backend = keras.backend.backend()
    batches = [int(b) for b in args.batches.split(",") if b]
    d = args.dim
    rng = np.random.default_rng(0)
    print(f"[{backend}] time per forward call, d={d} "
          "(best of reps; first call excluded)")
    print(f"{'loss':<18}" + "".join(f"{'n=' + str(b):>12}" for b in batches))
    for name in LOSSES:
        cells = []
        for n in batches:
            reps = args.reps or (20 if n <= 512 else 5 if n <= 4096 else 1)
            z1 = ops.convert_to_tensor(rng.normal(size=(n, d)), "float32")
            z2 = ops.convert_to_tensor(rng.normal(size=(n, d)), "float32")
            loss = make_loss(name, seed=0)
            call = compile_fn(lambda a, b, loss=loss: loss(a, b), loss)
            seconds, _ = time_calls(call, (z1, z2), reps)
            cells.append(f"{1e3 * seconds:10.1f}ms")
        print(f"{name:<18}" + "".join(f"{c:>12}" for c in cells))
        sys.stdout.flush()

    b = args.sort_batch
    if b:
        h = ops.convert_to_tensor(rng.normal(size=(b, d)), "float32")
        p = ops.convert_to_tensor(rng.normal(size=(b, d)), "float32")
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        w = ops.convert_to_tensor(q, "float32")
        fast = compile_fn(lambda x, y: sliced_wasserstein(x, y, w), None)
        t_fast, v_fast = time_calls(fast, (h, p), 5)
        # The rank sort runs slice chunk after slice chunk, so its time is
        # linear in the number of slices. Eager PyTorch takes minutes for
        # all d: there it sorts the first `rank_slices` slices once (no
        # compile to exclude) and the time is scaled by d / rank_slices.
        k = args.rank_slices or (16 if backend == "torch" else d)
        w_k = w[:, :k]
        slow = compile_fn(lambda x, y: swd_rank_sort(x, y, w_k), None)
        t_slow, v_slow = time_calls(slow, (h, p), 1,
                                    warm_up=backend != "torch")
        t_slow *= d / k
        check = compile_fn(lambda x, y: sliced_wasserstein(x, y, w_k), None)
        np.testing.assert_allclose(check(h, p), v_slow, rtol=1e-4)
        rank_bytes = 2 * d * b * b * 4
        note = "" if k == d else f" (timed on {k} of {d} slices, x{d // k})"
        print(f"[{backend}] SWD of [{b}, {d}]: ops.sort {1e3 * t_fast:.2f} ms,"
              f" rank-matrix sort {1e3 * t_slow:.1f} ms{note}, "
              f"ratio {t_slow / t_fast:.0f}x; memory O(b*d) = "
              f"{2 * b * d * 4 / 2**20:.1f} MiB vs the unchunked rank sort's"
              f" [d, b, b] int32 + one-hot float32 >= "
              f"{rank_bytes / 2**30:.1f} GiB per sorted matrix")
    print()


def main(argv=None):
    args = parse_args(argv)
    if args.backend is None:
        run_all(args)
        return
    if os.environ.get("KERAS_BACKEND") != args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see the docstring
    sys.path.insert(0, os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    run_backend(args)


if __name__ == "__main__":
    main()
