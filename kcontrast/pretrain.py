"""One experiment point: data -> ContrastiveModel -> fit -> probes -> metrics.

``build_model`` and ``pretrain_point`` are the whole training path of
``kcontrast.run``; experiment files only hold the configs they read.
"""

import dataclasses
import json
import os
import time

import keras
import numpy as np

from kcontrast.data import build_dataset
from kcontrast.data.pipeline import pretrain_dataset, probe_dataset
from kcontrast.evaluation import knn_classify, linear_probe
from kcontrast.losses import make_loss
from kcontrast.models import ENCODERS, ContrastiveModel, projection_head


def load_data(config):
    """Builds the competing-feature dataset named by ``config``."""
    kwargs = {k: config[k] for k in config.get("builder_args", [])}
    ds = build_dataset(config["builder"], base=config["dataset"],
                       seed=config["seed"], data_dir=config.get("data_dir"),
                       **kwargs)
    limit = config.get("train_examples")
    if limit:
        ds = dataclasses.replace(ds, train=_first(ds.train, limit))
    return ds


def _first(split, n):
    """The first ``n`` examples of a split (quick runs)."""
    return dataclasses.replace(
        split, images=split.images[:n],
        labels={k: v[:n] for k, v in split.labels.items()},
        extra=None if split.extra is None else split.extra[:n],
        info={k: v[:n] for k, v in split.info.items()})


def build_model(config, input_shape, num_classes, multi_label=()):
    """Builds an uncompiled ``ContrastiveModel`` from a flat config dict."""
    if config["encoder"] not in ENCODERS:
        raise ValueError(
            f"Expected encoder in {sorted(ENCODERS)}; "
            f"Received: encoder={config['encoder']!r}")
    encoder = ENCODERS[config["encoder"]](
        tuple(input_shape), width=config["width"],
        weight_decay=config["weight_decay"])
    head = projection_head(
        encoder.outputs[0].shape[-1], depth=config["head_depth"],
        hidden_units=config["head_hidden_units"] * config["width"],
        output_units=config["head_output_units"],
        weight_decay=config["weight_decay"])
    loss = make_loss(config["loss"], temperature=config.get("temperature"),
                     lambda_weight=config.get("lambda_weight"),
                     seed=config["seed"])
    return ContrastiveModel(encoder, head, loss=loss,
                            probes=dict(num_classes),
                            multi_label=tuple(multi_label))


def compile_model(model, config, steps_per_epoch):
    """Adam with the learning rate decayed linearly to 0 (companion recipe)."""
    schedule = keras.optimizers.schedules.PolynomialDecay(
        config["learning_rate"], decay_steps=max(1, steps_per_epoch * config["epochs"]),
        end_learning_rate=0.0, power=1.0)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    return model


def _representations(model, split, batch_size):
    images = probe_dataset(split, batch_size=batch_size).map(lambda x, y: x)
    return np.asarray(model.encoder.predict(images, verbose=0), np.float32)


def evaluate_point(model, ds, batch_size, probe_options=None, seed=0):
    """Online probes, offline linear probes and kNN, per label.

    ``probe_options`` are extra keyword arguments of
    ``kcontrast.evaluation.linear_probe`` (e.g. ``{"optimizer": "adam"}``).
    """
    metrics = {}
    probe_options = dict(probe_options or {})
    online = model.evaluate(probe_dataset(ds.test, batch_size=batch_size),
                            verbose=0, return_dict=True)
    train_h = _representations(model, ds.train, batch_size)
    test_h = _representations(model, ds.test, batch_size)
    for name, classes in ds.num_classes.items():
        metrics[f"online/{name}"] = float(online[f"probe_{name}_acc"])
        kwargs = {"multi_label": True} if name in ds.multi_label else {}
        lin = linear_probe(train_h, ds.train.labels[name], test_h,
                           ds.test.labels[name], num_classes=classes,
                           **{"seed": seed, **probe_options, **kwargs})
        metrics[f"linear/{name}"] = float(lin["accuracy"])
        knn = knn_classify(train_h, ds.train.labels[name], test_h,
                           ds.test.labels[name], num_classes=classes,
                           **kwargs)
        metrics[f"knn/{name}"] = float(knn["accuracy"])
    return metrics


def pretrain_point(config, out_dir=None, verbose=2, callbacks=()):
    """Pretrains and evaluates one point of an experiment.

    Args:
        config: flat config dict (an experiment's config with one value per
            swept key).
        out_dir: if given, the point's model and config are saved there:
            ``model.keras``, ``model.weights.h5`` and ``config.json``.
        verbose: ``fit`` verbosity.
        callbacks: extra Keras callbacks.

    Returns:
        ``(metrics, model)``; metrics maps ``linear/<label>``,
        ``online/<label>``, ``knn/<label>``, ``contrastive_acc`` and
        ``train_time_s`` to floats.
    """
    keras.utils.set_random_seed(config["seed"])
    ds = load_data(config)
    batch_size = config["batch_size"]
    train = pretrain_dataset(ds.train, augment=config["augment"],
                             batch_size=batch_size, seed=config["seed"])
    steps = len(ds.train) // batch_size
    if steps < 1:
        raise ValueError(
            f"Expected batch_size <= {len(ds.train)} training "
            f"examples; Received: batch_size={batch_size}")
    model = build_model(config, ds.input_shape, ds.num_classes, ds.multi_label)
    compile_model(model, config, steps)
    start = time.perf_counter()
    history = model.fit(train, epochs=config["epochs"], verbose=verbose, shuffle=False,
                        callbacks=list(callbacks))
    train_time = time.perf_counter() - start
    metrics = evaluate_point(model, ds, batch_size,
                             config.get("linear_probe"), seed=config["seed"])
    metrics["contrastive_acc"] = float(history.history["contrastive_acc"][-1])
    metrics["train_time_s"] = round(train_time, 2)
    if out_dir is not None:
        save_point(model, config, ds, out_dir)
    return metrics, model


def save_point(model, config, ds, out_dir):
    """Writes the model and everything needed to rebuild its data."""
    os.makedirs(out_dir, exist_ok=True)
    model.save(os.path.join(out_dir, "model.keras"))
    model.save_weights(os.path.join(out_dir, "model.weights.h5"))
    record = {
        "experiment": config.get("name"),
        "config": config,
        "dataset": {"builder": ds.name, "config": ds.config},
        "input_shape": list(ds.input_shape),
        "labels": dict(ds.num_classes),
        "multi_label": sorted(ds.multi_label),
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
    }
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(record, f, indent=2, sort_keys=True, default=str)
