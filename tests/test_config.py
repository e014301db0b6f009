"""Experiment configs: overrides, sweeps, loss keys, checks (no training)."""

import pytest

from kcontrast import config as cfg


@pytest.fixture
def randbit():
    return cfg.get_experiment_config("randbit")


def test_default_sweep_and_point_configs(randbit):
    base, meta, points = cfg.resolve(randbit)
    assert len(points) == 15
    assert points[0] == {"data.args.bits": 0, "loss.temperature": 0.05}
    config = cfg.point_config(base, points[4])
    assert config["data"]["args"]["bits"] == 5 and config["loss"]["temperature"] == 0.1
    assert config["loss"]["name"] == "nt_xent"
    # NT-Xent takes no lambda_weight: the point config says so with None.
    assert config["loss"]["lambda_weight"] is None
    assert meta["figure"]["x"] == "bits"


def test_quick_section(randbit):
    base, _, points = cfg.resolve(randbit, quick=True)
    assert base.optim.epochs == 1 and base.data.train_examples == 1024
    assert points == [{"data.args.bits": 0, "loss.temperature": 0.2},
                      {"data.args.bits": 20, "loss.temperature": 0.2}]


def test_set_restricts_a_swept_key_and_sets_others(randbit):
    base, _, points = cfg.resolve(
        randbit, sets=[("data.args.bits", 5), ("optim.learning_rate", 1e-3)])
    assert base.optim.learning_rate == 1e-3
    assert {p["data.args.bits"] for p in points} == {5}
    assert len(points) == 3


def test_any_key_sweeps_and_seeds_multiply(randbit):
    _, meta, points = cfg.resolve(
        randbit, sets=[("loss.temperature", 0.1), ("data.args.bits", 0)],
        sweeps=["model.width=1,2", ("seed", [0, 1, 2])])
    assert len(points) == 6
    assert {(p["model.width"], p["seed"]) for p in points} == {
        (w, s) for w in (1, 2) for s in (0, 1, 2)}
    assert "seed" in meta["sweep_keys"]


@pytest.mark.parametrize("item, needle", [
    ("optim.learnin_rate=1", "'optim.learning_rate'"),
    ("loss.temprature=0.1", "'loss.temperature'"),
    ("model.width=two", "model.width='two'"),
    ("optim.epochs=2.5", "optim.epochs='2.5'"),
    ("seed", "KEY=VALUE"),
])
def test_bad_sweeps_name_the_key(randbit, item, needle):
    with pytest.raises(cfg.ConfigError, match=None) as info:
        cfg.resolve(randbit, sweeps=[item])
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_loss_keys_belong_to_the_loss(randbit):
    # The experiment's default temperature is dropped for a loss without one;
    # its temperature sweep too, so no identical points are trained.
    base, _, points = cfg.resolve(randbit, sets=[("loss.name", "swd_normal"),
                                                 ("data.args.bits", 0)])
    assert base.loss.temperature is None and len(points) == 1
    # A temperature the user asks for is an error naming the loss's keys.
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve(randbit, sets=[("loss.name", "swd_normal")],
                    sweeps=[("loss.temperature", [0.05, 0.1])])
    assert "swd_normal" in str(info.value) and "lambda_weight" in str(info.value)
    with pytest.raises(cfg.ConfigError, match="loss.lambda_weight"):
        cfg.resolve(randbit, sets=[("loss.lambda_weight", 2.0)])
    base, _, _ = cfg.resolve(randbit, sets=[("loss.name", "decoupled_nt_xent"),
                                            ("loss.lambda_weight", 0.5)])
    assert base.loss.lambda_weight == 0.5


@pytest.mark.parametrize("key, value, needle", [
    ("optim.batch_size", 1, "optim.batch_size >= 2"),
    ("loss.temperature", 0.0, "loss.temperature > 0.0"),
    ("seed", -1, "seed >= 0"),
    ("model.width", 0, "model.width >= 1"),
    ("model.bn_momentum", 1.5, "model.bn_momentum in [0.0, 1.0]"),
    ("model.bn_momentum", -0.1, "model.bn_momentum in [0.0, 1.0]"),
    ("data.augment_in", "gpu", "data.augment_in in ['pipeline', 'model']"),
])
def test_ranges(randbit, key, value, needle):
    with pytest.raises(cfg.ConfigError) as info:
        cfg.resolve(randbit, sets=[(key, value)])
    assert needle in str(info.value)


def test_randbit_companion_preset(randbit):
    companion = cfg.get_experiment_config("randbit", "companion")
    base, meta, points = cfg.resolve(companion)
    # mnist5k has 4,000 training digits: 4 steps of 1000 per epoch, so 150
    # epochs are the notebook's 600 steps (10 epochs of 60,000 digits).
    assert base.optim.epochs * (4000 // base.optim.batch_size) == 600
    assert (base.optim.batch_size, base.optim.learning_rate,
            base.optim.optimizer, base.optim.schedule) == (1000, 1e-3, "adam", "linear")
    assert (base.loss.name, base.loss.form) == ("nt_xent", "companion")
    assert (base.model.bn_momentum, base.model.per_view_forward,
            base.model.probe_views) == (0.99, True, "first")
    _, _, default_points = cfg.resolve(randbit)
    assert points == default_points and len(points) == 15
    # The default preset keeps the library defaults of the new options.
    assert (randbit.model.bn_momentum, randbit.model.per_view_forward,
            randbit.model.probe_views) == (0.9, False, "both")
    assert randbit.loss.form is None
    quick, _, quick_points = cfg.resolve(companion, quick=True)
    assert quick.optim.batch_size == 1000 and quick.data.train_examples == 2000
    assert len(quick_points) == 2


def test_unknown_experiment_and_preset():
    with pytest.raises(cfg.ConfigError, match="did you mean 'randbit'"):
        cfg.load_experiment("randbits")
    with pytest.raises(cfg.ConfigError, match="preset='huge'"):
        cfg.get_experiment_config("randbit", "huge")


def test_diff_lists_changed_keys():
    a = {"optim": {"epochs": 1, "learning_rate": 0.1}, "seed": 0}
    b = {"optim": {"epochs": 2, "learning_rate": 0.1}, "seed": 1}
    assert cfg.diff(a, b) == ["optim.epochs", "seed"]
    assert cfg.diff(a, a) == []


def test_point_names_are_short_and_unique():
    assert cfg.point_name(3, {"data.args.bits": 5, "loss.temperature": 0.1}) == \
        "03-bits=5-temperature=0.1"
    assert cfg.short({"a.seed": 1, "b.seed": 2, "loss.name": "x"}) == {
        "a.seed": 1, "b.seed": 2, "name": "x"}


def test_a_loss_name_sweep_gives_each_point_its_own_losss_defaults():
    """generalized_loss sweeps loss.name: each point switches the loss class
    and takes that loss's defaults, not another loss's constants."""
    config = cfg.get_experiment_config("generalized_loss")
    base, meta, points = cfg.resolve(config)
    assert meta["sweep_keys"] == ["loss.name", "model.head_depth", "seed"]
    losses = {}
    for params in points:
        c = cfg.point_config(base, params)
        losses[c["loss"]["name"]] = c["loss"]
    assert losses["nt_xent"] == {"name": "nt_xent", "temperature": 0.2, "form": "simclr",
                                 "lambda_weight": None, "scale": None}
    assert losses["decoupled_nt_xent"]["temperature"] == 1.0
    assert losses["decoupled_nt_xent"]["lambda_weight"] == 0.1
    for name in ("swd_normal", "swd_hypersphere", "swd_hypercube"):
        assert losses[name]["lambda_weight"] == 5.0 and losses[name]["temperature"] is None
    assert len(points) == 5 * 4 * len({p["seed"] for p in points})
    # One loss restricts the sweep (--loss=swd_normal); a key no swept loss
    # takes is refused, naming the loss.
    _, _, one = cfg.resolve(config, sets=[("loss.name", "swd_normal")])
    assert {p["loss.name"] for p in one} == {"swd_normal"}
    with pytest.raises(cfg.ConfigError, match="swd_normal"):
        cfg.resolve(config, sets=[("loss.temperature", 0.1)])
