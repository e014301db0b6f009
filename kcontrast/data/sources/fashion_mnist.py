"""Fashion-MNIST from IDX files, as installed by Debian's `dataset-fashion-mnist`.

`apt-get install dataset-fashion-mnist` puts the four gzip'd IDX files under
`/usr/share/datasets/fashion-mnist/` (the default `data_dir`). Plain (not
gzip'd) files with the same names minus `.gz` are accepted too. Full split:
60,000 train / 10,000 test, 28x28x1, 10 classes. Without the files,
tensorflow-datasets' `fashion_mnist` is the fallback (a copy prepared in
`data_dir`, or, with no `data_dir`, a download where there is network).
`is_available(data_dir)` says, without reading anything or the network,
whether one of the local copies is there; `GET_COMMAND` is the one command
that installs the files.

>>> ds = load_fashion_mnist()  # doctest: +SKIP
>>> ds.train.images.shape  # doctest: +SKIP
(60000, 28, 28, 1)
"""

import functools
import glob
import os

import numpy as np

from kcontrast.data.sources.idx import read_idx
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
GET_COMMAND = "apt-get install dataset-fashion-mnist"
FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def find_files(data_dir=None):
    """Returns {(split, kind): path} or None when any file is missing."""
    data_dir = DEFAULT_DIR if data_dir is None else str(data_dir)
    paths = {}
    for key, stem in FILES.items():
        for candidate in (stem + ".gz", stem):
            path = os.path.join(data_dir, candidate)
            if os.path.exists(path):
                paths[key] = path
                break
        else:
            return None
    return paths


def _tfds_prepared(data_dir=None):
    """Whether tensorflow-datasets has a prepared `fashion_mnist` in
    `data_dir` (default: `$TFDS_DATA_DIR`, else ~/tensorflow_datasets): a
    version folder with its `dataset_info.json`, tfds' own layout."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.expanduser("~/tensorflow_datasets")
    return bool(glob.glob(os.path.join(str(root), "fashion_mnist", "*", "dataset_info.json")))


def is_available(data_dir=None):
    """Whether `load_fashion_mnist(data_dir)` finds a copy on this machine:
    the IDX files in `data_dir` (default `DEFAULT_DIR`) or a tfds copy
    prepared there (default: tfds' data directory). A False still loads
    where tfds can download (no `data_dir`, network); this check stays
    offline and reads no image."""
    return find_files(data_dir) is not None or _tfds_prepared(data_dir)


@functools.lru_cache(maxsize=4)
def _load(paths_items):
    paths = dict(paths_items)
    splits = {}
    for split in ("train", "test"):
        images = read_idx(paths[(split, "images")])
        labels = read_idx(paths[(split, "labels")])
        if images.ndim != 3 or len(images) != len(labels):
            raise ValueError(
                "Expected IDX images [N, H, W] and labels [N]; Received: "
                f"images.shape={images.shape}, labels.shape={labels.shape} "
                f"in {paths[(split, 'images')]}"
            )
        images = (images.astype(np.float32) / 255.0)[..., None]
        labels = labels.astype(np.int32)
        images.setflags(write=False)
        labels.setflags(write=False)
        splits[split] = Split(images, {"label": labels})
    return splits


def load_fashion_mnist_idx(data_dir=None):
    """Loads Fashion-MNIST from IDX files in `data_dir`.

    Raises:
        ValueError: when a file is missing; the message says how to get them.
    """
    paths = find_files(data_dir)
    if paths is None:
        where = DEFAULT_DIR if data_dir is None else data_dir
        raise ValueError(
            "Expected the Fashion-MNIST IDX files "
            f"({', '.join(s + '[.gz]' for s in FILES.values())}) in {where}; "
            f"Received: data_dir={data_dir} without them. Get them with "
            f"`{GET_COMMAND}` (Debian/Ubuntu, puts them "
            f"in {DEFAULT_DIR}) or pass --data_dir=<directory with the files>."
        )
    splits = _load(tuple(sorted(paths.items())))
    return Dataset(
        name="fashion_mnist",
        config={"data_dir": None if data_dir is None else str(data_dir)},
        train=splits["train"],
        test=splits["test"],
        num_classes={"label": 10},
    )


def load_fashion_mnist(data_dir=None):
    """Fashion-MNIST: IDX files first, tensorflow-datasets as the fallback.

    Args:
        data_dir: directory with the IDX files (default `DEFAULT_DIR`). When
            the files are absent from an explicit `data_dir`, a copy that
            tensorflow-datasets has already prepared there is used, and
            nothing is downloaded; only without `data_dir` may tfds download
            Fashion-MNIST (into its default directory).

    Returns:
        `Dataset` named "fashion_mnist", images float32 [N, 28, 28, 1] in
        [0, 1], labels {"label": int32 [N]}.

    Raises:
        ValueError: when neither the IDX files nor a prepared tfds copy exist;
            the message names the apt package `dataset-fashion-mnist` and
            `--data_dir`.
    """
    if find_files(data_dir) is not None:
        return load_fashion_mnist_idx(data_dir)
    from kcontrast.data.sources.tfds_source import load_tfds

    try:
        # An explicit data_dir names where the data is: look there, offline.
        return load_tfds("fashion_mnist", data_dir=data_dir, download=data_dir is None)
    except Exception as tfds_error:  # Say both ways of getting the data.
        if find_files(data_dir) is not None:  # appeared meanwhile
            return load_fashion_mnist_idx(data_dir)
        text = str(tfds_error)
        why = ("no network" if "no network" in text else
               "not prepared there" if data_dir is not None and "download=False" in text
               else f"{type(tfds_error).__name__}: {text.splitlines()[0][:160] if text else ''}")
        where = (f"in {DEFAULT_DIR}, or a tensorflow-datasets copy in tfds' data directory"
                 if data_dir is None else f"or a tensorflow-datasets copy in {data_dir}")
        raise ValueError(
            f"Expected Fashion-MNIST: its IDX files ({', '.join(FILES.values())}, "
            f".gz or plain) {where}; Received: "
            f"data_dir={data_dir} without either (tensorflow-datasets: {why}). "
            f"Get it with `{GET_COMMAND}` (Debian/Ubuntu, into {DEFAULT_DIR}), "
            "or pass --data_dir=<directory with the files>."
        ) from tfds_error
