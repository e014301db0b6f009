"""Any tensorflow-datasets image-classification dataset as a base source.

The dataset is read through `tfds.builder(name, data_dir=...)`: a copy already
prepared in `data_dir` (or tfds' default directory) is used as is; otherwise
tfds downloads and prepares it (this needs network). Images become float32
[N, H, W, C] in [0, 1]; datasets whose images vary in size (tf_flowers,
imagenet2012) are centre-cropped to a square and resized to `image_size`.
`load_tfds` reads whole splits into memory (use `max_examples` for big
datasets); `stream_tfds` reads nothing until a pipeline iterates it (see
`kcontrast.data.stream`), for datasets that do not fit in memory.

>>> ds = load_tfds("cifar10", data_dir="/data/tfds")  # doctest: +SKIP
>>> ds.train.images.shape  # doctest: +SKIP
(50000, 32, 32, 3)
"""

import numpy as np

from kcontrast.data.split import Dataset
from kcontrast.data.split import Split

DEFAULT_VARIABLE_SIZE = 64


def _find_keys(features):
    import tensorflow_datasets as tfds

    image_key = label_key = None
    for key, feature in features.items():
        if image_key is None and isinstance(feature, tfds.features.Image):
            image_key = key
        if label_key is None and isinstance(feature, tfds.features.ClassLabel):
            label_key = key
    return image_key, label_key


def _to_array(images, image_size):
    import tensorflow as tf

    images = tf.convert_to_tensor(images)
    if image_size is not None:
        h, w = int(images.shape[1]), int(images.shape[2])
        if (h, w) != tuple(image_size):
            images = tf.image.resize(tf.cast(images, tf.float32), image_size)
            return np.clip(images.numpy() / 255.0, 0.0, 1.0).astype(np.float32)
    return images.numpy().astype(np.float32) / 255.0


def _read_split(builder, split, image_key, label_key, image_size, max_examples):
    import tensorflow as tf

    ds = builder.as_dataset(split=split, shuffle_files=False)
    if max_examples is not None:
        # Cut before decoding, not with Split.head afterwards: a big dataset
        # (imagenet2012) must never be read into memory whole.
        ds = ds.take(max_examples)
    static = builder.info.features[image_key].shape
    variable = static[0] is None or static[1] is None
    if variable:
        size = image_size or (DEFAULT_VARIABLE_SIZE, DEFAULT_VARIABLE_SIZE)

        def fix(example):
            image = example[image_key]
            h, w = tf.shape(image)[0], tf.shape(image)[1]
            side = tf.minimum(h, w)
            image = tf.image.crop_to_bounding_box(
                image, (h - side) // 2, (w - side) // 2, side, side
            )
            image = tf.image.resize(tf.cast(image, tf.float32), size)
            return {image_key: image, label_key: example[label_key]}

        ds = ds.map(fix)
    images, labels = [], []
    for batch in ds.batch(1024).as_numpy_iterator():
        images.append(batch[image_key])
        labels.append(batch[label_key])
    images = np.concatenate(images) if images else np.zeros((0,) + tuple(static))
    labels = np.concatenate(labels).astype(np.int32) if labels else np.zeros(0, np.int32)
    if images.ndim == 3:
        images = images[..., None]
    if variable:
        images = np.clip(images / 255.0, 0.0, 1.0).astype(np.float32)
    else:
        images = _to_array(images, image_size)
    return Split(images, {"label": labels})


def _hosts_reachable(builder):
    """False when none of the hosts the dataset downloads from resolves.

    Checked before `download_and_prepare`, whose retries take minutes to
    fail without network. True when the URLs are unknown (tfds then tries)."""
    import socket
    from urllib.parse import urlparse

    try:
        urls = list(builder.url_infos or ())
    except Exception:  # noqa: BLE001 - a builder without a checksums file
        return True
    hosts = {urlparse(u).hostname for u in urls} - {None}
    if not hosts:
        return True
    for host in sorted(hosts):
        try:
            socket.getaddrinfo(host, 443)
            return True
        except OSError:
            continue
    return False


def _not_prepared(name, data_dir, why):
    where = "tfds' default data_dir" if data_dir is None else str(data_dir)
    return ValueError(
        f"Expected a prepared tensorflow-datasets copy of '{name}' in {where} ({why}; "
        f"prepare it where there is network and pass its directory with --data_dir, "
        f"or data_dir= in Python); Received: data_dir={data_dir} without it")


def prepared_builder(name, data_dir=None, download=True):
    """The tfds builder of `name`, prepared in `data_dir` (downloading it if
    needed and allowed).

    Raises:
        ValueError: unknown name; not prepared and `download` is False, or
            the download fails (no network); the message names `--data_dir`.
    """
    import tensorflow_datasets as tfds
    from absl import logging as absl_logging

    # tfds warns on stderr about version folders it scans in a data_dir
    # that lacks the dataset; the error below says it in one line.
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)
    try:
        builder = tfds.builder(name, data_dir=None if data_dir is None else str(data_dir))
        prepared = builder.is_prepared()
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(
            f"Expected a tensorflow-datasets name; Received: name={name} "
            f"({str(e).splitlines()[0]})"
        ) from e
    finally:
        absl_logging.set_verbosity(verbosity)
    if prepared:
        return builder
    if not download:
        raise _not_prepared(name, data_dir, "download=False does not fetch it")
    if not _hosts_reachable(builder):
        raise _not_prepared(name, data_dir, "its download hosts do not resolve: no network")
    try:
        builder.download_and_prepare()
    except Exception as e:  # noqa: BLE001 - tfds raises many kinds here
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise _not_prepared(name, data_dir, f"downloading failed: {type(e).__name__}: {first}") from e
    return builder


def _keys_and_splits(name, builder):
    image_key, label_key = _find_keys(builder.info.features)
    if image_key is None or label_key is None:
        raise ValueError(
            "Expected a tfds dataset with an Image and a ClassLabel feature; "
            f"Received: name={name} with features {list(builder.info.features)}"
        )
    splits = set(builder.info.splits.keys())
    if "train" not in splits:
        raise ValueError(
            f"Expected a tfds dataset with a 'train' split; Received: name={name} "
            f"with splits {sorted(splits)}"
        )
    if "test" in splits:
        train_split, test_split = "train", "test"
    elif "validation" in splits:
        train_split, test_split = "train", "validation"
    else:
        train_split, test_split = "train[:90%]", "train[90%:]"
    return image_key, label_key, train_split, test_split


def load_tfds(name, data_dir=None, image_size=None, max_examples=None, download=True):
    """Loads a tfds image-classification dataset by name.

    Args:
        name: a tensorflow-datasets name ("mnist", "cifar10", "tf_flowers", ...;
            "name:version" works too).
        data_dir: tfds data directory (None: tfds' default).
        image_size: (H, W) to resize to, or None to keep fixed-size images
            (variable-size images then become 64x64).
        max_examples: read at most this many examples per split.
        download: prepare the dataset (needs network) when it is not in
            `data_dir` yet; with False a copy that is not prepared there is
            an error, and nothing is fetched.

    Returns:
        `Dataset` named `name` with labels {"label": int32 [N]}. The test split
        is tfds' "test" (else "validation"); a dataset with only "train" is
        split 90% / 10% (first 90% of tfds' fixed order for training).

    Raises:
        ValueError: when tfds does not know `name`, lacks an image and a
            class-label feature, or is not prepared in `data_dir` and
            download=False or cannot be downloaded (no network).
    """
    builder = prepared_builder(name, data_dir, download)
    image_key, label_key, train_split, test_split = _keys_and_splits(name, builder)
    args = (image_key, label_key, image_size, max_examples)
    return Dataset(
        name=name,
        config={"data_dir": None if data_dir is None else str(data_dir)},
        train=_read_split(builder, train_split, *args),
        test=_read_split(builder, test_split, *args),
        num_classes={"label": int(builder.info.features[label_key].num_classes)},
    )


def _absolute(builder, spec):
    """``(split name, start, stop)`` of a tfds split spec ("train", "train[:90%]")."""
    name = spec.split("[", 1)[0]
    total = builder.info.splits[name].num_examples
    if spec == name:
        return name, 0, total
    n = builder.info.splits[spec].num_examples
    return (name, 0, n) if spec.endswith(":90%]") else (name, total - n, total)


def stream_tfds(name, data_dir=None, image_size=None, download=True, shuffle_buffer=None):
    """A tfds image-classification dataset as `StreamSplit`s: nothing is read
    until a pipeline iterates it, and no split is ever held in memory.

    Same splits, labels, errors and resizing as `load_tfds` (variable-size
    images are centre-cropped to a square and resized to `image_size`,
    default 64x64); see `kcontrast.data.stream`.

    Args:
        name: a tensorflow-datasets name.
        data_dir: tfds data directory (None: tfds' default).
        image_size: (H, W) or None (keep fixed-size images).
        download: prepare the dataset when it is not prepared (needs network).
        shuffle_buffer: encoded examples in the pretraining shuffle buffer
            (default `kcontrast.data.stream.DEFAULT_SHUFFLE_BUFFER`).

    Returns:
        `Dataset` named `name` whose `train` and `test` are `StreamSplit`s.

    >>> ds = stream_tfds("imagenet2012", data_dir="/data/tfds", image_size=(224, 224))  # doctest: +SKIP
    >>> len(ds.train), ds.input_shape  # doctest: +SKIP
    (1281167, (224, 224, 3))
    """
    from kcontrast.data.stream import DEFAULT_SHUFFLE_BUFFER, StreamSplit

    builder = prepared_builder(name, data_dir, download)
    image_key, label_key, train_split, test_split = _keys_and_splits(name, builder)
    feature = builder.info.features[image_key]
    static = feature.shape
    if image_size is None:
        variable = static[0] is None or static[1] is None
        image_size = (DEFAULT_VARIABLE_SIZE,) * 2 if variable else tuple(static[:2])
    channels = int(static[2]) if len(static) > 2 and static[2] is not None else 3
    common = dict(builder=builder, image_key=image_key, label_key=label_key,
                  image_size=tuple(int(s) for s in image_size), channels=channels,
                  shuffle_buffer=int(shuffle_buffer or DEFAULT_SHUFFLE_BUFFER))
    splits = []
    for split_id, spec in enumerate((train_split, test_split)):
        split, start, stop = _absolute(builder, spec)
        splits.append(StreamSplit(split=split, start=start, stop=stop, split_id=split_id,
                                  **common))
    return Dataset(
        name=name,
        config={"data_dir": None if data_dir is None else str(data_dir), "stream": True},
        train=splits[0],
        test=splits[1],
        num_classes={"label": int(builder.info.features[label_key].num_classes)},
    )
