"""Probe an exported model: linear probe and kNN on its frozen features.

    python -m kcontrast.probe --saved_model=saved_models/NAME \\
        [--dataset=randbit] [--label=label] [--feature=representation] [--overwrite]
        [--controls]

1. reads the export's ``config.json`` (refuses a SavedModel kcontrast did not
   write) and checks ``--feature`` against the exported features; refuses an
   existing ``--out`` unless ``--overwrite`` (before any work);
2. rebuilds the dataset: ``--dataset`` names a builder of
   ``kcontrast.data.BUILDERS`` (default: the one recorded at export); the
   recorded builder config is reused when the names match, and
   ``--dataset_config='{"bits": 10}'`` overrides or adds arguments;
3. loads the SavedModel with ``tf.saved_model.load`` and streams the train and
   test splits (``kcontrast.data.pipeline.probe_dataset``) through its
   ``serve`` endpoint, keeping only ``--feature``;
4. for each ``--label`` (default: every label of the dataset) runs
   ``kcontrast.evaluation.linear_probe`` and ``knn_classify``;
5. on the recorded dataset with no ``--label`` or ``--dataset_config``, also
   probes the training run's ``eval.probe_sets`` (other datasets, e.g. single
   digits after pretraining on several; ``--noprobe_sets`` skips them), built
   and capped as the run built them;
6. with ``--controls``, probes the same rows with the controls of
   ``kcontrast.evaluation.controls`` (the recorded encoder at
   initialisation, rebuilt from the export's training config and seed; the
   raw pixels);
7. prints the metrics it computed under the run's names (``linear/label``,
   ``linear/single_digit``, ``map/presence4``, ...; the experiment's
   headline metrics first) and writes the results as JSON to ``--out``
   (default ``<saved_model>/probes/<dataset>-<feature>.json``), atomically.

With default flags on the representation this repeats the run's own
``linear/*``, ``knn/*`` and ``map/*`` metrics from the export alone.

A bad request (not a kcontrast export, unknown feature, label or dataset,
input shape mismatch, an existing output) ends with one line on stderr and
exit code 2, and writes nothing.
"""

import json
import os
import sys

from absl import flags

from kcontrast.export import read_export_config
from kcontrast.quiet_imports import import_tensorflow_quietly


PROGRAM = "kcontrast.probe"


class ProbeError(ValueError):
    """A bad probe request; its message is one line."""


def _dataset_request(config, name, overrides):
    recorded = config.get("dataset") or {}
    name = name or recorded.get("builder")
    if not name:
        raise ProbeError(
            "Expected --dataset (the export records no dataset); Received: dataset=None")
    kwargs = dict(recorded.get("config") or {}) if name == recorded.get("builder") else {}
    if overrides:
        try:
            extra = json.loads(overrides)
        except ValueError:
            extra = None
        if not isinstance(extra, dict):
            raise ProbeError(
                f"Expected --dataset_config to be a JSON object; Received: {overrides}")
        kwargs.update(extra)
    return name, kwargs


def recorded_protocol(config):
    """The evaluation protocol and seed recorded with an export's training
    run (``training.config``), so that a probe with default flags repeats the
    run's own ``linear/<label>`` and ``knn/<label>``."""
    from kcontrast.evaluation.per_label import protocol_of

    training = (config.get("training") or {}).get("config") or {}
    return protocol_of(training), training.get("seed", 0)


def headline_of(config):
    """The headline metrics (its figure's ``y``) of the experiment an
    export's training run belongs to; ``[]`` when it names no experiment
    this version knows."""
    from kcontrast import config as cfg
    from kcontrast.report import headline_metrics

    training = config.get("training") or {}
    name = training.get("experiment") or (training.get("config") or {}).get("name")
    if name not in cfg.experiment_names():
        return []
    try:
        return headline_metrics(cfg.get_experiment_config(name).get("figure"))
    except (ValueError, KeyError, TypeError):
        return []


def default_out(saved_model, builder, feature):
    """Where a probe's results go without ``--out``."""
    return os.path.join(saved_model, "probes", f"{builder}-{feature}.json")


def _limit(*caps):
    caps = [n for n in caps if n]
    return min(caps) if caps else None


def probe_saved_model(saved_model, dataset=None, dataset_config=None, labels=None,
                      feature="representation", batch_size=256, max_examples=None,
                      seed=None, k=None, temperature=None, linear_optimizer=None,
                      probe_sets=True, log=None, controls=False):
    """Linear probe and kNN of one exported feature, per label.

    Args:
        saved_model: an export directory written by `kcontrast.export`.
        dataset: builder name (default: the recorded one).
        dataset_config: JSON object text overriding builder arguments.
        labels: label names (default: all of the dataset).
        feature: exported feature name.
        batch_size: images per SavedModel call.
        max_examples: keep only the first examples of each split (quick runs).
        seed: linear-probe seed (default: the training run's).
        k, temperature: kNN parameters (default: the recorded protocol's).
        linear_optimizer: "lbfgs" or "adam" (default: the recorded
            protocol's; "lbfgs" when nothing is recorded).
        probe_sets: also probe the training run's ``eval.probe_sets`` when
            probing the recorded dataset with no `labels` or
            `dataset_config` (each built with the run's seed and capped at
            its ``eval.max_probe_examples``, as the run did).
        log: optional callable taking one progress line.
        controls: also probe the controls (``kcontrast.evaluation.controls``:
            the recorded encoder at initialisation, the raw pixels) on the
            same rows, labels, protocol and seed.

    Returns:
        dict with `saved_model`, `feature`, `dataset` (builder and config),
        `backend` (of training), `num_train`, `num_test`, `results`
        (label -> {"linear": ..., "knn": ...}), `probe_sets` (one entry per
        probe set probed: builder, args, labels, sizes, results), `metrics`
        (the run's names: ``linear/<name>``, ``knn/<name>``, ``map/<name>``,
        ...) `headline` (the experiment's headline metrics); with ``controls``,
        also `controls` (control -> label -> {"linear": ..., "knn": ...}).

    Raises:
        ProbeError / ExportError (ValueErrors): the one-line CLI errors.
    """
    config = read_export_config(saved_model)
    features = sorted(config.get("features", {}))
    if feature not in features:
        raise ProbeError(
            f"Expected --feature among {features}; Received: feature={feature!r}")
    name, kwargs = _dataset_request(config, dataset, dataset_config)

    import_tensorflow_quietly()
    from kcontrast.data import BUILDERS, build_dataset
    from kcontrast.data.pipeline import probe_dataset
    from kcontrast.evaluation import evaluate_labels, extract_features
    from kcontrast.evaluation.per_label import label_metrics

    if name not in BUILDERS:
        raise ProbeError(f"Expected --dataset among {sorted(BUILDERS)}; Received: dataset={name!r}")
    try:
        ds = build_dataset(name, **kwargs)
    except ValueError as e:
        raise ProbeError(str(e).splitlines()[0]) from None
    available = sorted(ds.num_classes)
    training = (config.get("training") or {}).get("config") or {}
    recorded_sets = []
    if probe_sets and not labels and not dataset_config and (
            name == (config.get("dataset") or {}).get("builder")):
        recorded_sets = list((training.get("eval") or {}).get("probe_sets") or ())
    labels = list(labels or available)
    unknown = [l for l in labels if l not in ds.num_classes]
    if unknown:
        raise ProbeError(f"Expected --label among {available}; Received: label={unknown}")
    # The run's training split was cut to data.train_examples: probe the same
    # rows, so that default flags repeat the run's numbers.
    recorded_limit = None
    if name == (config.get("dataset") or {}).get("builder"):
        recorded_limit = (training.get("data") or {}).get("train_examples")
    train = ds.train.head(_limit(max_examples, recorded_limit))
    test = ds.test.head(max_examples)
    _check_shape(config, train, name)
    cap = _limit(max_examples, (training.get("eval") or {}).get("max_probe_examples"))
    others = []
    for probe_set in recorded_sets:
        try:
            other = build_dataset(probe_set["builder"], seed=training.get("seed", 0),
                                  data_dir=(training.get("data") or {}).get("data_dir"),
                                  **dict(probe_set.get("args") or {}))
        except (ValueError, KeyError) as e:
            raise ProbeError(
                f"Expected the recorded probe set to build ({e}); Received: "
                f"{probe_set.get('builder')!r} (skip it with --noprobe_sets)") from None
        _check_shape(config, other.train, probe_set["builder"])
        others.append((probe_set, other.train.head(cap), other.test.head(cap), other))

    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model)
    train_x, train_y = extract_features(loaded, probe_dataset(train, batch_size), [feature])
    test_x, test_y = extract_features(loaded, probe_dataset(test, batch_size), [feature])
    protocol, recorded_seed = recorded_protocol(config)
    if k is not None:
        protocol["knn"]["k"] = k
    if temperature is not None:
        protocol["knn"]["temperature"] = temperature
    if linear_optimizer is not None:
        protocol["linear"]["optimizer"] = linear_optimizer
    seed = recorded_seed if seed is None else seed
    results = evaluate_labels(
        train_x[feature], {l: train_y[l] for l in labels},
        test_x[feature], {l: test_y[l] for l in labels},
        num_classes={l: ds.num_classes[l] for l in labels},
        multi_label=ds.multi_label, protocol=protocol, seed=seed, log=log)
    metrics = label_metrics(results)
    sets = []
    for probe_set, other_train, other_test, other in others:
        names = dict(probe_set["labels"])
        if log:
            log(f"probe set {probe_set['builder']} ({', '.join(names.values())}): "
                f"{len(other_train)} train / {len(other_test)} test images")
        o_train_x, o_train_y = extract_features(
            loaded, probe_dataset(other_train, batch_size), [feature])
        o_test_x, o_test_y = extract_features(
            loaded, probe_dataset(other_test, batch_size), [feature])
        set_results = evaluate_labels(
            o_train_x[feature], {l: o_train_y[l] for l in names},
            o_test_x[feature], {l: o_test_y[l] for l in names},
            num_classes={l: other.num_classes[l] for l in names},
            multi_label=other.multi_label, protocol=protocol, seed=seed, log=log,
            names=names)
        metrics.update(label_metrics(set_results, names))
        sets.append({"builder": probe_set["builder"], "args": dict(probe_set.get("args") or {}),
                     "labels": names, "num_train": len(other_train),
                     "num_test": len(other_test), "results": set_results})
    record = {"saved_model": saved_model, "feature": feature,
              "dataset": {"builder": name, "config": kwargs},
              "backend": config.get("backend"), "num_train": len(train),
              "num_test": len(test), "protocol": protocol,
              "seed": seed, "results": results, "probe_sets": sets,
              "metrics": metrics, "headline": headline_of(config)}
    if controls:
        model_shape = list(config["input"]["shape"][1:])
        record["controls"] = _controls(training, model_shape, train, test, labels, ds,
                                       protocol, seed, batch_size, log)
    return record


def _check_shape(config, split, name):
    data_shape = list(split.image_shape[:-1]) + [split.image_shape[-1] + split.num_extra]
    model_shape = list(config["input"]["shape"][1:])
    if data_shape != model_shape:
        raise ProbeError(
            f"Expected images of shape {model_shape} (the export's input); "
            f"Received: dataset {name} gives {data_shape}")


def _controls(training, model_shape, train, test, labels, ds, protocol, seed,
              batch_size, log):
    from kcontrast.evaluation.controls import probe_controls

    if not training.get("model"):
        raise ProbeError("Expected an export that records its training config (for "
                         "--controls); Received: none recorded")
    return probe_controls(training, model_shape, train, test, labels, ds.num_classes,
                          ds.multi_label, protocol=protocol, seed=seed,
                          batch_size=batch_size, log=log)


def define_flags(fv):
    flags.DEFINE_string("saved_model", None, "Export directory written by kcontrast.export.", flag_values=fv)
    flags.DEFINE_string("dataset", None, "Dataset builder (default: the one recorded at export).", flag_values=fv)
    flags.DEFINE_string("dataset_config", None, "JSON object of builder arguments to override.", flag_values=fv)
    flags.DEFINE_list("label", None, "Label name(s) to probe (default: all).", flag_values=fv)
    flags.DEFINE_string("feature", "representation", "Exported feature to probe.", flag_values=fv)
    flags.DEFINE_integer("batch_size", 256, "Images per SavedModel call.", flag_values=fv)
    flags.DEFINE_integer("max_examples", None, "Use only the first examples of each split.", flag_values=fv)
    flags.DEFINE_integer("seed", None, "Linear-probe seed (default: the training run's).", flag_values=fv)
    flags.DEFINE_integer("k", None, "kNN neighbours (default: the recorded protocol's, else 20).", flag_values=fv)
    flags.DEFINE_float("temperature", None, "kNN temperature (default: the recorded protocol's, else 0.07).", flag_values=fv)
    flags.DEFINE_enum("linear_optimizer", None, ["lbfgs", "adam"], "Linear-probe optimizer (default: the recorded protocol's, else lbfgs).", flag_values=fv)
    flags.DEFINE_boolean("controls", False, "Also probe the controls: the recorded encoder at "
                         "initialisation and the raw pixels (kcontrast.evaluation.controls).",
                         flag_values=fv)
    flags.DEFINE_string("out", None, "Results JSON (default <saved_model>/probes/<dataset>-<feature>.json).", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing --out.", flag_values=fv)
    flags.DEFINE_bool("probe_sets", True, "On the recorded dataset, also probe the training run's eval.probe_sets (--noprobe_sets: skip them).", flag_values=fv)
    return fv


def _main(argv=None):
    from kcontrast import atomic, cli

    fv = define_flags(flags.FlagValues())
    argv = list(sys.argv if argv is None else argv)
    rest = cli.parse_flags(fv, argv, PROGRAM, __doc__)
    try:
        if rest:
            raise ProbeError(f"Expected only flags; Received: {rest}")
        if not fv.saved_model:
            raise ProbeError("Expected --saved_model=PATH; Received: saved_model=None")
        if fv.batch_size < 1 or (fv.k is not None and fv.k < 1) or (
                fv.temperature is not None and not fv.temperature > 0) or (
                fv.max_examples is not None and fv.max_examples < 2):
            raise ProbeError(
                "Expected batch_size >= 1, k >= 1, temperature > 0, max_examples >= 2; "
                f"Received: batch_size={fv.batch_size}, k={fv.k}, "
                f"temperature={fv.temperature}, max_examples={fv.max_examples}")
        builder = _dataset_request(read_export_config(fv.saved_model), fv.dataset,
                                   fv.dataset_config)[0]
        out = fv.out or default_out(fv.saved_model, builder, fv.feature)
        if os.path.lexists(out) and not fv.overwrite:
            raise ProbeError(
                "Expected an --out that does not exist (pass --overwrite to replace it); "
                f"Received: out={out}")
        if os.path.isdir(out):
            raise ProbeError(f"Expected --out to be a file path; Received: out={out} is a directory")
        record = probe_saved_model(
            fv.saved_model, dataset=fv.dataset, dataset_config=fv.dataset_config,
            labels=fv.label, feature=fv.feature, batch_size=fv.batch_size,
            max_examples=fv.max_examples, seed=fv.seed, k=fv.k,
            temperature=fv.temperature, linear_optimizer=fv.linear_optimizer,
            probe_sets=fv.probe_sets, log=lambda line: print(line, flush=True),
            controls=fv.controls)
    except ValueError as e:
        cli.fail(PROGRAM, e)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic.write_json(out, record, default=str)
    for label, result in record["results"].items():
        print(f"{label}: linear {result['linear']['accuracy']:.4f}  "
              f"knn {result['knn']['accuracy']:.4f}  ({fv.feature}, "
              f"{record['num_train']} train / {record['num_test']} test)")
        for kind, by_label in (record.get("controls") or {}).items():
            control = by_label[label]
            print(f"{label}: {kind} control: linear {control['linear']['accuracy']:.4f}  "
                  f"knn {control['knn']['accuracy']:.4f}")
    for line in metrics_lines(record):
        print(line)
    print(f"results: {out}")
    return 0


def metrics_lines(record, width=100):
    """The lines naming the metrics a probe computed, under the run's names,
    the experiment's headline metrics first (``kcontrast.report.metric_order``),
    each line within ``width`` characters."""
    from kcontrast.report import metric_order

    metrics = record["metrics"]
    order = metric_order(metrics, record.get("headline") or ())
    order += [m for m in metrics if m not in order]
    headline = [m for m in record.get("headline") or () if m in metrics]
    lines = []
    if headline:
        lines.append("headline: " + "  ".join(f"{m}={metrics[m]:.4f}" for m in headline))
    line = f"computed {len(order)} metrics:"
    for name in order:
        part = f" {name}={float(metrics[name]):.4f}"
        if len(line) + len(part) > width:
            lines.append(line)
            line = " "
        line += part
    lines.append(line)
    return lines


def main(argv=None):
    """The CLI; returns the exit code (2 with one line on stderr for a bad
    request)."""
    from kcontrast import cli

    return cli.exit_code(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
