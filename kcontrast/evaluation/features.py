"""Frozen features of a model over a probe dataset, streamed batch by batch.

    for (images [B, H, W, C], {label: [B, ...]}) in dataset:
        outputs = model(images)            # dict name -> [B, ...]
    features[name] = concat_B outputs[name]         [N, ...] float32
    labels[label]  = concat_B labels[label]         [N, ...]

The model is anything whose call returns a dict of named features: a
`ContrastiveModel` (any backend, called with `training=False`), a
`keras.layers.TFSMLayer`, or a SavedModel loaded with `tf.saved_model.load`
(its `serve` endpoint is used). Only the requested features are kept, so
memory is the size of the kept features, never of the images.
"""

import numpy as np


def _to_numpy(value):
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def _caller(model):
    if hasattr(model, "serve") and not hasattr(model, "get_config"):
        return model.serve  # a loaded SavedModel
    if not callable(model):
        raise ValueError(
            "Expected a callable model or a loaded SavedModel with a `serve` "
            f"endpoint; Received: model={type(model).__name__}")
    try:
        import keras
        if isinstance(model, keras.Model):
            return lambda images: model(images, training=False)
    except ImportError:  # pragma: no cover
        pass
    return model


def _batches(dataset):
    if hasattr(dataset, "as_numpy_iterator"):
        return dataset.as_numpy_iterator()
    return iter(dataset)


def extract_features(model, dataset, names=None):
    """Runs `model` over `dataset` and gathers named features and labels.

    Args:
        model: returns a dict of features for a batch of images (see the
            module docstring).
        dataset: iterable of `(images [B, H, W, C], {label: labels [B, ...]})`,
            e.g. `kcontrast.data.pipeline.probe_dataset(split, batch_size)`.
        names: features to keep (default: all the model returns).

    Returns:
        `(features, labels)`: dict name -> float32 `[N, ...]` and dict
        label -> `[N, ...]`, rows in dataset order.

    Raises:
        ValueError: a requested name the model does not return (the message
            lists the available ones).

    >>> feats, labels = extract_features(model, probe_dataset(ds.test, 256),
    ...                                  names=["representation"])  # doctest: +SKIP
    """
    call = _caller(model)
    kept, labels = {}, {}
    for element in _batches(dataset):
        images, batch_labels = element if isinstance(element, tuple) else (element, {})
        outputs = call(np.asarray(images, np.float32))
        if not isinstance(outputs, dict):
            raise ValueError(
                "Expected the model to return a dict of named features; "
                f"Received: {type(outputs).__name__}")
        if names is None:
            names = sorted(outputs)
        missing = [n for n in names if n not in outputs]
        if missing:
            raise ValueError(
                f"Expected feature names among {sorted(outputs)}; "
                f"Received: names={missing}")
        for name in names:
            kept.setdefault(name, []).append(_to_numpy(outputs[name]).astype(np.float32))
        for name, value in (batch_labels or {}).items():
            labels.setdefault(name, []).append(_to_numpy(value))
    if not kept:
        raise ValueError("Expected a dataset with at least one batch; Received: an empty dataset")
    return ({n: np.concatenate(v) for n, v in kept.items()},
            {n: np.concatenate(v) for n, v in labels.items()})
