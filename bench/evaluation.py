"""Time and memory of the offline evaluation at ImageNet-probe scale.

    KERAS_BACKEND=tensorflow python bench/evaluation.py [--train=60000 --test=10000 --dim=512]

Synthetic features (class means plus noise, 10 classes) stand in for a
frozen encoder's output; the point is the cost, not the accuracy. Prints
wall time and the growth of this process's peak resident memory for
``linear_probe`` (default L-BFGS, then Adam) and ``knn_classify``, against the
size of the train x test similarity matrix they never build. The peak only
grows, so +0 means a step stayed below an earlier step's peak.
"""

import argparse
import os
import resource
import time

import numpy as np


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()

    import keras

    from kcontrast.evaluation import knn_classify, linear_probe

    rng = np.random.default_rng(0)
    means = rng.normal(size=(10, args.dim)).astype(np.float32)

    def features(n):
        y = rng.integers(0, 10, n)
        return (means[y] + 15.0 * rng.normal(size=(n, args.dim))).astype(np.float32), y

    train_x, train_y = features(args.train)
    test_x, test_y = features(args.test)
    data_mib = (train_x.nbytes + test_x.nbytes) / 2**20
    full_sim = args.train * args.test * 4 / 2**20
    print(f"backend={keras.backend.backend()} train={args.train} test={args.test} "
          f"dim={args.dim} features={data_mib:.0f} MiB; a full similarity matrix "
          f"would be {full_sim:.0f} MiB; cpus={os.cpu_count()}")
    runs = [
        ("linear_probe lbfgs", lambda: linear_probe(train_x, train_y, test_x, test_y, num_classes=10)),
        ("linear_probe adam", lambda: linear_probe(train_x, train_y, test_x, test_y, num_classes=10, optimizer="adam")),
        ("knn_classify k=20", lambda: knn_classify(train_x, train_y, test_x, test_y, num_classes=10)),
    ]
    for name, fn in runs:
        before = peak_mib()
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
        print(f"{name:<22} {seconds:7.1f} s   peak RSS +{peak_mib() - before:6.0f} MiB   "
              f"accuracy {result['accuracy']:.3f}", flush=True)


if __name__ == "__main__":
    main()
