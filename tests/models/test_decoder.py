"""The reconstruction objective: conv_decoder, decodable_shape and the
autoencoder / hybrid ContrastiveModel, trained by fit on every backend."""

import keras
import numpy as np
import pytest

import kcontrast
from kcontrast.losses import NTXent
from kcontrast.models import (ContrastiveModel, conv_decoder, decodable_shape,
                              projection_head, small_convnet, small_resnet)

pytestmark = pytest.mark.backend

SHAPE = (28, 28, 3)  # one image channel + two RandBit-like extra channels


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    # smooth random images (7x7 blocks of 4x4 pixels): learnable to decode
    coarse = rng.random((n, 7, 7, 1), dtype=np.float32)
    image = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2)
    bits = rng.integers(0, 2, (n, 1, 1, 2)).astype("float32")
    extra = np.broadcast_to(bits, (n, 28, 28, 2))
    views = {}
    for key in ("view1", "view2"):
        noisy = image + 0.05 * rng.normal(size=image.shape).astype("float32")
        views[key] = np.concatenate([noisy, extra], axis=-1)
    return views, {"label": rng.integers(0, 3, n).astype("int32")}


def _model(objective, recon_weight=1.0, per_view_forward=False, seed=0,
           learning_rate=1e-3):
    keras.utils.set_random_seed(seed)
    encoder = small_convnet(SHAPE)
    decoder = conv_decoder(128, decodable_shape(encoder, channels=1))
    model = ContrastiveModel(
        encoder, projection_head(128, hidden_units=32, output_units=16),
        loss=NTXent(0.5), probes={"label": 3}, decoder=decoder,
        objective=objective, recon_weight=recon_weight,
        per_view_forward=per_view_forward)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return model


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 3), (30, 20, 2)])
def test_decoder_output_matches_the_image(shape):
    decoder = conv_decoder(64, shape, width=1)
    out = decoder(np.zeros((2, 64), "float32"))
    assert tuple(out.shape) == (2,) + shape


def test_decodable_shape_keeps_only_the_image_channels():
    assert decodable_shape(small_convnet((28, 28, 6)), channels=1) == (28, 28, 1)
    assert decodable_shape(small_resnet((32, 32, 3))) == (32, 32, 3)


def _undecodable_encoders():
    dynamic = keras.Input((None, None, 1))
    flat = keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(4, 3)(dynamic))
    spatial = keras.Input((28, 28, 1))
    return [(keras.Model(dynamic, flat, name="dynamic"), "static image input"),
            (keras.Model(spatial, keras.layers.Conv2D(4, 3)(spatial),
                         name="spatial"), "flat representation")]


@pytest.mark.parametrize("index", [0, 1])
def test_an_undecodable_encoder_is_one_clear_error(index):
    encoder, message = _undecodable_encoders()[index]
    with pytest.raises(ValueError, match=f"Expected .*{message}.*Received"):
        decodable_shape(encoder)
    with pytest.raises(ValueError, match=message):
        ContrastiveModel(encoder, projection_head(4), objective="autoencoder",
                         decoder=conv_decoder(4, (28, 28, 1)))


def test_decoder_and_objective_are_checked():
    encoder = small_convnet(SHAPE)
    head = projection_head(128)
    good = conv_decoder(128, (28, 28, 1))
    cases = [
        (dict(objective="autoencoder"), "Received: decoder=None"),
        (dict(decoder=good), "decoder=None for objective='contrastive'"),
        (dict(decoder=good, objective="denoise"), "objective='denoise'"),
        (dict(decoder=good, objective="hybrid", recon_weight=-1.0),
         "recon_weight=-1.0"),
        (dict(decoder=conv_decoder(128, (32, 32, 1)), objective="hybrid"),
         r"\(32, 32, 1\)"),
        (dict(decoder=conv_decoder(128, (28, 28, 4)), objective="hybrid"),
         r"\(28, 28, 4\)"),
        (dict(decoder=conv_decoder(64, (28, 28, 1)), objective="hybrid"),
         r"\(64,\)"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            ContrastiveModel(encoder, head, **kwargs)
    with pytest.raises(ValueError, match="recon_channels=4"):
        decodable_shape(encoder, channels=4)


@pytest.mark.parametrize("per_view", [False, True])
def test_recon_loss_is_the_pixel_mse_of_the_image_channels(per_view):
    views, labels = _data(n=8)
    model = _model("hybrid", per_view_forward=per_view)
    _, values = model.compute_step(views, labels, training=False)
    both = np.concatenate([views["view1"], views["view2"]])
    h = model.encoder(both, training=False)
    decoded = keras.ops.convert_to_numpy(model.decoder(h, training=False))
    expected = np.mean((decoded - both[..., :1]) ** 2)
    got = float(keras.ops.convert_to_numpy(values["recon_loss"]))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("objective, weight", [("autoencoder", 1.0),
                                               ("hybrid", 5.0)])
def test_fit_trains_the_objective(objective, weight):
    views, labels = _data(n=64)
    model = _model(objective, recon_weight=weight, learning_rate=3e-3)
    before = model.evaluate(views, labels, batch_size=32, verbose=0,
                            return_dict=True)
    history = model.fit(views, labels, batch_size=32, epochs=10, verbose=0)
    after = model.evaluate(views, labels, batch_size=32, verbose=0,
                           return_dict=True)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert "recon_loss" in logs
    assert after["recon_loss"] < 0.8 * before["recon_loss"]
    contrastive = logs["contrastive_loss"] if objective == "hybrid" else 0.0
    expected = (contrastive + weight * logs["recon_loss"] + logs["reg_loss"]
                + logs["probe_label_loss"])
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)


def test_autoencoder_does_not_train_on_the_contrastive_loss():
    """The head gets zero gradients: only its L2 penalty moves it, and
    without weight decay it stays where it started."""
    views, labels = _data(n=32)
    keras.utils.set_random_seed(1)
    encoder = small_convnet(SHAPE, weight_decay=0.0)
    head = projection_head(128, hidden_units=32, output_units=16,
                           weight_decay=0.0)
    model = ContrastiveModel(
        encoder, head, loss=NTXent(0.5), probes={"label": 3},
        decoder=conv_decoder(128, (28, 28, 1), weight_decay=0.0),
        objective="autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    kernels = [keras.ops.convert_to_numpy(v) for v in head.trainable_variables]
    model.fit(views, labels, batch_size=16, epochs=2, verbose=0)
    after = [keras.ops.convert_to_numpy(v) for v in head.trainable_variables]
    for a, b in zip(kernels, after):
        np.testing.assert_array_equal(a, b)


def test_round_trip_with_a_decoder(tmp_path):
    views, labels = _data(n=16)
    model = _model("hybrid", recon_weight=0.25)
    model.fit(views, labels, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = kcontrast.load_model(path)
    assert loaded.objective == "hybrid" and loaded.recon_weight == 0.25
    h = np.asarray(keras.ops.convert_to_numpy(
        model.encoder(views["view1"], training=False)))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.decoder(h, training=False)),
        keras.ops.convert_to_numpy(model.decoder(h, training=False)),
        rtol=1e-5, atol=1e-6)
