"""Tiny tensorflow-datasets builders that the streaming tests prepare on disk.

Importing this module registers them with tfds (by class name):

- ``kcontrast_stream_images/n<N>``: N train and N // 4 test RGB images of
  ``SIDE`` x ``SIDE``, 10 classes; the configs differ only in N, so a test
  can compare memory at two dataset sizes.
- ``kcontrast_offline``: a dataset whose only download host cannot resolve
  (the reserved ``.invalid`` top-level domain), as a tfds name is for a
  machine without network.

Run as a script, prints the peak memory of one pass over a prepared
dataset (see ``test_tfds_stream.test_memory_stays_flat_as_the_dataset_grows``).
"""

import numpy as np
import tensorflow_datasets as tfds

SIDE = 48
SIZES = (200, 1000, 4000)


def _examples(split_id, n):
    rng = np.random.default_rng(split_id)
    for i in range(n):
        label = i % 10
        image = rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        image[: 4 + label, : 4 + label] = 255  # a class-dependent corner
        yield f"{split_id}-{i}", {"image": image, "label": label}


class KcontrastStreamImages(tfds.core.GeneratorBasedBuilder):
    """Random SIDE x SIDE RGB images, 10 classes, in several sizes."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=f"n{n}") for n in SIZES]
    # A one-part module name makes tfds skip its package-resource lookup of
    # the builder's code (which needs the optional `importlib_resources`).
    __module__ = "kcontrast_tfds_fixture"

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(SIDE, SIDE, 3)),
                "label": tfds.features.ClassLabel(num_classes=10),
            }),
        )

    def _split_generators(self, dl_manager):
        n = int(self.builder_config.name[1:])
        return {"train": self._generate_examples(0, n),
                "test": self._generate_examples(1, max(n // 4, 10))}

    def _generate_examples(self, split_id, n):
        yield from _examples(split_id, n)


OFFLINE_URL = "https://kcontrast-no-such-host.invalid/images.tar.gz"


class KcontrastOffline(tfds.core.GeneratorBasedBuilder):
    """Downloads from a host that never resolves."""

    VERSION = tfds.core.Version("1.0.0")
    __module__ = "kcontrast_tfds_fixture"

    @property
    def url_infos(self):
        return {OFFLINE_URL: None}

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(8, 8, 3)),
                "label": tfds.features.ClassLabel(num_classes=2),
            }),
        )

    def _split_generators(self, dl_manager):
        dl_manager.download(OFFLINE_URL)
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        yield from ()


def prepare(data_dir, sizes=SIZES):
    """Prepares ``kcontrast_stream_images/n<N>`` for each N in ``sizes``."""
    for n in sizes:
        tfds.builder(f"kcontrast_stream_images/n{n}", data_dir=str(data_dir)).download_and_prepare()


def peak_growth(data_dir, stream, sizes=SIZES, shuffle_buffer=500, batch_size=200):
    """MB by which the resident memory grows, at its peak, during a pass
    over ``kcontrast_stream_images/n<N>``, for each N in ``sizes`` in turn.

    RandBit with 4 bits over the source, streamed (with a buffer of
    ``shuffle_buffer`` examples) or read into memory; the pipelines are
    built inside the measured pass, so an in-memory split's graph constants
    count, and the first pass counts the loading too (an in-memory split's
    arrays). The worse of a pretraining pass and a probe pass; the resident
    size is read from ``/proc/self/statm`` before each pass and after every
    batch (Linux)."""
    import dataclasses
    import os

    from kcontrast.data import build_dataset
    from kcontrast.data.pipeline import pretrain_dataset, probe_dataset

    page = os.sysconf("SC_PAGE_SIZE") / 2.0**20

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    growth = []
    for n in sizes:
        loading = rss()
        ds = build_dataset("randbit", base=f"kcontrast_stream_images/n{n}", bits=4,
                           data_dir=str(data_dir), stream=stream)
        train = ds.train
        if stream:
            train = dataclasses.replace(train, shuffle_buffer=shuffle_buffer)
        worst, start = 0.0, loading
        for kind in ("pretrain", "probe"):
            before, start = start if start is not None else rss(), None
            peak = max(before, rss())
            count = 0
            pipeline = (pretrain_dataset(train, augment="none", batch_size=batch_size)
                        if kind == "pretrain" else probe_dataset(train, batch_size=batch_size))
            for _, labels in pipeline:
                count += int(labels["label"].shape[0])
                peak = max(peak, rss())
            assert count == n, count
            worst = max(worst, peak - before)
        del ds, train
        growth.append(round(worst, 1))
    return growth


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(peak_growth(sys.argv[1], stream=sys.argv[2] == "stream")))
