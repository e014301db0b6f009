"""One training step of each paper-scale preset, through the command line's
own checks, on a tfds dataset prepared on disk and streamed (images shrunk to
32 px so that a step fits this CPU)."""

import os
import sys

import keras
import numpy as np
import pytest

from kcontrast import pretrain, run
from kcontrast.data.pipeline import pretrain_dataset
from kcontrast.data.stream import is_stream
from kcontrast.lars import LARS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sources"))
import tfds_fixtures  # noqa: E402

pytestmark = pytest.mark.backend

BATCH = 8


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    tfds_fixtures.prepare(path, sizes=(200,))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize("preset, encoder, dim, side", [
    ("paper_cifar10", "resnet50_cifar", 2048, 8),
    ("paper_cifar10_r18", "resnet18_cifar", 512, 8),
    ("paper_imagenet", "resnet50_imagenet", 2048, 32),
])
def test_one_step_of_the_paper_preset(preset, encoder, dim, side, data_dir, tmp_path,
                                      monkeypatch):
    """The preset's encoder, LARS and a streamed RandBit base; no warmup
    here (its first step has a rate of 0, see the schedule test)."""
    monkeypatch.chdir(tmp_path)
    plan = run.prepare([
        "kcontrast.run", "--exp=randbit", f"--preset={preset}",
        "--dataset=kcontrast_stream_images/n200", f"--data_dir={data_dir}", "--bits=5",
        f"--batch_size={BATCH}", "--epochs=1", "--config.optim.warmup_epochs=0",
        f"--config.data.args.image_size={side}", f"--config.data.train_examples={BATCH}",
        f"--out={tmp_path / 'out'}"])
    assert os.listdir(tmp_path) == []          # prepare writes nothing
    (config,) = plan["configs"]
    (ds,) = plan["datasets"].values()
    assert is_stream(ds.train) and len(ds.train) == BATCH and ds.input_shape == (side, side, 8)
    assert config["model"]["encoder"] == encoder
    assert config["optim"]["optimizer"] == "lars"
    keras.utils.set_random_seed(0)
    model = pretrain.build_model(config, ds.input_shape, ds.num_classes)
    pretrain.compile_model(model, config, steps_per_epoch=1)
    assert isinstance(model.optimizer, LARS)
    assert model.encoder.output.shape == (None, dim)
    before = [keras.ops.convert_to_numpy(w).copy() for w in model.encoder.trainable_weights]
    train = pretrain_dataset(ds.train, augment=config["data"]["augment"], batch_size=BATCH,
                             seed=config["seed"])
    logs = model.fit(train, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and logs["contrastive_loss"][0] > 0
    after = [keras.ops.convert_to_numpy(w) for w in model.encoder.trainable_weights]
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, after))
    assert changed == len(before)              # every kernel, gamma and beta stepped


@pytest.mark.parametrize("warmup", [0, 2])
def test_warmup_cosine_schedule(warmup):
    """Linear warmup from 0 to the peak over warmup_epochs, then cosine to 0."""
    config = {"optim": {"optimizer": "lars", "learning_rate": 1.2, "schedule": "warmup_cosine",
                        "epochs": 10, "batch_size": 8, "warmup_epochs": warmup}}
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile = lambda optimizer, **options: setattr(model, "compiled_optimizer", optimizer)
    pretrain.compile_model(model, config, steps_per_epoch=5)
    opt = model.compiled_optimizer
    rates = []
    for step in (0, 5, 10, 30, 50):
        opt.iterations.assign(step)
        rates.append(float(keras.ops.convert_to_numpy(opt.learning_rate)))
    if warmup:
        cos = 1.2 * 0.5 * (1 + np.cos(np.pi * 20 / 40))
        np.testing.assert_allclose(rates, [0.0, 0.6, 1.2, cos, 0.0], atol=1e-6)
    else:
        cos = 1.2 * 0.5 * (1 + np.cos(np.pi * 30 / 50))
        np.testing.assert_allclose(rates[0], 1.2, atol=1e-6)
        np.testing.assert_allclose(rates[3:], [cos, 0.0], atol=1e-6)


@pytest.mark.parametrize("warmup", [-1, 10, 1.5])
def test_bad_warmup_is_refused(warmup):
    config = {"optim": {"optimizer": "lars", "learning_rate": 1.0, "schedule": "warmup_cosine",
                        "epochs": 10, "batch_size": 8, "warmup_epochs": warmup}}
    with pytest.raises(ValueError, match="warmup_epochs"):
        pretrain.check_optim(config)
