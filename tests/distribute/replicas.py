"""Two simulated devices: one strategy against one device, measured.

Run as ``python tests/distribute/replicas.py BACKEND OUT_DIR`` (BACKEND:
``tensorflow`` or ``jax``); ``test_replicas.py`` does, in a subprocess,
because the simulated devices must exist before the framework initializes:

- tensorflow: two logical CPU devices, ``--strategy=mirrored``;
- jax: ``XLA_FLAGS=--xla_force_host_platform_device_count=2``,
  ``--strategy=data_parallel``.

Every comparison is between a model built and trained under the strategy
(global batch 2b, b per replica) and the same model (same initial weights)
on one device with the same 2b batch. It writes ``OUT_DIR/result.json``
(the measured differences, relative: ``max |a - b| / (1 + |b|)``), and for
the restore check ``OUT_DIR/model.keras``, ``OUT_DIR/model.weights.h5``
and ``OUT_DIR/predict.npz`` (inputs and the predictions made under the
strategy).
"""

import json
import os
import sys

BACKEND, OUT = sys.argv[1], sys.argv[2]
STRATEGY = {"tensorflow": "mirrored", "jax": "data_parallel"}[BACKEND]
os.environ["KERAS_BACKEND"] = BACKEND
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))

import tensorflow as tf  # noqa: E402

if BACKEND == "tensorflow":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    tf.config.set_visible_devices([], "GPU")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kcontrast import distribute  # noqa: E402
from kcontrast.losses import NTXent, SWDNormal  # noqa: E402
from kcontrast.models import ContrastiveModel, projection_head, small_convnet  # noqa: E402

B = 4            # examples per replica; the global batch is 2B
SIZE = 16        # image side
LOSSES = {"nt_xent": lambda: NTXent(0.2), "swd_normal": lambda: SWDNormal(seed=3)}


def build(loss, sync_batch_norm=True):
    keras.utils.set_random_seed(0)
    encoder = small_convnet((SIZE, SIZE, 1), weight_decay=1e-4)
    head = projection_head(128, depth=2, hidden_units=32, output_units=16)
    return ContrastiveModel(encoder, head, loss=LOSSES[loss](), probes={"label": 3},
                            sync_batch_norm=sync_batch_norm)


def batch(n, seed):
    rng = np.random.default_rng(seed)
    x = {v: rng.normal(size=(n, SIZE, SIZE, 1)).astype("float32")
         for v in ("view1", "view2")}
    return x, {"label": rng.integers(0, 3, n).astype("int32")}


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / (1.0 + np.abs(b)))) if a.size else 0.0


def max_rel(list_a, list_b):
    return max(rel(a, b) for a, b in zip(list_a, list_b))


def pair(loss, optimizer, strategy, sync_batch_norm=True):
    """The single-device model and the one under ``strategy``, same weights.

    The replicated model is built, compiled (and later fit) the plain Keras
    way inside ``strategy.scope()``: no ``prepare_model``.
    """
    single = build(loss)
    weights = single.get_weights()
    single.compile(optimizer=optimizer())
    with strategy.scope():
        replicated = build(loss, sync_batch_norm=sync_batch_norm)
        replicated.set_weights(weights)
        replicated.compile(optimizer=optimizer())
    return single, replicated, weights


def fit_both(single, replicated, strategy, data, epochs):
    logs = [single.fit(data, epochs=epochs, verbose=0).history]
    with strategy.scope():
        logs.append(replicated.fit(data, epochs=epochs, verbose=0).history)
    return logs


def one_step(loss, strategy, sync_batch_norm=True):
    """One SGD step, lr 1: the update is the gradient itself."""
    single, replicated, w0 = pair(loss, lambda: keras.optimizers.SGD(1.0),
                                  strategy, sync_batch_norm)
    data = tf.data.Dataset.from_tensors(batch(2 * B, seed=1))
    logs = fit_both(single, replicated, strategy, data, 1)
    trainable = [i for i, v in enumerate(single.weights) if v.trainable]
    grads = [[(w0[i] - m.get_weights()[i]) for i in trainable]
             for m in (single, replicated)]
    others = [[m.get_weights()[i] for i in range(len(w0)) if i not in trainable]
              for m in (single, replicated)]
    return {
        "logs": {k: rel(logs[1][k], logs[0][k]) for k in logs[0]},
        "log_keys": sorted(logs[1]),
        "weights": max_rel(replicated.get_weights(), single.get_weights()),
        "gradients": max_rel(grads[1], grads[0]),
        "gradient_norm": float(np.sqrt(sum(np.sum(g ** 2) for g in grads[0]))),
        "non_trainable": max_rel(others[1], others[0]),
    }


def logged_loss(strategy):
    """The contrastive loss ``fit`` logs for one global batch of 2B under
    ``strategy`` (model built and fit the plain Keras way), against NT-Xent
    of the whole batch's projections on one device and against the mean of
    the two replicas' half-batch losses (per-replica negatives and
    BatchNorm statistics)."""
    from kcontrast.losses import nt_xent

    single, replicated, _ = pair("nt_xent", lambda: keras.optimizers.SGD(0.0),
                                 strategy)
    x, y = batch(2 * B, seed=4)

    def loss_of(rows):
        views = np.concatenate([x["view1"][rows], x["view2"][rows]], axis=0)
        z = single.embed(views, training=True)[1]
        n = len(views) // 2
        return float(nt_xent(z[:n], z[n:], 0.2))

    whole = loss_of(slice(0, 2 * B))
    halves = float(np.mean([loss_of(slice(0, B)), loss_of(slice(B, 2 * B))]))
    data = tf.data.Dataset.from_tensors((x, y))
    with strategy.scope():
        logged = replicated.fit(data, epochs=1, verbose=0).history[
            "contrastive_loss"][0]
    released = not any(l.synchronized for l in distribute.batch_norm_layers(replicated))
    return {"logged": float(logged), "global": whole, "per_replica": halves,
            "vs_global": rel(logged, whole), "vs_per_replica": rel(logged, halves),
            "batch_norm_released": released}


def foreign_loss_error(strategy):
    """TensorFlow: the one-line error ``fit`` stops with for a loss that has
    no global negatives (a plain Keras loss) under the strategy."""
    with strategy.scope():
        encoder = small_convnet((SIZE, SIZE, 1))
        head = projection_head(128, depth=1, output_units=16)
        model = ContrastiveModel(encoder, head, loss=keras.losses.MeanSquaredError())
        model.compile(optimizer="sgd")
        data = tf.data.Dataset.from_tensors(batch(2 * B, seed=5))
        try:
            model.fit(data, epochs=1, verbose=0)
        except ValueError as e:
            return str(e)
    return None


def tf_direct_gradients(loss, strategy):
    """TensorFlow: the replicas' loss and summed gradients, taken directly
    (``tensorflow_step.compute_gradients``), against one device."""
    from kcontrast.models.train_step.tensorflow_step import compute_gradients

    single, replicated, _ = pair(loss, lambda: keras.optimizers.SGD(1.0), strategy)
    x, y = batch(2 * B, seed=2)
    loss_1, _, grads_1 = compute_gradients(single, x, y)
    native = strategy.native

    @tf.function
    def replica_step():
        def step():
            r = tf.distribute.get_replica_context().replica_id_in_sync_group
            rows = tf.range(B) + B * tf.cast(r, tf.int32)
            xs = {k: tf.gather(v, rows) for k, v in x.items()}
            ys = {k: tf.gather(v, rows) for k, v in y.items()}
            value, _, grads = compute_gradients(replicated, xs, ys)
            return value, grads
        values, grads = native.run(step)
        mean = native.reduce("MEAN", values, axis=None)
        return mean, [native.reduce("SUM", g, axis=None) for g in grads]

    loss_2, grads_2 = replica_step()
    return {"loss": rel(loss_2, loss_1), "gradients": max_rel(grads_2, grads_1)}


def few_epochs(loss, strategy):
    """Three epochs of four steps, SGD with momentum, against one device."""
    single, replicated, _ = pair(
        loss, lambda: keras.optimizers.SGD(0.05, momentum=0.9), strategy)
    x, y = batch(8 * B, seed=3)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(2 * B)
    logs = fit_both(single, replicated, strategy, data, 3)
    return {
        "weights": max_rel(replicated.get_weights(), single.get_weights()),
        "loss_curve": [float(v) for v in logs[1]["loss"]],
        "logs": {k: rel(logs[1][k], logs[0][k]) for k in logs[0]},
    }, replicated, x


def cli_run(out, strategy):
    """``python -m kcontrast.run ... --strategy=...`` end to end (tiny)."""
    from kcontrast import run

    code = run.main([
        "kcontrast.run", "--exp=randbit", "--bits=0", "--temperature=0.2",
        "--epochs=2", "--batch_size=64", "--config.data.train_examples=256",
        "--config.eval.linear.optimizer=lbfgs",
        f"--backend={BACKEND}", f"--strategy={STRATEGY}", f"--out={out}"])
    points = os.path.join(out, "points")
    point = os.path.join(points, sorted(os.listdir(points))[0]) if os.path.isdir(points) else ""
    with open(os.path.join(point, "config.json")) as f:
        recorded = json.load(f)["strategy"]
    with open(os.path.join(out, "results.json")) as f:
        metrics = json.load(f)["runs"][0]["metrics"]
    return {"exit_code": code, "strategy": recorded,
            "shared": distribute.get_strategy(STRATEGY).native is strategy.native, "metrics": metrics,
            "model": os.path.join(point, "model.keras")}


def main():
    strategy = distribute.get_strategy(STRATEGY)
    # The run below asks for the same strategy: TensorFlow's is shared.
    result = {"backend": BACKEND, "strategy": strategy.describe(), "losses": {}}
    if BACKEND == "jax":
        # How Keras lays out an input batch: split along the batch axis.
        layout = strategy.native.get_data_layout((2 * B, SIZE, SIZE, 1))
        result["data_layout"] = [a for a in layout.axes]
    for loss in LOSSES:
        entry = {"one_step": one_step(loss, strategy)}
        if BACKEND == "tensorflow":
            entry["direct"] = tf_direct_gradients(loss, strategy)
        result["losses"][loss] = entry
    result["logged_loss"] = logged_loss(strategy)
    result["few_epochs"], model, x = few_epochs("nt_xent", strategy)
    if BACKEND == "tensorflow":
        result["foreign_loss_error"] = foreign_loss_error(strategy)
        result["per_replica_batch_norm"] = one_step(
            "nt_xent", strategy, sync_batch_norm=False)
    # A model trained under the strategy, saved, for the one-device restore
    # (fit released the BatchNorm flags its steps set).
    images = x["view1"][:5]
    predictions = model.predict(images, verbose=0)
    model.save(os.path.join(OUT, "model.keras"))
    model.save_weights(os.path.join(OUT, "model.weights.h5"))
    np.savez(os.path.join(OUT, "predict.npz"), images=images,
             **{k: np.asarray(v) for k, v in predictions.items()})
    result["cli"] = cli_run(os.path.join(OUT, "run"), strategy)
    with open(os.path.join(OUT, "result.json"), "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
