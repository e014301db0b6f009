"""SavedModel export for probing, from a model trained on any backend.

Python::

    from kcontrast.export import export_for_probing
    export_for_probing(model, "saved_models/randbit5")

Command line (a run point directory written by ``kcontrast.run``, holding
``model.keras`` and ``config.json``)::

    python -m kcontrast.export --run=runs/randbit/<stamp>/points/<point> \\
        --out=saved_models/NAME [--overwrite]
    python -m kcontrast.export --model=model.keras [--config=config.json] \\
        --out=saved_models/NAME
    ... [--maps]      # also serve the encoder's spatial stage maps

The export directory (default ``saved_models/<run dir name>``) holds:

- a TensorFlow SavedModel (``saved_model.pb``, ``variables/``, ...) with one
  endpoint, ``serve`` (also the ``serving_default`` signature)::

      input   images  float32 [batch, H, W, C]     batch size variable;
                      H, W, C fixed: the model's input, extra channels included
                      (RandBit bits appended as constant channels), values as
                      kcontrast.data.pipeline.probe_dataset yields them
      output  dict of float32 [batch, dim]:
              "stage<i>"        each encoder stage, globally average pooled
              "representation"  the encoder output h
              "head_<i>"        each hidden projection-head layer
              "projection"      the head output z
              "probe_<label>"   the online probe logits per label
              "stage<i>_map"    only with --maps / maps=True: each encoder
                                stage before pooling, [batch, h_i, w_i, c_i]
                                (ContrastiveModel.feature_maps), for
                                local features (kcontrast.local_features)

  all computed in inference mode (BatchNorm moving statistics);
- ``config.json``: ``format`` (``"kcontrast.export/1"``), ``input`` (name,
  shape, dtype), ``features`` (name -> shape), ``backend`` (the backend the
  model was trained on), ``labels`` (name -> classes), ``multi_label``,
  ``dataset`` (builder name and config, so ``kcontrast.probe`` can rebuild
  the data), ``maps`` (the ``stage<i>_map`` names served, ``[]`` without
  maps), ``training`` (the run's whole ``config.json``) and
  ``exported_with`` (versions).

Any backend: Keras writes SavedModels only under TensorFlow. On JAX or
PyTorch the model is saved as a backend-neutral ``.keras`` file and exported
by a subprocess running this module with ``KERAS_BACKEND=tensorflow``.

Nothing is half-written: everything goes to a temporary directory beside the
target, renamed into place when complete. An existing target is refused
unless ``overwrite``.

Reloading needs only TensorFlow::

    import tensorflow as tf
    loaded = tf.saved_model.load("saved_models/NAME")
    features = loaded.serve(images)            # dict name -> [batch, dim]
    layer = keras.layers.TFSMLayer("saved_models/NAME", call_endpoint="serve")
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from kcontrast import atomic
from kcontrast.quiet_imports import import_tensorflow_quietly

PROGRAM = "kcontrast.export"
FORMAT = "kcontrast.export/1"
CONFIG_FILE = "config.json"
ENDPOINT = "serve"
INPUT_NAME = "images"
DEFAULT_DIR = "saved_models"
RUN_FILES = ("model.keras", "config.json")


class ExportError(ValueError):
    """A bad export request; its message is one line."""


def _input_shape(model):
    """The per-example input shape `(H, W, C)` of a built model."""
    if not getattr(model, "built", False):
        raise ExportError(
            "Expected a built model (call it on a batch or give it an Input "
            f"first); Received: model={getattr(model, 'name', model)!r} with built=False")
    encoder = getattr(model, "encoder", None)
    for source in (encoder, model):
        inputs = getattr(source, "inputs", None) if source is not None else None
        try:
            if inputs:
                return tuple(int(d) for d in inputs[0].shape[1:])
        except (TypeError, ValueError):
            break
    raise ExportError(
        "Expected a model with a fixed input shape (a functional encoder or "
        f"model); Received: model={getattr(model, 'name', model)!r}")


def _check_target(path, overwrite):
    if not path:
        raise ExportError(f"Expected an output path; Received: path={path!r}")
    if os.path.lexists(path) and not overwrite:
        raise ExportError(
            "Expected an output path that does not exist (pass --overwrite / "
            f"overwrite=True to replace it); Received: path={path}")


def _temp_beside(path, tag):
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.{tag}-", dir=parent)


def _move_into_place(source, path, overwrite):
    """Renames the complete `source` to `path` (replacing it if `overwrite`)."""
    _check_target(path, overwrite)
    if os.path.lexists(path):
        trash = _temp_beside(path, "old")
        old = os.path.join(trash, "old")
        os.rename(path, old)
        os.rename(source, path)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(source, path)


def _default_record(model, backend):
    """A run record for a model exported without a run `config.json`."""
    return {"backend": backend,
            "labels": dict(getattr(model, "probe_classes", {}) or {}),
            "multi_label": list(getattr(model, "multi_label", ()) or ())}


MAP_SUFFIX = "_map"


def _check_maps(model):
    """The stage names whose maps `model` can serve, or an ExportError."""
    stage_names = getattr(model, "stage_names", None)
    names = stage_names() if callable(stage_names) else []
    if not names or not callable(getattr(model, "feature_maps", None)):
        raise ExportError(
            "Expected a model with spatial stage maps (a ContrastiveModel whose "
            "encoder has stage<i> layers) for maps=True; "
            f"Received: model={getattr(model, 'name', model)!r}")
    return names


def _outputs(model, images, maps):
    """The served dict: the model's features, plus `stage<i>_map` if `maps`."""
    outputs = dict(model(images, training=False))
    if maps:
        for name, value in model.feature_maps(images, training=False).items():
            outputs[name + MAP_SUFFIX] = value
    return outputs


def _write_saved_model(model, out_dir, input_shape, maps=False):
    """Writes the SavedModel (TensorFlow backend only); returns feature shapes."""
    import keras
    import numpy as np
    import tensorflow as tf

    probe = model(np.zeros((1,) + input_shape, np.float32), training=False)
    if not isinstance(probe, dict) or not probe:
        raise ExportError(
            "Expected a model whose call returns a dict of named features; "
            f"Received: {type(probe).__name__}")
    if maps:
        _check_maps(model)
        probe = _outputs(model, np.zeros((1,) + input_shape, np.float32), maps)

    def serve(images):
        outputs = _outputs(model, images, maps)
        return {name: keras.ops.cast(value, "float32") for name, value in outputs.items()}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        ENDPOINT, serve,
        input_signature=[tf.TensorSpec((None,) + input_shape, tf.float32, name=INPUT_NAME)])
    archive.write_out(out_dir, verbose=False)
    return {name: [None] + [int(d) for d in value.shape[1:]]
            for name, value in sorted(probe.items())}


def _export_tensorflow(model, record, path, overwrite, maps=False):
    """The in-process export (TensorFlow backend)."""
    import keras
    import tensorflow as tf

    input_shape = _input_shape(model)
    _check_target(path, overwrite)
    if maps:
        _check_maps(model)
    tmp = _temp_beside(path, "tmp")
    try:
        out = os.path.join(tmp, "export")
        features = _write_saved_model(model, out, input_shape, maps)
        config = {
            "format": FORMAT,
            "endpoint": ENDPOINT,
            "input": {"name": INPUT_NAME, "shape": [None, *input_shape],
                      "dtype": "float32"},
            "features": features,
            "backend": record.get("backend", "unknown"),
            "labels": dict(record.get("labels") or {}),
            "multi_label": list(record.get("multi_label") or []),
            "dataset": record.get("dataset"),
            "maps": sorted(n for n in features if n.endswith(MAP_SUFFIX)),
            "training": record,
            "exported_with": {"keras": keras.__version__, "tensorflow": tf.__version__},
        }
        atomic.write_json(os.path.join(out, CONFIG_FILE), config, default=str)
        _move_into_place(out, path, overwrite)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _export_in_subprocess(model_file, config_file, path, overwrite, maps=False):
    """Runs this module's CLI under ``KERAS_BACKEND=tensorflow``."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "kcontrast.export", f"--model={model_file}",
               f"--config={config_file}", f"--out={path}"]
    if overwrite:
        command.append("--overwrite")
    if maps:
        command.append("--maps")
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [l for l in done.stderr.strip().splitlines() if l.strip()]
        message = lines[-1] if lines else f"exit code {done.returncode}"
        raise ExportError(message.replace("kcontrast.export: error: ", ""))


def export_for_probing(model, path, run_config=None, overwrite=False, maps=False):
    """Exports `model` as a SavedModel of named features, plus `config.json`.

    Args:
        model: a built model whose call returns a dict of named features,
            normally a `kcontrast.models.ContrastiveModel` (any backend).
        path: the export directory to create (see the module docstring).
        run_config: the run's `config.json` record (as written by
            `kcontrast.pretrain.save_point`); recorded under `training`, and
            its `labels`, `multi_label`, `dataset` and `backend` are copied
            to the top level. Default: labels from the model's probes and the
            current backend.
        overwrite: replace an existing `path`.
        maps: also serve each encoder stage's spatial map as
            `stage<i>_map` float32 [batch, h_i, w_i, c_i] (the model's
            `feature_maps`); off by default, since maps are much larger
            than the pooled features.

    Returns:
        `path`.

    Raises:
        ExportError (a ValueError): unbuilt model, existing path, a model
            that does not return a dict of features, or `maps=True` for a
            model without `feature_maps`.

    >>> export_for_probing(model, "saved_models/demo")  # doctest: +SKIP
    'saved_models/demo'
    """
    import keras

    backend = keras.backend.backend()
    input_shape = _input_shape(model)
    _check_target(path, overwrite)
    record = dict(run_config) if run_config else _default_record(model, backend)
    record.setdefault("backend", backend)
    record.setdefault("input_shape", list(input_shape))
    if maps:
        _check_maps(model)
    if backend == "tensorflow":
        return _export_tensorflow(model, record, path, overwrite, maps)
    tmp = _temp_beside(path, "keras")
    try:
        model_file = os.path.join(tmp, "model.keras")
        config_file = os.path.join(tmp, "config.json")
        model.save(model_file)
        atomic.write_json(config_file, record, default=str)
        _export_in_subprocess(model_file, config_file, path, overwrite, maps)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def read_export_config(path):
    """Returns the `config.json` of a kcontrast export at `path`.

    Raises:
        ExportError: `path` is not a directory written by `export_for_probing`.
    """
    if not os.path.isdir(path):
        raise ExportError(
            f"Expected a SavedModel directory; Received: saved_model={path} (not a directory)")
    config_path = os.path.join(path, CONFIG_FILE)
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ExportError(
            f"Expected a SavedModel exported by kcontrast (with a {CONFIG_FILE} of "
            f"format {FORMAT}; export one with python -m kcontrast.export); "
            f"Received: saved_model={path}")
    return config


def _run_files(run_dir):
    """`(model.keras, config.json)` of a run point directory, or a clear error."""
    if all(os.path.isfile(os.path.join(run_dir, f)) for f in RUN_FILES):
        return tuple(os.path.join(run_dir, f) for f in RUN_FILES)
    points = os.path.join(run_dir, "points")
    hint = ""
    if os.path.isdir(points):
        names = sorted(os.listdir(points))
        hint = f" (this is an experiment run; its points: {', '.join(names)})"
    raise ExportError(
        f"Expected a run directory holding {' and '.join(RUN_FILES)}{hint}; "
        f"Received: run={run_dir}")


def _export_files(model_file, config_file, out, overwrite, maps=False):
    """Loads a `.keras` file under TensorFlow and exports it."""
    if not os.path.isfile(model_file):
        raise ExportError(f"Expected a .keras model file; Received: model={model_file}")
    _check_target(out, overwrite)
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "tensorflow":
        return _export_in_subprocess(model_file, config_file, out, overwrite, maps)
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import_tensorflow_quietly()
    import keras

    import kcontrast.losses  # noqa: F401  (registers the serializable classes)
    import kcontrast.models  # noqa: F401

    record = {}
    if config_file:
        try:
            with open(config_file) as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise ExportError(
                f"Expected a readable JSON run config; Received: config={config_file} "
                f"({type(e).__name__})") from None
    try:
        model = keras.saving.load_model(model_file, compile=False)
    except Exception as e:  # a broken or foreign file: report it in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(
            f"Expected a loadable .keras model; Received: model={model_file} ({first})"
        ) from None
    if not record:
        record = _default_record(model, "unknown")
    return _export_tensorflow(model, record, out, overwrite, maps)


def main(argv=None):
    """The CLI: `--help`; one line on stderr and exit code 2 on a bad request."""
    from absl import flags

    from kcontrast.cli import fail, parse_flags

    fv = flags.FlagValues()
    flags.DEFINE_string("run", None, "Run point directory with model.keras and config.json.", flag_values=fv)
    flags.DEFINE_string("model", None, "A .keras file (instead of --run).", flag_values=fv)
    flags.DEFINE_string("config", None, "The run config.json to record (with --model).", flag_values=fv)
    flags.DEFINE_string("out", None, f"Export directory (default {DEFAULT_DIR}/<run dir name>).", flag_values=fv)
    flags.DEFINE_bool("overwrite", False, "Replace an existing export directory.", flag_values=fv)
    flags.DEFINE_bool("maps", False, "Also serve each encoder stage's spatial map as stage<i>_map.",
                      flag_values=fv)
    rest = parse_flags(fv, sys.argv if argv is None else argv, PROGRAM, __doc__)
    try:
        if rest:
            raise ExportError(f"Expected only flags; Received: {' '.join(rest)}")
        if bool(fv.run) == bool(fv.model):
            raise ExportError(
                f"Expected exactly one of --run or --model; Received: run={fv.run}, model={fv.model}")
        if fv.run:
            model_file, config_file = _run_files(fv.run)
            out = fv.out or os.path.join(DEFAULT_DIR, os.path.basename(os.path.normpath(fv.run)))
        else:
            model_file, config_file = fv.model, fv.config
            if not fv.out:
                raise ExportError("Expected --out with --model; Received: out=None")
            out = fv.out
        _export_files(model_file, config_file, out, fv.overwrite, fv.maps)
    except ExportError as e:
        fail(PROGRAM, e)
    print(f"exported: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
