"""Experiment configs: nested ``ml_collections.ConfigDict`` sections, overrides
from the command line, sweeps, and the checks that run before anything is
written.

An experiment is one file in ``experiments/`` whose ``get_config(preset)``
returns a ``ConfigDict`` with these sections::

    seed                  int, the run seed (data, init, augmentation, probes)
    data    builder, data_dir, augment, train_examples, args (the builder's
            keyword arguments); optional test_examples (a cap on the test
            split, e.g. for a quick run) and augment_in ("pipeline", the
            default: tf.data makes the views; "model": the train step does)
    model   encoder, width, head_depth, head_hidden_units, head_output_units,
            weight_decay; optional bn_momentum, per_view_forward, probe_views,
            objective, recon_weight, precision ("float32" or
            "mixed_bfloat16") (defaults in
            ``kcontrast.pretrain.MODEL_DEFAULTS``) and pool
            (encoders that take it, ``kcontrast.pretrain.encoder_kwargs``)
    loss    name, and the hyper-parameters of the loss family (see
            ``loss_section``); only the chosen loss's own keys are used
    optim   optimizer, learning_rate, schedule, epochs, batch_size
    eval    the offline evaluation protocol (see ``eval_section``)

plus sections that describe the run rather than one training:
``sweep`` (a tuple of ``"key=v1,v2"`` strings, the same syntax as the CLI's
``--sweep``), ``quick`` (``{"set": ("key=value", ...), "sweep": (...)}``, the
smoke-test size), ``figure`` (what ``results.figure`` plots) and, optionally,
``summary`` (numbers derived across points, ``results.summarize``) and
``variants`` (named conditions, below).

Sweeping ``loss.name`` switches the loss class per point; each point then
takes its own loss's defaults (``kcontrast.losses.params.loss_defaults``) for
every loss key the config leaves unset.

Named conditions (``variants``). A sweep over values of one key cannot
switch between settings that differ in several keys at once (RandBit against
DigitOnImage: another builder, other builder arguments). An experiment may
declare ``variants = {selector: {name: ((dotted key, value), ...)}}``, where
each selector is a string key of the config (e.g. a top-level
``condition``) and each name an identifier (ConfigDict keys take no dots):
a point whose selector holds ``name`` gets that variant's values, which
replace the config's, user overrides included (a dict value replaces the
whole subtree, e.g. ``"data.args"``). Selectors are swept like any key
(``--sweep=condition=bits_05,digits_all``); an unknown name is a one-line
error listing the known ones::

    c.condition = "bits_00"
    c.variants = {"condition": {
        "bits_00": (("data.builder", "randbit"), ("data.args", {"bits": 0})),
        "digits_1": (("data.builder", "digit_on_image"),
                     ("data.args", {"num_unique_digits": 1}))}}

(A plain ``{dotted key: value}`` dict works too where no ConfigDict holds it.)

Any key can be set with ``--config.optim.learning_rate=1e-3`` (absl's
``config_flags``) and swept with ``--sweep=loss.temperature=0.05,0.1``.

``resolve`` reads the loss registry (which imports Keras), so the CLI picks
the backend first; every value is checked before a file is written.

>>> config = get_experiment_config("randbit")      # doctest: +SKIP
>>> base, points = resolve(config, sweeps=["seed=0,1"])   # doctest: +SKIP
"""

import copy
import difflib
import importlib
import itertools
import numbers

import ml_collections
from ml_collections.config_dict import placeholder

META_KEYS = ("name", "sweep", "quick", "figure", "summary", "variants")

# Short flags of kcontrast.run -> config keys (an experiment's ALIASES add
# to or replace these, e.g. randbit's --bits and --dataset).
ALIASES = {
    "temperature": "loss.temperature",
    "loss": "loss.name",
    "lambda_weight": "loss.lambda_weight",
    "epochs": "optim.epochs",
    "batch_size": "optim.batch_size",
    "learning_rate": "optim.learning_rate",
    "seed": "seed",
    "data_dir": "data.data_dir",
}

# Ranges checked on every resolved point: key -> (kind, low, high, inclusive
# low). ``None`` bounds are open.
RANGES = {
    "seed": (int, 0, None),
    "optim.epochs": (int, 1, None),
    "optim.batch_size": (int, 2, None),
    "optim.learning_rate": (float, 0.0, None),
    "optim.steps_per_execution": (int, 1, None),
    "model.width": (int, 1, None),
    "model.head_depth": (int, 0, None),
    "model.head_hidden_units": (int, 1, None),
    "model.head_output_units": (int, 1, None),
    "model.weight_decay": (float, 0.0, None),
    "model.bn_momentum": (float, 0.0, 1.0),
    "data.train_examples": (int, 2, None),
    "data.test_examples": (int, 1, None),
    "model.recon_weight": (float, 0.0, None),
    "loss.ifm_epsilon": (float, 0.0, None),
    "loss.ifm_weight": (float, 0.0, 1.0),
    "loss.temperature": (float, 0.0, None),
    "loss.lambda_weight": (float, 0.0, None),
    "eval.knn.k": (int, 1, None),
    "eval.knn.temperature": (float, 0.0, None),
    "eval.batch_size": (int, 1, None),
}
# Keys that take one of a few strings, checked on every resolved point.
CHOICES = {
    # Where the two views are made: the tf.data pipeline, or the compiled
    # train step (kcontrast.models.augment.ViewAugmentation).
    "data.augment_in": ("pipeline", "model"),
}
# Keys whose value must be strictly above the low bound.
STRICT = {"optim.learning_rate", "loss.temperature", "eval.knn.temperature"}


class ConfigError(ValueError):
    """A bad config or command line; the message is one line."""


# ---------------------------------------------------------------- sections
def loss_section(name, **params):
    """The ``loss`` section: ``name`` plus every loss hyper-parameter.

    Keys a loss family does not take stay ``None`` placeholders (typed, so
    ``--config.loss.lambda_weight=5`` parses); ``resolve`` checks that every
    key set by the user belongs to the chosen loss. Optional keys
    (``OPTIONAL_PARAM_TYPES``: IFM's ``ifm_epsilon``, ``ifm_weight``) are
    in the section only when given here.
    """
    from kcontrast.losses.params import OPTIONAL_PARAM_TYPES
    from kcontrast.losses.params import PARAM_TYPES

    section = ml_collections.ConfigDict({"name": name})
    for key, kind in PARAM_TYPES.items():
        section[key] = params.pop(key) if key in params else placeholder(kind)
    for key, kind in OPTIONAL_PARAM_TYPES.items():
        if key in params:
            value = params.pop(key)
            section[key] = placeholder(kind) if value is None else kind(value)
    if params:
        known = sorted({**PARAM_TYPES, **OPTIONAL_PARAM_TYPES})
        raise ConfigError(
            f"Expected loss parameters among {known}; Received: {sorted(params)}")
    return section


def eval_section(linear_optimizer="lbfgs", k=20, knn_temperature=0.07,
                 batch_size=512):
    """The offline evaluation protocol shared by ``kcontrast.run`` and
    ``kcontrast.probe`` (recorded in every point's config)::

        feature          representation  (the encoder output h)
        linear.optimizer lbfgs | adam    (kcontrast.evaluation.linear_probe)
        knn.k, knn.temperature           (kcontrast.evaluation.knn_classify)
        batch_size                       images per forward pass
        max_probe_examples               cap on each split of probe_sets
        controls         True | False    random-init and pixel controls
                                         (kcontrast.evaluation.controls)
    """
    return ml_collections.ConfigDict({
        "feature": "representation",
        "linear": {"optimizer": linear_optimizer},
        "knn": {"k": k, "temperature": knn_temperature},
        "batch_size": batch_size,
        "max_probe_examples": placeholder(int),
        "controls": True,
    })


def builder_args(builder, **values):
    """The ``data.args`` section: every keyword argument of ``builder`` that
    has a non-None default (so any of them can be overridden), updated with
    ``values``. ``seed`` and ``data_dir`` come from the top-level ``seed``
    and ``data.data_dir`` instead."""
    import inspect

    from kcontrast.data import BUILDERS

    params = inspect.signature(BUILDERS[builder]).parameters
    args = {}
    for name, param in params.items():
        if name in ("seed", "data_dir"):
            continue
        default = param.default
        if isinstance(default, (bool, int, float, str, tuple)):
            args[name] = default
    unknown = sorted(set(values) - set(params))
    if unknown:
        raise ConfigError(
            f"Expected arguments of builder {builder!r} among {sorted(args)}; "
            f"Received: {unknown}")
    args.update(values)
    return ml_collections.ConfigDict(args)


# ------------------------------------------------------------ experiments
def experiments_package():
    """The experiments package that goes with the imported ``kcontrast``.

    In a source checkout (``experiments/`` beside the ``kcontrast/`` that
    was imported, e.g. with ``PYTHONPATH`` on a git worktree) that folder,
    as ``experiments``; never an installed copy's experiments, which may
    belong to another checkout (an editable install maps
    ``kcontrast.experiments`` to its own tree). Otherwise, the installed
    ``kcontrast.experiments``.
    """
    import importlib.util
    import os
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = os.path.join(root, "experiments")
    init = os.path.join(folder, "__init__.py")
    loaded = sys.modules.get("experiments")
    if loaded is not None and os.path.abspath(getattr(loaded, "__file__", "") or "") == init:
        return loaded
    if os.path.exists(init) and loaded is None:
        spec = importlib.util.spec_from_file_location(
            "experiments", init, submodule_search_locations=[folder])
        module = importlib.util.module_from_spec(spec)
        sys.modules["experiments"] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module("kcontrast.experiments")
    except ImportError:  # a source checkout without install
        return importlib.import_module("experiments")


def experiment_names():
    return sorted(experiments_package().EXPERIMENTS)


def load_experiment(name):
    """The experiment module registered as ``name``."""
    package = experiments_package()
    if name not in package.EXPERIMENTS:
        close = difflib.get_close_matches(str(name), package.EXPERIMENTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"Expected --exp in {sorted(package.EXPERIMENTS)}; "
            f"Received: exp={name!r}{hint}")
    return importlib.import_module(f"{package.__name__}.{package.EXPERIMENTS[name]}")


def get_experiment_config(name, preset="default"):
    """``load_experiment(name).get_config(preset)``, with a one-line error
    for an unknown preset."""
    module = load_experiment(name)
    presets = getattr(module, "PRESETS", ("default",))
    if preset not in presets:
        raise ConfigError(
            f"Expected --preset in {list(presets)} for {name}; "
            f"Received: preset={preset!r}")
    return module.get_config(preset)


def aliases(module):
    """The experiment's short flags: the common ones plus its ``ALIASES``."""
    return {**ALIASES, **getattr(module, "ALIASES", {})}


def split_meta(config):
    """``(trainable config, meta)``: ``meta`` holds name, sweep, quick,
    figure and variants."""
    config = copy.deepcopy(config)
    meta = {}
    with config.unlocked():
        for key in META_KEYS:
            if key in config:
                value = config[key]
                meta[key] = value.to_dict() if isinstance(
                    value, ml_collections.ConfigDict) else value
                del config[key]
    return config, meta


# ------------------------------------------------------------------- keys
def flat_keys(config, prefix=""):
    """Dotted paths of every leaf of ``config``."""
    keys = []
    for key in sorted(config.keys()):
        value = config[key]
        path = f"{prefix}{key}"
        if isinstance(value, (ml_collections.ConfigDict, dict)):
            keys += flat_keys(value, path + ".")
        else:
            keys.append(path)
    return keys


def closest_key(config, key):
    matches = difflib.get_close_matches(key, flat_keys(config), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_key(config, key):
    if key not in flat_keys(config):
        near = closest_key(config, key)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ConfigError(f"Expected an existing config key; Received: {key!r}{hint}")


def get_value(config, key):
    node = config
    for part in key.split("."):
        node = node[part]
    return node


def set_value(config, key, value):
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


def key_type(config, key):
    parts = key.split(".")
    node = config
    for part in parts[:-1]:
        node = node[part]
    return node.get_type(parts[-1])


def parse_value(config, key, text):
    """Parses ``text`` as the type of ``key`` (int, float, str, bool)."""
    kind = key_type(config, key)
    text = str(text).strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "1")
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind is str:
            return text
        if kind in (tuple, list):
            import ast
            value = ast.literal_eval(text)
            return tuple(value) if kind is tuple else list(value)
    except (ValueError, SyntaxError):
        raise ConfigError(
            f"Expected {key} to be {kind.__name__}; Received: {key}={text!r}") from None
    raise ConfigError(f"Expected a settable key; Received: {key} of type {kind.__name__}")


def parse_assignment(config, text):
    """``"key=v1,v2"`` -> ``(key, [values])`` with values of the key's type."""
    if "=" not in text:
        raise ConfigError(f"Expected KEY=VALUE[,VALUE...]; Received: {text!r}")
    key, values = text.split("=", 1)
    key = key.strip()
    check_key(config, key)
    kind = key_type(config, key)
    if kind in (tuple, list):
        return key, [parse_value(config, key, values)]
    parts = [v for v in values.split(",") if v.strip()]
    if not parts:
        raise ConfigError(f"Expected at least one value; Received: {text!r}")
    return key, [parse_value(config, key, v) for v in parts]


# ---------------------------------------------------------------- resolve
def _check_range(key, value):
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"Expected {key} in {list(CHOICES[key])}; Received: {key}={value!r}")
    if key not in RANGES or value is None:
        return
    kind, low, high = RANGES[key]
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind is int:
        ok = ok and isinstance(value, numbers.Integral)
    if ok and low is not None:
        ok = value > low if key in STRICT else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bound = (f"> {low}" if key in STRICT else f">= {low}") if high is None \
            else f"in [{low}, {high}]"
        raise ConfigError(f"Expected {key} {bound} ({kind.__name__}); Received: {key}={value!r}")


def loss_keys(name):
    """The hyper-parameters loss ``name`` takes."""
    from kcontrast.losses.params import loss_params

    return loss_params(name)


def resolve(config, meta=None, sets=(), sweeps=(), quick=False, explicit=()):
    """Applies overrides and expands the sweep into points.

    Args:
        config: the experiment's ``ConfigDict`` (with its meta sections, or
            without them when ``meta`` is given).
        meta: the meta sections split off by ``split_meta``, or None.
        sets: ``[(key, value)]`` single values to set (a swept key set to
            one value is restricted to it).
        sweeps: ``["key=v1,v2", ...]`` or ``[(key, [values])]``: sweep these
            keys (replacing the experiment's values for a swept key).
        quick: apply the experiment's ``quick`` section first.
        explicit: keys the user set in other ways (``--config.*``), checked
            against the loss like ``sets``.

    Returns:
        ``(base, meta, points)``: ``base`` the ``ConfigDict`` without meta
        sections, ``meta`` a dict (name, sweep, quick, figure), ``points`` a
        list of ``{key: value}`` in sweep order (``[{}]`` without a sweep).

    Raises:
        ConfigError: unknown key (naming the closest), wrong type, a value
            out of range, or a loss key the chosen loss does not take.
    """
    if meta is None:
        base, meta = split_meta(config)
    else:
        base, meta = copy.deepcopy(config), copy.deepcopy(dict(meta))
    sweep = {}
    user_keys = set(explicit)

    def assign(target, items, user):
        for item in items:
            key, values = parse_assignment(base, item) if isinstance(item, str) else item
            check_key(base, key)
            target[key] = list(values)
            if user:
                user_keys.add(key)

    assign(sweep, meta.get("sweep", ()), user=False)
    if quick:
        q = meta.get("quick") or {}
        for item in q.get("set", ()):
            key, values = parse_assignment(base, item)
            set_value(base, key, values[0])
        assign(sweep, q.get("sweep", ()), user=False)
    for key, value in sets:
        check_key(base, key)
        user_keys.add(key)
        if key in sweep:
            sweep[key] = [value]
        else:
            set_value(base, key, value)
    assign(sweep, sweeps, user=True)

    # Loss keys: the user's must belong to the chosen loss; the
    # experiment's defaults for other losses are dropped.
    names = sweep.get("loss.name", [base.loss.name])
    for name in names:
        taken = loss_keys(name)
        for key in sorted(user_keys):
            if key.startswith("loss.") and key != "loss.name" and key[5:] not in taken:
                raise ConfigError(
                    f"Expected keys of loss {name!r} ({', '.join(taken) or 'none'}); "
                    f"Received: {key}")
    if len(names) == 1:
        taken = loss_keys(names[0])
        for key in list(base.loss.keys()):
            if key != "name" and key not in taken:
                base.loss[key] = None
        for key in list(sweep):
            if key.startswith("loss.") and key != "loss.name" and key[5:] not in taken:
                del sweep[key]

    for key in flat_keys(base):
        _check_range(key, get_value(base, key))
    for key, values in sweep.items():
        for value in values:
            _check_range(key, value)
    _check_variants(base, meta.get("variants"), sweep, user_keys)
    keys = list(sweep)
    points = [dict(zip(keys, combo))
              for combo in itertools.product(*(sweep[k] for k in keys))]
    points = _dedupe(points)
    meta["sweep_keys"] = keys
    return base, meta, points or [{}]


def _check_variants(base, variants, sweep, user_keys=()):
    """Each selector is a string key of ``base``; every name it takes (its
    value, or its swept values) is a declared variant; every variant key
    exists in ``base`` and its leaf values are in range; and no key the
    user set is one a selected variant sets (it would be overridden)."""
    for selector, table in (variants or {}).items():
        check_key(base, selector)
        names = sweep.get(selector, [get_value(base, selector)])
        for name in names:
            if name not in table:
                raise ConfigError(
                    f"Expected {selector} in {sorted(table)}; "
                    f"Received: {selector}={name!r}")
            for key in _pairs(table[name]):
                clash = [k for k in user_keys
                         if k == key or k.startswith(key + ".")]
                if clash:
                    raise ConfigError(
                        f"Expected keys that the variant {selector}={name} does not "
                        f"set (sweep or choose {selector} instead); Received: {clash[0]}")
        for name, values in table.items():
            for key, value in _pairs(values).items():
                try:
                    get_value(base, key)
                except (KeyError, AttributeError):
                    raise ConfigError(
                        f"Expected variant keys of the config; Received: "
                        f"{key!r} in {selector}={name!r}") from None
                if not isinstance(value, dict):
                    _check_range(key, value)


def _pairs(values):
    """A variant's ``{dotted key: value}`` from a dict or ``(key, value)``
    pairs."""
    return dict(values) if not isinstance(values, dict) else values


def apply_variants(config, variants):
    """Sets, in the nested dict ``config``, the values of the variant each
    selector of ``variants`` names (see the module docstring); a dict value
    replaces the whole subtree. Returns ``config``.

    >>> apply_variants({"c": "b", "x": {"y": 1}}, {"c": {"b": (("x.y", 2),)}})
    {'c': 'b', 'x': {'y': 2}}
    """
    for selector, table in (variants or {}).items():
        node = config
        for part in selector.split("."):
            node = node[part]
        for key, value in _pairs(table[node]).items():
            parts = key.split(".")
            target = config
            for part in parts[:-1]:
                target = target[part]
            target[parts[-1]] = copy.deepcopy(value)
    return config


def _dedupe(points):
    seen, out = set(), []
    for p in points:
        key = tuple(sorted(p.items()))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def point_config(base, params, variants=None):
    """``base`` with one point's ``params`` applied, as a plain nested dict.

    ``variants`` (the meta section of that name, if the experiment has
    one) then sets the values of the named conditions the point selects.

    Loss keys the point's loss does not take are set to None and the keys
    it takes but the config leaves unset get the loss's defaults, so a
    point's config names exactly what shapes it.
    """
    from kcontrast.losses.params import loss_defaults

    config = copy.deepcopy(base)
    for key, value in params.items():
        set_value(config, key, value)
    config = apply_variants(config.to_dict(), variants)
    taken = loss_keys(config["loss"]["name"])
    defaults = loss_defaults(config["loss"]["name"])
    for key in list(config["loss"]):
        if key == "name":
            continue
        if key not in taken:
            config["loss"][key] = None
        elif config["loss"][key] is None:
            config["loss"][key] = defaults[key]
    return config


def point_name(index, params):
    """A directory name for a point: ``03-bits=5-temperature=0.1``."""
    parts = [f"{index:02d}"] + [f"{k.rsplit('.', 1)[-1]}={v}" for k, v in params.items()]
    return "-".join(parts).replace("/", "_")


def short(params):
    """``{"data.args.bits": 5}`` -> ``{"bits": 5}`` where the short names are
    unique; the dotted key otherwise."""
    tails = [k.rsplit(".", 1)[-1] for k in params]
    return {(t if tails.count(t) == 1 else k): v
            for k, t, v in zip(params, tails, params.values())}


def diff(recorded, current, prefix=""):
    """Dotted keys whose values differ between two nested dicts."""
    keys = []
    for key in sorted(set(recorded) | set(current)):
        a, b = recorded.get(key), current.get(key)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            keys += diff(a, b, path + ".")
        elif _normal(a) != _normal(b):
            keys.append(path)
    return keys


def _normal(value):
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    return value
