"""kcontrast.distribute on one device: names, checks, BatchNorm flags, the
gather hook off a strategy, and the global-batch contrastive accuracy."""

import keras
import numpy as np
import pytest

from kcontrast import distribute
from kcontrast.metrics import contrastive_accuracy
from kcontrast.models import ContrastiveModel, projection_head, small_convnet

BACKEND = keras.backend.backend()


def _model():
    encoder = small_convnet((16, 16, 1))
    return ContrastiveModel(encoder, projection_head(128, hidden_units=16,
                                                     output_units=8))


@pytest.mark.backend
def test_supported_strategies_per_backend():
    assert distribute.supported_strategies("tensorflow") == [
        "none", "mirrored", "multi_worker_mirrored", "tpu"]
    assert distribute.supported_strategies("jax") == ["none", "data_parallel"]
    assert distribute.supported_strategies("torch") == ["none"]


@pytest.mark.backend
@pytest.mark.parametrize("name, backend, needle", [
    ("nope", "tensorflow", "strategy='nope'"),
    ("data_parallel", "tensorflow", "['none', 'mirrored', 'multi_worker_mirrored', 'tpu']"),
    ("mirrored", "jax", "['none', 'data_parallel']"),
    ("mirrored", "torch", "torch backend supports, one of ['none']"),
    ("tpu", "torch", "strategy='tpu'"),
])
def test_bad_strategy_is_one_line(name, backend, needle):
    with pytest.raises(ValueError) as info:
        distribute.check_strategy(name, backend)
    message = str(info.value)
    assert "\n" not in message and message.startswith("Expected")
    assert needle in message


@pytest.mark.backend
def test_none_is_one_replica_and_changes_nothing():
    strategy = distribute.get_strategy("none")
    assert strategy.num_replicas == 1 and strategy.native is None
    assert strategy.describe() == {"name": "none", "num_replicas": 1}
    assert strategy.check_batch_size(7) == 7
    model = _model()
    with strategy.scope():
        strategy.prepare_model(model)
    assert model.contrastive_loss.gather == "auto"  # resolved per call
    assert not any(l.synchronized for l in distribute.batch_norm_layers(model))


@pytest.mark.backend
def test_global_batch_must_divide_over_replicas():
    strategy = distribute.Strategy("data_parallel", native=None, num_replicas=4)
    assert strategy.check_batch_size(256) == 256
    with pytest.raises(ValueError, match="divisible by the 4 replicas.*batch_size=258"):
        strategy.check_batch_size(258)


@pytest.mark.backend
def test_batch_norm_layers_found_in_encoder_and_head():
    model = _model()
    # small_convnet: 4 BatchNorms; a 2-layer head: 1.
    assert len(distribute.batch_norm_layers(model)) == 5


def test_synchronized_batch_norm_round_trips_and_is_released():
    # TensorFlow: the flag reaches the layers and their configs; releasing
    # it leaves a model that saves without it (loadable on every backend).
    model = _model()
    assert distribute.synchronize_batch_norm(model) == 5
    assert all(l.get_config()["synchronized"]
               for l in distribute.batch_norm_layers(model))
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 1)).astype("float32")
    before = model.embed(x, training=True)[1]
    distribute.Strategy("mirrored", num_replicas=1).release_model(model)
    assert not any(l.synchronized for l in distribute.batch_norm_layers(model))
    # Off a strategy, synchronized moments are the ordinary ones (computed in
    # one pass, E[x^2] - E[x]^2, so equal to float rounding).
    after = model.embed(x, training=True)[1]
    np.testing.assert_allclose(np.asarray(before), np.asarray(after), atol=1e-5)


@pytest.mark.backend
def test_synchronized_batch_norm_is_tensorflow_only():
    model = _model()
    if BACKEND == "tensorflow":
        assert distribute.synchronize_batch_norm(model) == 5
    else:
        with pytest.raises(ValueError, match="tensorflow backend"):
            distribute.synchronize_batch_norm(model)


def test_replica_gather_off_a_strategy_is_the_identity():
    z = np.ones((3, 2), "float32")
    z_all, offset = distribute.replica_gather(z)
    assert z_all is z and offset == 0


@pytest.mark.backend
def test_contrastive_accuracy_over_the_global_batch():
    # Two "replicas" holding halves of a 2b batch, each gathering the
    # whole batch: the mean of their accuracies is the one-device accuracy,
    # which differs from the accuracy of each half alone.
    rng = np.random.default_rng(1)
    z1 = rng.normal(size=(16, 4)).astype("float32")
    z2 = (z1 + 0.9 * rng.normal(size=(16, 4))).astype("float32")
    whole = float(contrastive_accuracy(z1, z2))
    shards = []
    local = []
    for r in range(2):
        rows = slice(8 * r, 8 * r + 8)

        def gather(z, rows=rows, offset=8 * r):
            # What all_gather gives replica r: the whole view z belongs to.
            view = z1 if np.allclose(keras.ops.convert_to_numpy(z), z1[rows]) else z2
            return view, offset

        shards.append(float(contrastive_accuracy(z1[rows], z2[rows], gather)))
        local.append(float(contrastive_accuracy(z1[rows], z2[rows])))
    assert np.mean(shards) == pytest.approx(whole, abs=1e-6)
    assert np.mean(local) != pytest.approx(whole, abs=1e-6)
