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
computed once per distinct key (``control_key``: dataset or probe set, seed,
protocol and, for ``random_init``, the encoder architecture) and cached as
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


def control_key(kind, config, unit="data", input_shape=None):
    """The part of a point config a control depends on (a JSON-able dict):
    the seed, the probe protocol, the probed data and, for ``random_init``,
    the architecture keys of the model section and the input shape.

    ``unit`` is ``"data"`` (the point's dataset: its data section minus
    ``augment`` and ``data_dir``) or the index of one of ``eval.probe_sets``
    (that probe set and ``eval.max_probe_examples``): points on different
    datasets share the controls of a common probe set."""
    evaluation = dict(config.get("eval") or {})
    key = {"kind": kind, "seed": config["seed"],
           "eval": {k: evaluation.get(k) for k in ("feature", "linear", "knn")}}
    if unit == "data":
        key["data"] = {k: v for k, v in dict(config["data"]).items()
                       if k not in ("augment", "data_dir")}
    else:
        key["probe_set"] = (evaluation.get("probe_sets") or ())[unit]
        key["max_probe_examples"] = evaluation.get("max_probe_examples")
    if kind == "random_init":
        model = dict(config["model"])
        key["model"] = {k: model.get(k) for k in ARCHITECTURE_KEYS}
        key["input_shape"] = None if input_shape is None else list(input_shape)
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
        probe: ``(featurize, standardize, unit) -> {"linear/<name>": ...,
            "knn/<name>": ...}``, the point's offline probes
            (``kcontrast.pretrain.probe_metrics``) on features from
            ``featurize(split)``, for one unit (``"data"`` or a probe-set
            index, see ``control_key``); each unit is cached on its own.
        cache_dir: the run's controls directory (None: no cache).
        log: optional callable taking one progress line.
    """
    built = []

    def compute(unit):
        if not built:  # one untrained encoder for every unit
            built.append(featurizer(kind, config, ds.input_shape))
        return {f"{PREFIX[kind]}/{name}": value
                for name, value in probe(built[0], kind == "pixels", unit).items()
                if name.startswith(("linear/", "knn/"))}

    metrics = {}
    units = ["data"] + list(range(len((config.get("eval") or {}).get("probe_sets") or ())))
    for unit in units:
        key = control_key(kind, config, unit, ds.input_shape)
        metrics.update(cached(cache_dir, kind, key, lambda unit=unit: compute(unit), log))
    return metrics


def cached(cache_dir, kind, key, compute, log=None):
    """``compute()`` (a dict of metrics), or what ``cache_dir`` holds for
    ``(kind, key)``; a fresh result is written there (atomically)."""
    path = cache_path(cache_dir, kind, key) if cache_dir else None
    if path and os.path.exists(path):
        with open(path) as f:
            record = json.load(f)
        if record.get("key") == key:
            if log:
                log(f"control {kind}: cached {os.path.basename(path)}")
            return record["metrics"]
    start = time.perf_counter()
    metrics = compute()
    seconds = round(time.perf_counter() - start, 2)
    if log:
        log(f"control {kind} in {seconds:.1f}s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        atomic.write_json(path, {"key": key, "metrics": metrics, "time_s": seconds})
    return metrics


def coordinate_maps(images):
    """float32 ``[N, H, W, 2]``: each pixel's (row, column), scaled to
    [0, 1] (the K-means "coordinates only" control of local features)."""
    n, height, width = np.asarray(images).shape[:3]
    rows, cols = np.meshgrid(np.linspace(0.0, 1.0, height), np.linspace(0.0, 1.0, width),
                             indexing="ij")
    grid = np.stack([rows, cols], -1).astype(np.float32)
    return np.broadcast_to(grid, (n, height, width, 2))


def local_controls(config, ds, options, cache_dir=None, log=None):
    """The local-feature controls: per-image K-means (``options["k"]``
    clusters, the first ``options["num_images"]`` test images, as
    ``kcontrast.pretrain.local_feature_metrics``) scored against the
    object masks, on

    - ``control_coords``: the pixel coordinates alone (one fixed partition
      of the canvas, clustered once: how far position alone separates the
      objects);
    - ``control_pixels_coords``: the pixels with their coordinates;
    - ``control_random_<stage>``: each stage map of the encoder at
      initialisation (``random_encoder``'s weights).

    Returns ``local_{ari,fg_ari,purity}/<control>`` floats, cached like the
    global controls (they do not depend on the trained weights).
    """
    key = {**control_key("random_init", config, "data", ds.input_shape),
           "local": dict(options)}

    def compute():
        import keras

        from kcontrast import local_features as lf
        from kcontrast.pretrain import build_model

        k = int(options.get("k", 4))
        seed = config["seed"]
        images = lf.model_inputs(ds.test, int(options.get("num_images", 32)))
        masks = ds.test.info["masks"][:len(images)]
        pixels = np.asarray(ds.test.images[:len(images)], np.float32)
        coords = coordinate_maps(pixels)
        keras.utils.set_random_seed(seed)
        model = build_model(config, ds.input_shape, ds.num_classes, ds.multi_label)
        rows = {"control_coords": coords,
                "control_pixels_coords": np.concatenate([pixels, coords], -1)}
        rows.update({f"control_random_{name}": m
                     for name, m in lf.stage_maps(model, images).items()})
        metrics = {}
        for row, maps in rows.items():
            if row == "control_coords":  # the same vectors in every image: cluster once
                clusters = np.repeat(lf.cluster_maps(maps[:1], k, pixels.shape[1:3], seed),
                                     len(maps), axis=0)
            else:
                clusters = lf.cluster_maps(maps, k, pixels.shape[1:3], seed)
            for name, value in lf.cluster_scores(masks, clusters).items():
                if value is not None:
                    metrics[f"local_{name}/{row}"] = float(value)
        return metrics

    return cached(cache_dir, "local", key, compute, log)


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
