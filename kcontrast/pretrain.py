"""One experiment point: data -> ContrastiveModel -> fit -> probes -> metrics.

``load_data``, ``build_model``, ``compile_model``, ``evaluate_point`` and
``pretrain_point`` are the whole training path of ``kcontrast.run``;
experiment files only hold the configs they read. A point config is the
nested dict of ``kcontrast.config.point_config``::

    {"seed": 0,
     "data":  {"builder", "args": {...}, "data_dir", "train_examples", "augment"},
     "model": {"encoder", "width", "head_depth", "head_hidden_units",
               "head_output_units", "weight_decay", "bn_momentum",
               "per_view_forward", "probe_views", "pool"},
     "loss":  {"name", <its hyper-parameters>},
     "optim": {"optimizer", "learning_rate", "schedule", "epochs", "batch_size"},
     "eval":  {"feature", "linear": {...}, "knn": {...}, "batch_size"}}

A point directory, filled while the point runs::

    config.json      the point config, dataset, versions, device
    metrics.jsonl    one line per epoch (the training logs)
    tensorboard/     scalars per epoch and the point's hparams
    backup/          Keras BackupAndRestore state (removed when the point's
                     metrics are written)
    model.keras, model.weights.h5
    metrics.json     the point's final metrics: written last, so its presence
                     means the point is finished
"""

import dataclasses
import inspect
import json
import os
import shutil
import time

import keras
import numpy as np

from kcontrast import atomic, checks, distribute, provenance
from kcontrast.data import build_dataset
from kcontrast.data.pipeline import AUGMENT_IN, pretrain_dataset, probe_dataset
from kcontrast.data.stream import is_stream
from kcontrast.evaluation.features import extract_features
from kcontrast.evaluation.per_label import evaluate_labels, protocol_of
from kcontrast.evaluation.per_label import label_metrics as _label_metrics
from kcontrast.lars import LARS
from kcontrast.losses import make_loss
from kcontrast.models import ENCODERS, ContrastiveModel, projection_head
from kcontrast.models.augment import ViewAugmentation
from kcontrast.models.decoder import conv_decoder, decodable_shape
from kcontrast.models.small_resnet import POOLS, STEM_STRIDES

METRICS_FILE = "metrics.json"


def load_data(config):
    """Builds the competing-feature dataset of a point config (the training
    split cut to ``data.train_examples`` and the test split to
    ``data.test_examples`` when set)."""
    data = config["data"]
    ds = build_dataset(data["builder"], seed=config["seed"],
                       data_dir=data.get("data_dir"), **dict(data.get("args") or {}))
    limit = data.get("train_examples")
    if limit:
        ds = dataclasses.replace(ds, train=ds.train.head(limit))
    limit = data.get("test_examples")
    if limit:
        ds = dataclasses.replace(ds, test=ds.test.head(limit))
    return ds


def make_point_loss(config):
    """The contrastive loss of a point config (only the loss's own keys)."""
    loss = dict(config["loss"])
    name = loss.pop("name")
    params = {k: v for k, v in loss.items() if v is not None}
    return make_loss(name, seed=config["seed"], **params)


# Keys of the model section a config may leave out, with the values they
# take then (the ContrastiveModel and encoder defaults).
MODEL_DEFAULTS = {"bn_momentum": 0.9, "per_view_forward": False,
                  "probe_views": "both", "objective": "contrastive",
                  "recon_weight": 1.0, "precision": "float32"}

# ``model.precision``: the Keras dtype policy the model is built under.
# "mixed_bfloat16" computes convolutions and matmuls in bfloat16 with float32
# variables (losses upcast to float32, see ``kcontrast.losses.base``),
# at bfloat16's 8-bit mantissa. It pays where matmuls dominate a step (TPUs,
# GPUs, large encoders). On the project's 2-core CPU a bfloat16 matmul runs
# about 2x the float32 rate, yet the small ConvNet's whole training step is
# not faster (``bench/throughput.py --precisions=float32,mixed_bfloat16``
# measures both). The committed experiments train in float32.
PRECISIONS = ("float32", "mixed_bfloat16")


# Optional model keys that go to the encoder itself, and only to encoders
# whose builder takes them (``small_resnet``'s), with their allowed values.
ENCODER_OPTIONS = {"pool": POOLS, "stem_stride": STEM_STRIDES}


def encoder_kwargs(model_section):
    """The encoder builder's keyword arguments from a ``model`` section.

    Raises ``ValueError`` naming the key when an optional encoder key (see
    ``ENCODER_OPTIONS``) is set for an encoder that does not take it, e.g.
    ``model.pool`` on ``small_convnet``.
    """
    m = {**MODEL_DEFAULTS, **model_section}
    if m["encoder"] not in ENCODERS:
        raise ValueError(
            f"Expected model.encoder in {sorted(ENCODERS)}; "
            f"Received: encoder={m['encoder']!r}")
    builder = ENCODERS[m["encoder"]]
    kwargs = {"width": m["width"], "weight_decay": m["weight_decay"],
              "bn_momentum": m["bn_momentum"]}
    accepted = inspect.signature(builder).parameters
    for key in ENCODER_OPTIONS:
        if m.get(key) is None:
            continue
        if key not in accepted:
            takers = sorted(n for n, b in ENCODERS.items()
                            if key in inspect.signature(b).parameters)
            raise ValueError(
                f"Expected model.{key} only with model.encoder in {takers}; "
                f"Received: encoder={m['encoder']!r}, {key}={m[key]!r}")
        kwargs[key] = checks.check_choice(m[key], ENCODER_OPTIONS[key], f"model.{key}")
    return kwargs


def build_model(config, input_shape, num_classes, multi_label=(),
                image_channels=None):
    """Builds an uncompiled ``ContrastiveModel`` from a point config.

    ``model.bn_momentum`` (every BatchNorm of encoder and head),
    ``model.per_view_forward``, ``model.probe_views``, ``model.objective``
    (``contrastive``, ``autoencoder`` or ``hybrid``) and
    ``model.recon_weight`` (see ``ContrastiveModel``) are optional, with
    ``MODEL_DEFAULTS``. The autoencoder and hybrid objectives get a
    ``conv_decoder`` (the encoder's width, weight decay and BatchNorm
    momentum) reconstructing the first ``image_channels`` input channels
    (default: all; ``pretrain_point`` passes the dataset's image channels,
    leaving out RandBit's extra ones). ``model.pool`` goes to encoders that
    take it (``small_resnet``: "last" or "stages"), and so does
    ``model.stem_stride`` (``small_resnet``: 2 or 1), see ``encoder_kwargs``.
    ``model.precision`` ("float32" or "mixed_bfloat16", see ``PRECISIONS``)
    is the dtype policy every layer is built under; the global policy is
    left as it was. With ``data.augment_in="model"`` the model gets a
    ``ViewAugmentation`` of ``data.augment`` (see ``model_augmentation``) and
    trains on ``pretrain_dataset(..., augment_in="model")``'s raw batches.
    """
    m = {**MODEL_DEFAULTS, **config["model"]}
    checks.check_choice(m["precision"], PRECISIONS, "model.precision")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(m["precision"])
    try:
        return _build_model(m, config, input_shape, num_classes, multi_label, image_channels)
    finally:
        keras.config.set_dtype_policy(previous)


def _build_model(m, config, input_shape, num_classes, multi_label, image_channels):
    encoder = ENCODERS[m["encoder"]](tuple(input_shape), **encoder_kwargs(m))
    head = projection_head(
        encoder.outputs[0].shape[-1], depth=m["head_depth"],
        hidden_units=m["head_hidden_units"] * m["width"],
        output_units=m["head_output_units"], weight_decay=m["weight_decay"],
        bn_momentum=m["bn_momentum"])
    decoder = None
    if m["objective"] != "contrastive":
        decoder = conv_decoder(
            encoder.outputs[0].shape[-1],
            decodable_shape(encoder, image_channels), width=m["width"],
            weight_decay=m["weight_decay"], bn_momentum=m["bn_momentum"])
    return ContrastiveModel(encoder, head, loss=make_point_loss(config),
                            probes=dict(num_classes),
                            multi_label=tuple(multi_label),
                            per_view_forward=m["per_view_forward"],
                            probe_views=m["probe_views"], decoder=decoder,
                            objective=m["objective"],
                            recon_weight=m["recon_weight"],
                            augmentation=model_augmentation(config))


def augment_in(config):
    """``data.augment_in`` ("pipeline" when the config has no such key)."""
    return checks.check_choice(config["data"].get("augment_in", "pipeline"),
                               AUGMENT_IN, "data.augment_in")


def model_augmentation(config):
    """The ``ViewAugmentation`` of ``data.augment`` when ``data.augment_in``
    is "model" (seeded from the run seed), else None."""
    if augment_in(config) != "model":
        return None
    return ViewAugmentation(config["data"]["augment"],
                            seed=int(config["seed"]) * 2 + 0x5A17)


OPTIMIZERS = ("adam", "sgd", "lars")
SCHEDULES = ("linear", "constant", "cosine", "warmup_cosine")

# Keys of the optim section a config may leave out, with the values they
# take then. ``jit_compile`` None is Keras' "auto" (XLA under JAX; none
# under TensorFlow on a CPU-only machine, nor under PyTorch).
OPTIM_DEFAULTS = {"jit_compile": None, "steps_per_execution": 1}


def compile_options(optim):
    """``model.compile`` keyword arguments from an ``optim`` section:
    ``jit_compile`` (``optim.jit_compile``: True, False, or None for Keras'
    "auto") and ``steps_per_execution`` (``optim.steps_per_execution``,
    training steps run per call of the compiled function: fewer Python
    round trips and callback calls; epochs and logs are unchanged).

    >>> compile_options({"jit_compile": None, "steps_per_execution": 4})
    {'jit_compile': 'auto', 'steps_per_execution': 4}
    """
    o = {**OPTIM_DEFAULTS, **optim}
    jit = o["jit_compile"]
    if jit is not None and not isinstance(jit, bool):
        raise ValueError("Expected optim.jit_compile True, False or None (auto); "
                         f"Received: jit_compile={jit!r}")
    steps = checks.check_positive_int(o["steps_per_execution"],
                                      "optim.steps_per_execution")
    return {"jit_compile": "auto" if jit is None else jit,
            "steps_per_execution": steps}


def check_optim(config):
    """Checks ``optim.optimizer``, ``optim.schedule``, the optional
    ``optim.warmup_epochs`` (int >= 0, below ``optim.epochs``),
    ``optim.jit_compile`` and ``optim.steps_per_execution``; raises
    ValueError with the one-line message the CLI prints."""
    o = config["optim"]
    compile_options(o)
    if o["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"Expected optim.optimizer in {list(OPTIMIZERS)}; "
                         f"Received: optimizer={o['optimizer']!r}")
    if o["schedule"] not in SCHEDULES:
        raise ValueError(f"Expected optim.schedule in {list(SCHEDULES)}; "
                         f"Received: schedule={o['schedule']!r}")
    warmup = o.get("warmup_epochs") or 0
    if not isinstance(warmup, int) or isinstance(warmup, bool) or not (
            warmup == 0 or 0 < warmup < o["epochs"]):
        raise ValueError(f"Expected optim.warmup_epochs, an int in [0, optim.epochs); "
                         f"Received: warmup_epochs={warmup!r}")


def compile_model(model, config, steps_per_epoch):
    """Compiles with ``optim.optimizer`` and ``optim.schedule``.

    Optimizers: ``adam``; ``sgd`` (momentum 0.9); ``lars`` (`kcontrast.lars.LARS`,
    momentum 0.9, eta 0.001; the L2 penalty stays in the loss, see
    ``model.weight_decay``). Schedules: ``linear`` (decayed linearly to 0,
    the companion recipe); ``cosine``; ``constant``; ``warmup_cosine``
    (linear warmup from 0 over ``optim.warmup_epochs`` epochs, then cosine
    decay to 0, SimCLR's). ``optim.learning_rate`` is the peak rate itself:
    the paper presets write SimCLR's scaling rule (0.3 x batch / 256) into it.
    ``optim.jit_compile`` / ``optim.steps_per_execution`` are optional, see
    ``compile_options``.
    """
    check_optim(config)
    o = config["optim"]
    options = compile_options(o)
    total = max(1, steps_per_epoch * o["epochs"])
    lr = o["learning_rate"]
    if o["schedule"] == "linear":
        lr = keras.optimizers.schedules.PolynomialDecay(
            lr, decay_steps=total, end_learning_rate=0.0, power=1.0)
    elif o["schedule"] == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    elif o["schedule"] == "warmup_cosine":
        warmup = min(total - 1, steps_per_epoch * (o.get("warmup_epochs") or 0))
        lr = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, total - warmup), warmup_target=lr,
            warmup_steps=warmup) if warmup else keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=total)
    if o["optimizer"] == "adam":
        optimizer = keras.optimizers.Adam(lr)
    elif o["optimizer"] == "sgd":
        optimizer = keras.optimizers.SGD(lr, momentum=0.9)
    else:
        optimizer = LARS(lr, momentum=0.9)
    model.compile(optimizer=optimizer, **options)
    return model


def steps_per_epoch(config, num_train):
    return num_train // config["optim"]["batch_size"]


def _features(model, split, batch_size):
    """Representations h and probe logits of a whole split, in order, and
    the split's labels in the same order: ``(features, labels)``.

    A streamed split (`kcontrast.data.stream.StreamSplit`) is read batch by
    batch (`kcontrast.evaluation.extract_features`): only the features and
    labels are kept, never the images."""
    if is_stream(split):
        names = ["representation"] + [f"probe_{n}" for n in model.probe_classes]
        return extract_features(model, probe_dataset(split, batch_size=batch_size), names)
    images = probe_dataset(split, batch_size=batch_size).map(lambda x, y: x)
    out = model.predict(images, verbose=0)
    return ({k: np.asarray(v, np.float32) for k, v in out.items()
             if k == "representation" or k.startswith("probe_")}, split.labels)


def _online_accuracy(logits, labels, multi_label):
    """Accuracy of an online probe over a whole split (not a mean of batch
    means): top-1, or the mean per-class present/absent accuracy."""
    labels = np.asarray(labels)
    if multi_label:
        return float(np.mean((logits > 0) == (labels > 0.5)))
    return float(np.mean(np.argmax(logits, axis=-1) == labels.reshape(-1)))


def probe_metrics(featurize, ds, config, log=None, standardize=False, units=None):
    """The point's offline probes on the features ``featurize`` gives.

    ``featurize(split) -> (float [N, D], {label: [N, ...]})``. Runs the
    linear probe and kNN (``evaluate_labels`` under the point's protocol)
    for every label of ``ds``, then for each of ``eval.probe_sets`` (built
    with the point's seed, each split cut to ``eval.max_probe_examples``).
    ``standardize``: standardise the features with training-split
    statistics first (the pixel control). ``units``: only these of
    ``"data"`` (the point's dataset) and the indices of ``eval.probe_sets``
    (default: all).

    Returns ``{"linear/<name>", "knn/<name>"}`` floats (multi-hot labels add
    ``map/``, ``chance_map/`` and ``f1/``).
    """
    from kcontrast.evaluation.standardize import Standardizer

    evaluation = config.get("eval") or {}
    protocol = protocol_of(config)

    def probe(dataset, names):
        train, train_labels = featurize(dataset.train)
        test, test_labels = featurize(dataset.test)
        if standardize:
            scale = Standardizer(train)
            train, test = scale(train), scale(test)
        if names:
            train_labels = {l: train_labels[l] for l in names}
            test_labels = {l: test_labels[l] for l in names}
        results = evaluate_labels(
            train, train_labels, test, test_labels,
            num_classes={l: dataset.num_classes[l] for l in train_labels
                         if l in dataset.num_classes},
            multi_label=dataset.multi_label, protocol=protocol,
            seed=config["seed"], log=log, names=names)
        return _label_metrics(results, names)

    units = None if units is None else set(units)
    metrics = probe(ds, None) if units is None or "data" in units else {}
    cap = evaluation.get("max_probe_examples")
    for index, probe_set in enumerate(evaluation.get("probe_sets") or ()):
        if units is not None and index not in units:
            continue
        other = build_dataset(probe_set["builder"], seed=config["seed"],
                              data_dir=config["data"].get("data_dir"),
                              **dict(probe_set.get("args") or {}))
        other = dataclasses.replace(other, train=other.train.head(cap),
                                    test=other.test.head(cap))
        metrics.update(probe(other, dict(probe_set["labels"])))
    return metrics


def control_metrics(config, ds, cache_dir=None, log=None):
    """The controls ``eval.controls`` selects (``kcontrast.evaluation.controls``:
    ``control_random/...`` and ``control_pixels/...``), each read from
    ``cache_dir`` when a point of the run with the same dataset (or probe
    set), architecture and seed computed it already."""
    from kcontrast.evaluation import controls

    metrics = {}
    for kind in controls.selected(config):
        metrics.update(controls.control_metrics(
            kind, config, ds,
            lambda featurize, standardize, unit: probe_metrics(
                featurize, ds, config, log=log, standardize=standardize, units=(unit,)),
            cache_dir=cache_dir, log=log))
    return metrics


def evaluate_point(model, ds, config, log=None, local_figure=None, controls_dir=None):
    """Online probes (over the whole test split), offline linear probes and
    kNN, per label, under the point's recorded protocol; then the same
    offline probes on each of ``eval.probe_sets`` (other datasets the
    representation is probed on, e.g. single digits after pretraining on
    several), and the controls of ``eval.controls`` (an untrained encoder
    and the raw pixels under the same probes, cached in ``controls_dir``).

    ``eval.probe_sets`` is a tuple of ``{"builder", "args", "labels":
    {dataset label: metric name}}``; each is built with the point's seed.

    Returns ``{"online/<label>", "linear/<label>", "knn/<label>"}`` floats
    (multi-hot labels add ``map/``, ``chance_map/`` and ``f1/``), with the
    controls ``control_random/{linear,knn}/<label>``,
    ``control_pixels/{linear,knn}/<label>`` and
    ``trained_minus_random/linear/<label>``.
    """
    from kcontrast.evaluation import controls

    evaluation = config.get("eval") or {}
    batch_size = evaluation.get("batch_size") or 512
    controls.selected(config)  # a bad eval.controls fails before any probe
    start = time.perf_counter()
    train, train_labels = _features(model, ds.train, batch_size)
    test, test_labels = _features(model, ds.test, batch_size)
    if log:
        log(f"features of {len(ds.train)} train / {len(ds.test)} test images "
            f"in {time.perf_counter() - start:.1f}s")
    metrics = {}
    for name in ds.num_classes:
        metrics[f"online/{name}"] = _online_accuracy(
            test[f"probe_{name}"], test_labels[name], name in ds.multi_label)
    known = {id(ds.train): (train["representation"], train_labels),
             id(ds.test): (test["representation"], test_labels)}

    def featurize(split):
        if id(split) in known:
            return known[id(split)]
        features, labels = _features(model, split, batch_size)
        return features["representation"], labels

    metrics.update(probe_metrics(featurize, ds, config, log=log))
    known.clear()
    start = time.perf_counter()
    metrics.update(control_metrics(config, ds, cache_dir=controls_dir, log=log))
    if controls.selected(config):
        metrics["controls_time_s"] = round(time.perf_counter() - start, 2)
    metrics.update(controls.differences(metrics))
    local = evaluation.get("local_features")
    if local:
        metrics.update(local_feature_metrics(model, ds, local, config["seed"], log,
                                             figure=local_figure))
        if controls.selected(config):
            start = time.perf_counter()
            metrics.update(controls.local_controls(config, ds, local, controls_dir, log))
            metrics["controls_time_s"] = round(
                metrics["controls_time_s"] + time.perf_counter() - start, 2)
    return metrics


def local_feature_metrics(model, ds, options, seed, log=None, figure=None):
    """K-means on each encoder stage's spatial vectors of test images,
    scored against the builder's object masks (``kcontrast.local_features``).

    Returns ``local_ari/<stage>`` (all pixels), ``local_fg_ari/<stage>``
    (object pixels only: are the objects told apart from each other) and
    ``local_purity/<stage>`` at ``options["k"]`` clusters; ``<stage>`` =
    ``pixels`` is K-means on the raw pixels, the baseline. At each stage's
    resolution, the model-free references ``local_ari_ceiling/<stage>``
    (the masks reduced to the stage's grid: the best that grid allows) and
    ``local_ari_pixels_at/<stage>`` (raw pixels averaged to the grid), and
    their ``local_fg_ari_*`` twins (with ``eval.controls``, ``evaluate_point``
    adds ``kcontrast.evaluation.controls.local_controls``: coordinates,
    pixels plus coordinates, the untrained encoder's stages). With ``figure``
    (a path), also draws the cluster maps of ``options["figure_images"]``
    test images, one row per stage (``kcontrast.local_features``).
    """
    from kcontrast import local_features as lf

    start = time.perf_counter()
    k = int(options.get("k", 4))
    scores = lf.local_feature_scores(model, ds.test, k=(k,),
                                  num_images=int(options.get("num_images", 32)),
                                  seed=seed)
    metrics = {}
    for stage, by_k in scores.items():
        if stage in ("best", "num_images", "resolution"):
            continue
        for name in ("ari", "fg_ari", "purity"):
            value = by_k[str(k)].get(name)
            if value is not None:
                metrics[f"local_{name}/{stage}"] = float(value)
    for stage, ref in scores["resolution"].items():
        for name in ("ari", "fg_ari"):
            for kind, values in (("ceiling", ref["ceiling"]), ("pixels_at", ref["pixels"][str(k)])):
                if values.get(name) is not None:
                    metrics[f"local_{name}_{kind}/{stage}"] = float(values[name])
    if log:
        parts = []
        for name, best in scores["best"].items():
            b = best.get(str(k))
            if b:
                parts.append(f"best {name} {b['stage']} {b['value']:.3f} vs pixels {b['pixels']:.3f}")
        log(f"local features (K-means, k={k}, {scores['num_images']} images): "
            f"{'; '.join(parts)} in {time.perf_counter() - start:.1f}s")
    if figure:
        shown = lf.model_inputs(ds.test, int(options.get("figure_images", 8)))
        maps = lf.stage_maps(model, shown)
        clusters = lf.cluster_rows(maps, ds.test.images[:len(shown)], (k,), seed)
        lf.draw_clusters(ds.test.images[:len(shown)], clusters[k], figure,
                         title=f"{ds.name}: K-means per image on each stage, k={k}",
                         masks=ds.test.info["masks"][:len(shown)],
                         notes=lf.row_notes(scores, k))
    return metrics


# --------------------------------------------------------------- callbacks
class EpochLog(keras.callbacks.Callback):
    """Appends one JSON line per epoch to ``path``: ``{"epoch", "time_s",
    <logs>}``. On a resumed fit, lines of epochs that will be redone are
    dropped first, so the file holds each epoch once."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_train_begin(self, logs=None):
        first = getattr(self.model, "_initial_epoch", None) or 0
        kept = [r for r in read_jsonl(self.path) if r["epoch"] < first]
        atomic.write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": int(epoch), "time_s": round(time.perf_counter() - self._start, 3)}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _flat(config, prefix=""):
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (bool, int, float, str)):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, (list, tuple)):
            out[f"{prefix}{key}"] = str(list(value))
    return out


def write_hparams(log_dir, config, metrics=None):
    """Records the point's hyper-parameters for TensorBoard's hparams plugin."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(os.path.join(log_dir, "hparams"))
    with writer.as_default():
        hp.hparams(_flat(config))
        for name, value in (metrics or {}).items():
            if isinstance(value, float):
                tf.summary.scalar(name, value, step=0)
    writer.close()


class StopCheck(keras.callbacks.Callback):
    """Calls ``check()`` after every batch: a run's signal handler only
    records SIGTERM/SIGINT, and ``check`` raises at this safe point, never
    in the middle of writing a checkpoint."""

    def __init__(self, check):
        super().__init__()
        self.check = check

    def on_train_batch_end(self, batch, logs=None):
        self.check()


def point_callbacks(point_dir):
    """BackupAndRestore (resume), the per-epoch JSON log and TensorBoard.

    The backup is kept after ``fit`` (``delete_checkpoint=False``) and removed
    by ``pretrain_point`` once the point's metrics are written, so an
    interruption during evaluation does not cost the training.
    """
    # BackupAndRestore first: it sets the epoch to resume from, which
    # EpochLog reads at train begin.
    return [
        keras.callbacks.BackupAndRestore(os.path.join(point_dir, "backup"),
                                         delete_checkpoint=False),
        EpochLog(os.path.join(point_dir, "metrics.jsonl")),
        keras.callbacks.TensorBoard(os.path.join(point_dir, "tensorboard"),
                                    write_graph=False, profile_batch=0),
    ]


# ----------------------------------------------------------- determinism
# XLA's deterministic GPU ops; ``kcontrast.run.deterministic_env`` puts it in
# XLA_FLAGS before JAX starts.
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"


def enable_determinism():
    """Deterministic kernels on the active backend, for the rest of the process
    (TensorFlow's op determinism cannot be switched off again).

    TensorFlow's op determinism always (``tf.data`` runs on TensorFlow under
    every backend: its parallel maps keep their order and its random ops
    need seeds) with one inter-op thread (concurrent ops on a CPU give
    last-bit differences from run to run even under op determinism; set
    before TensorFlow starts, or through ``TF_NUM_INTEROP_THREADS=1``, else
    ``ValueError``), plus ``torch.use_deterministic_algorithms`` (and no cuDNN
    autotuning) under PyTorch. JAX is deterministic on a CPU; on a GPU its
    flag must be in ``XLA_FLAGS`` before JAX starts (see
    ``kcontrast.run.deterministic_env``): a JAX already running on a GPU
    without it raises ``ValueError``. Seeds are the caller's
    (``keras.utils.set_random_seed``).

    >>> enable_determinism()  # then two fits with one seed give the same weights
    """
    import tensorflow as tf

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        if (jax.default_backend() == "gpu"
                and XLA_DETERMINISTIC not in os.environ.get("XLA_FLAGS", "")):
            raise ValueError(
                f"Expected XLA_FLAGS to hold {XLA_DETERMINISTIC} before JAX starts "
                "(python -m kcontrast.run --deterministic sets it); "
                f"Received: XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow has started: only the variable can have set it
        if (tf.config.threading.get_inter_op_parallelism_threads() != 1
                and os.environ.get("TF_NUM_INTEROP_THREADS") != "1"):
            raise ValueError(
                "Expected TF_NUM_INTEROP_THREADS=1 or deterministic mode set before "
                "TensorFlow starts (python -m kcontrast.run --deterministic does); "
                "Received: TensorFlow already running with parallel inter-op threads") from None
    if backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def finished_epochs(point_dir):
    """Epochs a point's backup holds (0 when there is none): the epoch its
    ``BackupAndRestore`` resumes from, read from the callback's
    ``training_metadata.json``."""
    path = os.path.join(point_dir, "backup", "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return int(json.load(f).get("epoch", 0))


# ------------------------------------------------------------------ a point
def pretrain_point(config, point_dir=None, save_model=True, verbose=2,
                   callbacks=(), log=None, dataset=None, check=None,
                   strategy=None, sync_batch_norm=True, deterministic=False,
                   controls_dir=None):
    """Pretrains and evaluates one point of an experiment.

    Args:
        config: a point config (nested dict, see the module docstring).
        point_dir: the point's directory (created): config, logs, backup,
            model and ``metrics.json``. A directory holding a backup from an
            interrupted fit resumes from its last finished epoch. None: train
            in memory only.
        save_model: write ``model.keras`` and ``model.weights.h5``.
        verbose: ``fit`` verbosity.
        callbacks: extra Keras callbacks.
        log: optional callable taking one progress line.
        dataset: the built dataset when the caller has it already.
        check: optional callable run after every training batch and between
            phases; it raises to stop the point at a safe place (the run's
            SIGTERM/SIGINT handling).
        strategy: a ``kcontrast.distribute.Strategy`` (or its name) to
            build, compile and fit under; ``optim.batch_size`` is the
            global batch and must divide over its replicas. Default: one
            device.
        sync_batch_norm: under a TensorFlow strategy, BatchNorm statistics
            over the global batch (True) or per replica (False). The flag
            is cleared after ``fit``, so saved models load anywhere.
        deterministic: ``enable_determinism`` first (for the rest of the
            process): with the same seed, the same metrics to the bit,
            resumed or not.

    The data of epoch e depends on (seed, e) alone (``pretrain_dataset``
    with ``epochs``), and a resumed fit restores weights, optimizer state
    and epoch from the backup, so it sees the batches and augmentations the
    uninterrupted fit saw. Seeds are reset before evaluation: it depends
    on the trained model alone.
        controls_dir: where the run caches its controls (see
            ``kcontrast.evaluation.controls``); None computes them for this
            point alone.

    Returns:
        ``(metrics, model)``; metrics maps ``linear/<label>``,
        ``online/<label>``, ``knn/<label>``, ``contrastive_acc``,
        ``train_time_s``, ``train_images_per_s`` (training examples per
        second of ``fit``, each one two views) and ``eval_time_s`` to floats,
        with the controls of ``evaluate_point`` and their ``controls_time_s``
        (part of ``eval_time_s``; near 0 when read from the cache).
    """
    if deterministic:
        enable_determinism()
    if (config.get("mcl") or {}).get("stages", 1) != 1:  # multistage (kcontrast.mcl)
        from kcontrast import mcl

        return mcl.pretrain_point(config, point_dir, save_model, verbose, callbacks, log,
                                  dataset, check, strategy, sync_batch_norm)
    if strategy is None or isinstance(strategy, str):
        strategy = distribute.get_strategy(strategy or "none")
    keras.utils.set_random_seed(config["seed"])
    ds = dataset if dataset is not None else load_data(config)
    batch_size = strategy.check_batch_size(config["optim"]["batch_size"],
                                           "optim.batch_size")
    steps = steps_per_epoch(config, len(ds.train))
    if steps < 1:
        raise ValueError(
            f"Expected optim.batch_size <= {len(ds.train)} training examples; "
            f"Received: batch_size={batch_size}")
    epochs = config["optim"]["epochs"]
    # The data of the epochs still to run (at least one pass is built: a
    # finished fit resumed for its evaluation only peeks at it).
    first = min(finished_epochs(point_dir), epochs - 1) if point_dir is not None else 0
    train = pretrain_dataset(ds.train, augment=config["data"]["augment"],
                             batch_size=batch_size, seed=config["seed"],
                             epochs=(first, epochs),
                             augment_in=augment_in(config))
    with strategy.scope():
        model = build_model(config, ds.input_shape, ds.num_classes, ds.multi_label,
                            image_channels=ds.input_shape[-1] - ds.train.num_extra)
        strategy.prepare_model(model, sync_batch_norm=sync_batch_norm)
        compile_model(model, config, steps)
    extra = list(callbacks) + ([StopCheck(check)] if check else [])
    check = check or (lambda: None)
    if point_dir is not None:
        os.makedirs(point_dir, exist_ok=True)
        write_point_config(point_dir, config, ds, strategy, deterministic=deterministic)
        write_hparams(os.path.join(point_dir, "tensorboard"), config)
        extra = point_callbacks(point_dir) + extra
    start = time.perf_counter()
    try:
        with strategy.scope():
            history = model.fit(train, epochs=epochs, steps_per_epoch=steps,
                                verbose=verbose, shuffle=False, callbacks=extra)
    finally:
        strategy.release_model(model)
    train_time = time.perf_counter() - start
    check()
    keras.utils.set_random_seed(config["seed"])
    start = time.perf_counter()
    metrics = evaluate_point(
        model, ds, config, log=log,
        local_figure=os.path.join(point_dir, "local_features.png") if point_dir else None,
        controls_dir=controls_dir)
    eval_time = time.perf_counter() - start
    check()
    epochs = read_jsonl(os.path.join(point_dir, "metrics.jsonl")) if point_dir else []
    last = (epochs[-1] if epochs else
            {k: v[-1] for k, v in history.history.items() if v})
    metrics["contrastive_acc"] = float(last.get("contrastive_acc", float("nan")))
    metrics["train_time_s"] = round(
        sum(e["time_s"] for e in epochs) if epochs else train_time, 2)
    # Training examples (each two augmented views) per second of fit, the
    # first epoch's tracing/compilation included.
    metrics["train_images_per_s"] = round(
        steps * batch_size * config["optim"]["epochs"]
        / max(metrics["train_time_s"], 1e-9), 1)
    metrics["eval_time_s"] = round(eval_time, 2)
    if point_dir is not None:
        if save_model:
            model.save(os.path.join(point_dir, "model.keras"))
            model.save_weights(os.path.join(point_dir, "model.weights.h5"))
        write_hparams(os.path.join(point_dir, "tensorboard"), config, metrics)
        atomic.write_json(os.path.join(point_dir, METRICS_FILE), metrics, default=str)
        shutil.rmtree(os.path.join(point_dir, "backup"), ignore_errors=True)
    return metrics, model


def write_point_config(point_dir, config, ds, strategy=None, deterministic=False):
    """``config.json``: the point config, its dataset, versions, device,
    distribution strategy and whether it ran deterministic kernels."""
    backend = keras.backend.backend()
    record = {
        "experiment": config.get("name"),
        "config": config,
        "dataset": {"builder": ds.name, "config": ds.config},
        "input_shape": list(ds.input_shape),
        "labels": dict(ds.num_classes),
        "multi_label": sorted(ds.multi_label),
        "backend": backend,
        "keras_version": keras.__version__,
        "versions": provenance.versions(backend),
        "device": provenance.device(backend),
        "strategy": (strategy.describe() if strategy is not None
                     else {"name": "none", "num_replicas": 1}),
        "deterministic": bool(deterministic),
    }
    atomic.write_json(os.path.join(point_dir, "config.json"), record, default=str)


def save_point(model, config, ds, point_dir):
    """Writes a trained model and its ``config.json`` (for models trained
    outside ``pretrain_point``)."""
    os.makedirs(point_dir, exist_ok=True)
    model.save(os.path.join(point_dir, "model.keras"))
    model.save_weights(os.path.join(point_dir, "model.weights.h5"))
    write_point_config(point_dir, config, ds)
