"""Throughput of the two-view pipelines next to the training throughput they feed.

    cd /work/main && PYTHONPATH=. KERAS_BACKEND=tensorflow python bench/pipeline.py

Prints, for each pipeline, two-view examples per second produced by
`kcontrast.data.pipeline.pretrain_dataset` (iterated alone, after one warm-up
pass), and training examples per second of the small ConvNet
(`kcontrast.models.small_convnet` + projection head + NT-Xent in
`ContrastiveModel.fit`, one online probe) on the same batch held in memory,
so augmentation costs nothing there, and (`fed`) with `fit` reading the
real pipeline. The ratio is pipeline / training: above
1 the pipeline keeps up; the goal is >= 3. Both are given per second of wall
time and per CPU-second of this process: on a shared machine the wall-clock
figures move with other jobs' load, the CPU-time ratio much less.

Pipelines:
- randbit: RandBit over mnist5k, 5 bits, companion crop, 28x28x1 (+5).
- cifar: the SimCLR "cifar" preset (crop 0.08-1, flip, jitter s=0.5 in random
  order with p=0.8, grayscale p=0.2) at 32x32x3. Source: Fashion-MNIST
  resized to 32x32 and tinted with a random colour per image (a real-image
  stand-in for CIFAR-10, offline) when the IDX files are installed, else
  smooth synthetic RGB images; the line says which.
"""

import argparse
import os
import time

import numpy as np


def _rgb32_source(n, seed=0):
    import tensorflow as tf

    from kcontrast.data import Split
    from kcontrast.data.sources.fashion_mnist import find_files
    from kcontrast.data.sources.fashion_mnist import load_fashion_mnist_idx

    rng = np.random.default_rng(seed)
    if find_files() is not None:
        fm = load_fashion_mnist_idx().train.head(n)
        gray = tf.image.resize(fm.images, (32, 32)).numpy()
        tint = rng.uniform(0.3, 1.0, (len(fm), 1, 1, 3)).astype(np.float32)
        images = np.clip(gray * tint, 0, 1)
        labels = fm.labels["label"]
        name = "Fashion-MNIST resized to 32x32, random RGB tint per image"
    else:
        low = rng.uniform(size=(n, 4, 4, 3)).astype(np.float32)
        images = tf.image.resize(low, (32, 32), method="bicubic").numpy().clip(0, 1)
        labels = rng.integers(0, 10, n).astype(np.int32)
        name = "synthetic smooth RGB 32x32 (Fashion-MNIST files absent)"
    return Split(images.astype(np.float32), {"label": labels.astype(np.int32)}), name


def pipeline_rate(split, augment, batch_size, batches):
    from kcontrast.data.pipeline import pretrain_dataset

    ds = pretrain_dataset(split, augment=augment, batch_size=batch_size, seed=0).repeat()
    it = iter(ds)
    for _ in range(3):  # warm-up: tracing and the first prefetches
        next(it)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        views, _ = next(it)
    views["view1"].numpy()
    n = batches * batch_size
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def train_rate(input_shape, batch_size, steps, feed=None):
    import keras
    import tensorflow as tf

    from kcontrast.models import ContrastiveModel
    from kcontrast.models import projection_head
    from kcontrast.models import small_convnet

    encoder = small_convnet(input_shape)
    model = ContrastiveModel(encoder, projection_head(encoder.output.shape[-1]), probes={"label": 10})
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    rng = np.random.default_rng(0)
    views = {k: rng.uniform(size=(batch_size,) + tuple(input_shape)).astype(np.float32) for k in ("view1", "view2")}
    labels = {"label": rng.integers(0, 10, batch_size).astype(np.int32)}
    data = tf.data.Dataset.from_tensors((views, labels)).repeat(steps)
    if feed is not None:  # the real pipeline instead of a batch held in memory
        data = feed.repeat().take(steps)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start, self.cpu = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start
            self.cpu_seconds = time.process_time() - self.cpu

    timer = Timer()
    model.fit(data, epochs=1, verbose=0)  # warm-up: tracing / compilation
    model.fit(data, epochs=1, verbose=0, callbacks=[timer])
    return steps * batch_size / timer.seconds, steps * batch_size / timer.cpu_seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--batches", type=int, default=40, help="pipeline batches timed")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed")
    parser.add_argument("--only", choices=["randbit", "cifar"], default=None)
    args = parser.parse_args()

    from kcontrast.data import build_dataset

    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    rows = []
    if args.only in (None, "randbit"):
        ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0)
        rows.append(("randbit 28x28 companion", "mnist5k (real MNIST)", ds.train, "companion", ds.input_shape))
    if args.only in (None, "cifar"):
        split, source = _rgb32_source(5000)
        rows.append(("simclr cifar 32x32", source, split, "cifar", (32, 32, 3)))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"backend={backend} batch_size={args.batch_size} cpus={os.cpu_count()} load average={load}")
    print("wall: examples per second of wall time; cpu: examples per CPU-second of this "
          "process (robust to other load on a shared machine)")
    print("fed: training examples per second when fit reads the real pipeline (both "
          "share the CPUs); close to 'train' means the pipeline does not starve training")
    print(f"{'pipeline':<26}{'two-view ex/s':>15}{'train ex/s':>12}{'ratio':>7}"
          f"{'| cpu: pipe':>12}{'train':>8}{'ratio':>7}{'| fed ex/s':>11}  source")
    from kcontrast.data.pipeline import pretrain_dataset

    for name, source, split, augment, shape in rows:
        produced, produced_cpu = pipeline_rate(split, augment, args.batch_size, args.batches)
        trained, trained_cpu = train_rate(shape, args.batch_size, args.steps)
        feed = pretrain_dataset(split, augment=augment, batch_size=args.batch_size, seed=0)
        fed, _ = train_rate(shape, args.batch_size, args.steps, feed=feed)
        print(f"{name:<26}{produced:>15.0f}{trained:>12.0f}{produced / trained:>6.1f}x"
              f"{produced_cpu:>12.0f}{trained_cpu:>8.0f}{produced_cpu / trained_cpu:>6.1f}x"
              f"{fed:>11.0f}  {source}", flush=True)


if __name__ == "__main__":
    main()
