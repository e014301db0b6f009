"""Controls: what the point's probes score without contrastive learning.

A probe accuracy is evidence of learning only when it beats what the same
probe reads from features nobody trained. Two controls, each probed with
exactly the point's protocol (``kcontrast.evaluation.per_label``) on the
point's dataset and ``eval.probe_sets``:

- ``random_init``: the point's encoder architecture built under the point's
  seed and never trained (BatchNorm at its initial statistics), its
  representation ``h`` ``[N, D]``;
- ``pixels``: the raw model input, extra channels included, flattened to
  ``[N, H*W*C + k]`` (each of the ``k`` extra channels, constant over the
  image, once) and standardised with training-split statistics.

Metric names (``<name>`` as in the point's own ``linear/<name>``)::

    control_random/linear/<name>   control_random/knn/<name>
    control_pixels/linear/<name>   control_pixels/knn/<name>
    trained_minus_random/linear/<name> = linear/<name> - control_random/linear/<name>

A negative ``trained_minus_random`` reads "training removed this feature".

Neither control depends on the trained weights, so within a run each is
computed once per distinct key (``control_key``: dataset, seed, protocol and,
for ``random_init``, the encoder architecture) and cached as
``<cache_dir>/<kind>-<hash>.json``; every point with that key reads it.

>>> metrics = control_metrics("pixels", config, ds, cache_dir="run/controls")  # doctest: +SKIP
>>> metrics["control_pixels/linear/digit"]  # doctest: +SKIP
"""

import hashlib
import json
import os
import time

import numpy as np

from kcontrast import atomic

CONTROLS = ("random_init", "pixels")
PREFIX = {"random_init": "control_random", "pixels": "control_pixels"}

# Model keys that shape the encoder's initial weights and its features.
ARCHITECTURE_KEYS = ("encoder", "width", "pool", "stem_stride", "precision")


def selected(config):
    """The controls a point config asks for: ``eval.controls`` True (the
    default when the key is absent: both), False / None (none), or a
    sequence of names from ``CONTROLS``."""
    value = ((config.get("eval") or {}).get("controls", True))
    if value is True:
        return CONTROLS
    if not value:
        return ()
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    names = tuple(value)
    unknown = [n for n in names if n not in CONTROLS]
    if unknown:
        raise ValueError(f"Expected eval.controls True, False or names among "
                         f"{list(CONTROLS)}; Received: {unknown}")
    return names


def control_key(kind, config):
    """The part of a point config a control depends on (a JSON-able dict):
    the data section (minus ``augment`` and ``data_dir``), the seed, the
    evaluation protocol and probe sets and, for ``random_init``, the
    architecture keys of the model section."""
    data = {k: v for k, v in dict(config["data"]).items() if k not in ("augment", "data_dir")}
    evaluation = dict(config.get("eval") or {})
    key = {"kind": kind, "seed": config["seed"], "data": data,
           "eval": {k: evaluation.get(k) for k in
                    ("feature", "linear", "knn", "probe_sets", "max_probe_examples")}}
    if kind == "random_init":
        model = dict(config["model"])
        key["model"] = {k: model.get(k) for k in ARCHITECTURE_KEYS}
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def cache_path(cache_dir, kind, key):
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    return os.path.join(cache_dir, f"{kind}-{digest}.json")


def pixel_features(split, batch_size=512):
    """The raw model input of a split, flattened: ``(float32 [N, H*W*C + k],
    labels)``, rows in split order (``probe_dataset``: un-augmented images
    with their ``k`` extra channels).

    An extra channel (e.g. a RandBit bit) is constant over the image, so it
    enters once, as its value, after the ``H*W*C`` image pixels: the same
    information as its ``H*W`` copies, without letting ``k*H*W`` duplicated
    columns outweigh the image in kNN's cosine or in the probe's cost."""
    from kcontrast.data.pipeline import probe_dataset

    extra = int(split.num_extra or 0)
    rows, labels = [], {}
    for images, batch_labels in probe_dataset(split, batch_size=batch_size).as_numpy_iterator():
        images = np.asarray(images, np.float32)
        channels = images.shape[-1] - extra
        rows.append(np.concatenate([images[..., :channels].reshape(len(images), -1),
                                    images[:, 0, 0, channels:]], axis=1))
        for name, value in batch_labels.items():
            labels.setdefault(name, []).append(np.asarray(value))
    return np.concatenate(rows), {n: np.concatenate(v) for n, v in labels.items()}


def random_encoder(config, input_shape):
    """The point's encoder at initialisation: built exactly as
    ``kcontrast.pretrain.build_model`` builds it, right after
    ``keras.utils.set_random_seed(config["seed"])``."""
    import keras

    from kcontrast.models import ENCODERS
    from kcontrast.pretrain import MODEL_DEFAULTS, encoder_kwargs

    m = {**MODEL_DEFAULTS, **dict(config["model"])}
    keras.utils.set_random_seed(config["seed"])
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(m["precision"])
    try:
        return ENCODERS[m["encoder"]](tuple(input_shape), **encoder_kwargs(m))
    finally:
        keras.config.set_dtype_policy(previous)


def encoder_features(encoder, split, batch_size=512):
    """An encoder's representation (its first output) of a split:
    ``(float32 [N, D], labels)``."""
    from kcontrast.data.pipeline import probe_dataset

    rows, labels = [], {}
    for images, batch_labels in probe_dataset(split, batch_size=batch_size).as_numpy_iterator():
        out = encoder(images, training=False)
        out = out[0] if isinstance(out, (list, tuple)) else out
        if isinstance(out, dict):
            out = out[sorted(out)[0]]
        if hasattr(out, "detach"):
            out = out.detach().cpu()
        rows.append(np.asarray(out, np.float32).reshape(len(images), -1))
        for name, value in batch_labels.items():
            labels.setdefault(name, []).append(np.asarray(value))
    return np.concatenate(rows), {n: np.concatenate(v) for n, v in labels.items()}


def featurizer(kind, config, input_shape):
    """``split -> (features [N, D], labels)`` for a control. Pixel
    features are standardised by ``probe_features`` (training statistics)."""
    batch_size = (config.get("eval") or {}).get("batch_size") or 512
    if kind == "pixels":
        return lambda split: pixel_features(split, batch_size)
    if kind == "random_init":
        encoder = random_encoder(config, input_shape)
        return lambda split: encoder_features(encoder, split, batch_size)
    raise ValueError(f"Expected a control among {list(CONTROLS)}; Received: {kind!r}")


def control_metrics(kind, config, ds, probe, cache_dir=None, log=None):
    """The ``PREFIX[kind]/...`` metrics of one control, read from the cache
    when a point with the same ``control_key`` computed them already.

    Args:
        kind: "random_init" or "pixels".
        config: the point config.
        ds: the point's built dataset.
        probe: ``featurize -> {"linear/<name>": ..., "knn/<name>": ...}``,
            the point's offline probes (``kcontrast.pretrain.probe_metrics``)
            run on features from ``featurize(split)``.
        cache_dir: the run's controls directory (None: no cache).
        log: optional callable taking one progress line.
    """
    key = control_key(kind, config)
    path = cache_path(cache_dir, kind, key) if cache_dir else None
    if path and os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("key") == key:
            if log:
                log(f"control {kind}: cached {os.path.basename(path)}")
            return cached["metrics"]
    start = time.perf_counter()
    featurize = featurizer(kind, config, ds.input_shape)
    metrics = {f"{PREFIX[kind]}/{name}": value
               for name, value in probe(featurize, standardize=kind == "pixels").items()
               if name.startswith(("linear/", "knn/"))}
    seconds = round(time.perf_counter() - start, 2)
    if log:
        log(f"control {kind} in {seconds:.1f}s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        atomic.write_json(path, {"key": key, "metrics": metrics, "time_s": seconds})
    return metrics


def differences(metrics):
    """``trained_minus_random/linear/<name>`` for every ``linear/<name>``
    that has a ``control_random/linear/<name>``."""
    out = {}
    for name, value in metrics.items():
        control = metrics.get(f"control_random/{name}")
        if name.startswith("linear/") and control is not None:
            out[f"trained_minus_random/{name}"] = float(value) - float(control)
    return out


def probe_controls(point_config, input_shape, train, test, labels, num_classes,
                   multi_label=(), protocol=None, seed=0, batch_size=512,
                   kinds=CONTROLS, log=None):
    """The controls of one probe request outside a run (``kcontrast.probe``
    on an export): each control's features of the ``train`` / ``test``
    splits, probed by ``evaluate_labels`` for ``labels`` under ``protocol``.

    ``point_config`` is the training point's config (an export's
    ``training.config``): ``random_init`` rebuilds its encoder at
    initialisation from its model section and seed.

    Returns ``{kind: {label: {"linear": ..., "knn": ...}}}``.
    """
    from kcontrast.evaluation.per_label import evaluate_labels
    from kcontrast.evaluation.standardize import Standardizer

    config = {**dict(point_config), "eval": {**dict(point_config.get("eval") or {}),
                                            "batch_size": batch_size}}
    out = {}
    for kind in kinds:
        featurize = featurizer(kind, config, input_shape)
        train_x, train_y = featurize(train)
        test_x, test_y = featurize(test)
        if kind == "pixels":
            scale = Standardizer(train_x)
            train_x, test_x = scale(train_x), scale(test_x)
        out[kind] = evaluate_labels(
            train_x, {l: train_y[l] for l in labels}, test_x, {l: test_y[l] for l in labels},
            num_classes={l: num_classes[l] for l in labels}, multi_label=multi_label,
            protocol=protocol, seed=seed, log=log)
    return out
