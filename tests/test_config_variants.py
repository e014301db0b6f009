"""Named conditions (``variants``): sweeping settings that differ in several
keys at once, e.g. RandBit against DigitOnImage in the mitigation experiment."""

import ml_collections
import pytest

from kcontrast import config as cfg
from kcontrast import run


def _config():
    c = ml_collections.ConfigDict()
    c.name = "toy"
    c.seed = 0
    c.condition = "small"
    c.data = ml_collections.ConfigDict({
        "builder": "randbit", "args": {"base": "mnist5k", "bits": 0},
        "train_examples": 64})
    c.loss = cfg.loss_section("nt_xent", temperature=0.2, ifm_epsilon=0.0)
    c.variants = {"condition": {
        "small": (("data.args.bits", 2),),
        "other": (("data.builder", "digit_on_image"),
                  ("data.args", {"num_unique_digits": None, "image_size": 32}),
                  ("loss.ifm_epsilon", 0.1))}}
    c.sweep = ("condition=small,other", "seed=0,1")
    return c


def test_a_variant_sets_several_keys_and_replaces_subtrees():
    base, meta, points = cfg.resolve(_config())
    assert "variants" not in base and "condition" in base
    assert points == [{"condition": "small", "seed": 0}, {"condition": "small", "seed": 1},
                      {"condition": "other", "seed": 0}, {"condition": "other", "seed": 1}]
    small = cfg.point_config(base, points[1], meta["variants"])
    assert small["data"]["builder"] == "randbit"
    assert small["data"]["args"] == {"base": "mnist5k", "bits": 2}
    assert small["seed"] == 1 and small["loss"]["ifm_epsilon"] == 0.0
    other = cfg.point_config(base, points[2], meta["variants"])
    assert other["data"]["builder"] == "digit_on_image"
    # the whole args subtree is the variant's: no RandBit keys left over
    assert other["data"]["args"] == {"num_unique_digits": None, "image_size": 32}
    assert other["loss"]["ifm_epsilon"] == 0.1
    assert other["data"]["train_examples"] == 64  # untouched keys stay
    # the table itself is not changed by applying it
    assert dict(meta["variants"]["condition"]["other"])["data.args"]["image_size"] == 32


def test_a_variant_selector_is_swept_and_restricted_like_any_key():
    _, _, points = cfg.resolve(_config(), sweeps=["condition=other"])
    assert [p["condition"] for p in points] == ["other", "other"]
    _, _, points = cfg.resolve(_config(), sets=[("condition", "small")])
    assert [p["condition"] for p in points] == ["small", "small"]


def test_a_key_the_selected_variant_sets_cannot_be_set_by_the_user():
    with pytest.raises(cfg.ConfigError, match="condition=other.*data.args.bits"):
        cfg.resolve(_config(), sets=[("data.args.bits", 3)], sweeps=["condition=other"])
    with pytest.raises(cfg.ConfigError, match="condition=small.*data.args.bits"):
        cfg.resolve(_config(), sets=[("data.args.bits", 3)])
    # a key no selected variant sets is the user's
    base, meta, points = cfg.resolve(_config(), sets=[("data.train_examples", 32)])
    assert cfg.point_config(base, points[0], meta["variants"])["data"]["train_examples"] == 32


@pytest.mark.parametrize("change, needle", [
    (lambda c: c.update({"sweep": ("condition=small,huge",)}), "condition='huge'"),
    (lambda c: c.update({"condition": "huge", "sweep": ()}), "condition='huge'"),
    (lambda c: c.variants.condition.update({"small": (("data.nope", 1),)}), "'data.nope'"),
    (lambda c: c.variants.condition.update({"small": (("loss.ifm_weight", 2.0),)}),
     "ifm_weight"),
])
def test_bad_variants_are_one_config_error(change, needle):
    c = _config()
    with c.unlocked():
        change(c)
    with pytest.raises(cfg.ConfigError, match=needle):
        cfg.resolve(c)


def test_apply_variants_takes_dicts_and_without_a_table_is_the_identity():
    config = {"condition": "x", "data": {"bits": 1}}
    assert cfg.apply_variants(config, None) == {"condition": "x", "data": {"bits": 1}}
    assert cfg.apply_variants(config, {"condition": {"x": {"data.bits": 3}}}) == {
        "condition": "x", "data": {"bits": 3}}


def test_optional_loss_keys_only_where_asked():
    assert "ifm_epsilon" not in cfg.loss_section("nt_xent")
    section = cfg.loss_section("nt_xent", ifm_epsilon=0.1, ifm_weight=0.5)
    assert section.ifm_epsilon == 0.1 and section.ifm_weight == 0.5
    with pytest.raises(cfg.ConfigError, match="ifm_weight"):
        cfg.loss_section("nt_xent", bogus=1)


@pytest.mark.parametrize("args, needle", [
    (["--sweep=condition=bits_05,bits_99"], "condition='bits_99'"),
    (["--config.loss.ifm_epsilon=-0.1"], "ifm_epsilon"),
    (["--config.loss.ifm_weight=1.5"], "ifm_weight"),
    (["--config.model.recon_weight=-1"], "recon_weight"),
    (["--config.model.objective=denoise"], "model.objective"),
    (["--config.model.objective=autoencoder"], "model.objective"),
    (["--sweep=method=nt_xent", "--config.loss.ifm_epsilon=0.3"],
     "variant method=nt_xent"),
    (["--quick", "--config.model.encoder=mlp"], "encoder='mlp'"),
])
def test_mitigation_bad_input_is_one_line(tmp_path, monkeypatch, capsys, fashion_mnist_dir,
                                          args, needle):
    """Checked before anything is written, including a key a method variant
    sets (it would be silently overridden)."""
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", "--exp=mitigation", f"--data_dir={fashion_mnist_dir}",
                     *args])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("kcontrast.run: error: ") and needle in lines[0]
    assert __import__("os").listdir(tmp_path) == []
