"""Streamed vs in-memory tfds input: peak memory growth and pipeline speed.

Prepares the test fixture ``kcontrast_stream_images/n<N>`` (N = 200, 1000,
4000 random 48x48 RGB images, tests/data/sources/tfds_fixtures.py) under
DIR, then, for RandBit (4 bits) over it, streamed and read into memory:

- the peak resident-memory growth of one pretraining and one probe pass per
  dataset size (``tfds_fixtures.peak_growth``, a fresh process per mode);
- examples per second of two pretraining passes ("companion" crops,
  batch 256) over the 4,000 images.

    python bench/tfds_stream.py /tmp/kcontrast_bench_tfds
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FIXTURES = os.path.join(REPO, "tests", "data", "sources")
sys.path[:0] = [REPO, FIXTURES]


def throughput(data_dir, stream, n=4000, batch_size=256, passes=2):
    from kcontrast.data import build_dataset
    from kcontrast.data.pipeline import pretrain_dataset

    ds = build_dataset("randbit", base=f"kcontrast_stream_images/n{n}", bits=4,
                       data_dir=data_dir, stream=stream)
    pipeline = pretrain_dataset(ds.train, augment="companion", batch_size=batch_size)
    start, count = time.perf_counter(), 0
    for _ in range(passes):
        for _, labels in pipeline:
            count += int(labels["label"].shape[0])
    return count / (time.perf_counter() - start)


def main(data_dir):
    import tfds_fixtures

    tfds_fixtures.prepare(data_dir)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, FIXTURES, os.environ.get("PYTHONPATH", "")]))
    result = {}
    for mode in ("stream", "memory"):
        out = subprocess.run([sys.executable, os.path.join(FIXTURES, "tfds_fixtures.py"), data_dir, mode],
                             env=env, capture_output=True, text=True, check=True)
        growth = json.loads(out.stdout.strip().splitlines()[-1])
        result[mode] = {"peak_growth_mb": dict(zip(map(str, tfds_fixtures.SIZES), growth)),
                        "examples_per_s": round(throughput(data_dir, mode == "stream"), 1)}
    print(json.dumps(result, indent=1))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", help="directory the tfds fixtures are prepared under "
                                         "(created if missing)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args().data_dir)
