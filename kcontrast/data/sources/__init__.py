"""The registry of base sources: where images with one class label come from.

Modules: `mnist5k` (embedded digits), `fashion_mnist` (IDX files, read by
`idx`), `tfds_source` (any tensorflow-datasets name).

`SOURCES` maps a name to a loader `fn(data_dir=None) -> Dataset` (labels
{"label": int32 [N]}). Any other name is looked up in tensorflow-datasets.
`missing_data(names, data_dir)` says which of them pip does not bring and
are not on this machine, with the command that gets each (offline, fast).

>>> ds = load_source("mnist5k")
>>> ds.num_classes
{'label': 10}
"""

from kcontrast.data.sources import fashion_mnist
from kcontrast.data.sources.fashion_mnist import load_fashion_mnist
from kcontrast.data.sources.mnist5k import load_mnist5k
from kcontrast.data.split import Dataset

SOURCES = {
    "mnist5k": load_mnist5k,
    "fashion_mnist": load_fashion_mnist,
}

# Sources whose data pip does not install: name -> (is_available(data_dir),
# the one command that gets the data).
LOCAL_DATA = {
    "fashion_mnist": (fashion_mnist.is_available, fashion_mnist.GET_COMMAND),
}


def missing_data(names, data_dir=None):
    """``{name: command}`` for each of ``names`` whose data pip does not
    bring and that is absent here (from ``data_dir`` or its default place).

    >>> missing_data(["mnist5k"])
    {}
    """
    missing = {}
    for name in names:
        if name in LOCAL_DATA and not LOCAL_DATA[name][0](data_dir):
            missing[name] = LOCAL_DATA[name][1]
    return missing


def load_source(name, data_dir=None, max_examples=None, image_size=None, stream=False):
    """Loads base source `name`: a key of `SOURCES` or a tfds dataset name.

    Args:
        name: "mnist5k", "fashion_mnist", or any tensorflow-datasets name.
        data_dir: where the files are (Fashion-MNIST IDX dir / tfds data_dir).
        max_examples: tfds datasets only: read at most this many examples per
            split (the first ones in tfds' fixed order), so that big datasets
            (imagenet2012) need not fit in memory.
        image_size: tfds datasets only: (H, W) to resize the images to.
        stream: tfds datasets only: return `StreamSplit`s that read the
            data as pipelines iterate it (`kcontrast.data.stream`) instead
            of arrays; `max_examples` then cuts the splits with `head`. The
            embedded sources are small and always in memory.

    Returns:
        `Dataset` with labels {"label": int32 [N]}.

    Raises:
        ValueError: for an unknown name (listing the known sources).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"Expected a source name, one of {sorted(SOURCES)} or a "
            f"tensorflow-datasets name; Received: base={name!r}"
        )
    if name in SOURCES:
        return SOURCES[name](data_dir=data_dir)
    from kcontrast.data.sources.tfds_source import load_tfds, stream_tfds

    try:
        if stream:
            ds = stream_tfds(name, data_dir=data_dir, image_size=image_size)
            if max_examples is not None:
                import dataclasses
                ds = dataclasses.replace(ds, train=ds.train.head(max_examples),
                                         test=ds.test.head(max_examples))
            return ds
        return load_tfds(name, data_dir=data_dir, image_size=image_size, max_examples=max_examples)
    except ValueError as e:
        if "Expected a tensorflow-datasets name" not in str(e):
            raise
        raise ValueError(
            f"Expected a source name, one of {sorted(SOURCES)} or a "
            f"tensorflow-datasets name (mnist, cifar10, cifar100, "
            f"imagenet2012, tf_flowers, ...); Received: base={name!r}"
        ) from e


def resolve_source(base, data_dir=None, max_examples=None, image_size=None, stream=False):
    """`base` as a `Dataset`: a `Dataset` passes through, a name is loaded.

    Builders take either, so tests and users can compose their own sources.
    The `Dataset` must have a "label" label.
    """
    if isinstance(base, Dataset):
        names = getattr(base.train, "label_names", None) or base.train.labels
        if "label" not in names:
            raise ValueError(
                "Expected a source Dataset with a 'label' label; Received: "
                f"labels {sorted(base.train.labels)} in base={base.name!r}"
            )
        return base
    return load_source(base, data_dir=data_dir, max_examples=max_examples,
                       image_size=image_size, stream=stream)
