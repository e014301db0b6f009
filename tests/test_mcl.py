import keras
import numpy as np
import pytest

from kcontrast import mcl
from kcontrast.data import build_dataset
from kcontrast.data.split import Split


# ------------------------------------------------------------ the sampler
@pytest.mark.parametrize("batch_size", [3, 4, 7, 64])
def test_cluster_batches_one_group_each_every_example_once(batch_size):
    rng = np.random.default_rng(0)
    # Uneven groups, some smaller than a batch, one of exactly 2.
    groups = np.repeat(np.arange(6), [2, 3, 17, 64, 65, 130])
    groups = groups[rng.permutation(len(groups))]
    batches = mcl.cluster_batches(groups, batch_size, seed=1)
    order = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(order), np.arange(len(groups)))
    for batch in batches:
        assert len(np.unique(groups[batch])) == 1
        assert 2 <= len(batch) <= batch_size
    # Near-equal sizes inside each group.
    for g in np.unique(groups):
        sizes = [len(b) for b in batches if groups[b[0]] == g]
        assert max(sizes) - min(sizes) <= 1
        assert len(sizes) == -(-np.sum(groups == g) // batch_size)
    assert len(batches) == mcl.num_batches(groups, batch_size)


def test_cluster_batches_reshuffle_per_epoch_and_reproduce():
    groups = np.repeat(np.arange(3), 40)
    a = mcl.cluster_batches(groups, 16, seed=2, epoch=0)
    b = mcl.cluster_batches(groups, 16, seed=2, epoch=0)
    c = mcl.cluster_batches(groups, 16, seed=2, epoch=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(np.concatenate(a), np.concatenate(c))
    # Batches of different groups are interleaved, not one group after another.
    firsts = [groups[x[0]] for x in a]
    assert firsts != sorted(firsts)


@pytest.mark.parametrize("groups, batch_size, match", [
    (np.array([0, 0, 1]), 4, "at least 2 examples"),
    (np.array([0, 0, 0]), 2, "batch_size"),
    (np.array([0.0, 1.0]), 4, "integer"),
    (np.array([], np.int64), 4, "non-empty"),
])
def test_cluster_batches_refuses(groups, batch_size, match):
    with pytest.raises(ValueError, match=match):
        mcl.cluster_batches(groups, batch_size)


def test_combine_groups_cells_and_small_cells():
    first = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    second = np.array([0, 0, 1, 1, 0, 0, 0, 0, 1])
    # Every cell of both clusterings; the lone example of cell (1, 1) joins
    # the largest cell of its last-stage cluster 1, which is (0, 1).
    groups = mcl.combine_groups([first, second])
    assert groups[0] == groups[1] and groups[2] == groups[3] == groups[8]
    assert groups[4] == groups[5] == groups[6] == groups[7]
    assert len(np.unique(groups)) == 3
    for g in np.unique(groups):
        members = groups == g
        assert len(np.unique(first[members])) == 1 or g == groups[8]
        assert len(np.unique(second[members])) == 1
    np.testing.assert_array_equal(mcl.combine_groups([first, second], "last"), second)
    with pytest.raises(ValueError, match="grouping"):
        mcl.combine_groups([first], "every")


def test_cluster_representations_finds_clusters_and_fills_small_ones():
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    x = np.concatenate([c + rng.normal(size=(30, 3)) * 0.1 for c in centres])
    labels = mcl.cluster_representations(x, 3, seed=0)
    for block in np.split(labels, 3):
        assert len(np.unique(block)) == 1
    assert len(np.unique(labels)) == 3
    # One far outlier would be a cluster of its own at K=4: it is moved.
    with_outlier = np.concatenate([x, [[-50.0, 1.0, 0.0]]])
    labels = mcl.cluster_representations(with_outlier, 4, seed=0)
    assert np.bincount(labels).min() >= mcl.MIN_GROUP
    with pytest.raises(ValueError, match="num_clusters"):
        mcl.cluster_representations(x, 46)


# ------------------------------------------------------------ the pipeline
def test_cluster_pretrain_dataset_batches_are_groups_of_views():
    ds = build_dataset("randbit", bits=3, seed=0)
    split = ds.train.head(300)
    groups = split.labels["label"].astype(np.int64) % 3
    rows = Split(split.images, {"row": np.arange(300, dtype=np.int32), **split.labels},
                 extra=split.extra)
    pipe = mcl.cluster_pretrain_dataset(rows, groups, batch_size=64, seed=0)
    epochs = []
    for _ in range(2):
        seen = []
        for views, labels in pipe:
            row = labels["row"].numpy()
            assert len(np.unique(groups[row])) == 1
            v1, v2 = views["view1"].numpy(), views["view2"].numpy()
            assert v1.shape == (len(row), 28, 28, 4) and v2.shape == v1.shape
            assert not np.array_equal(v1[..., :1], v2[..., :1])  # two augmentations
            np.testing.assert_array_equal(v1[:, 0, 0, 1:], split.extra[row])
            seen.append(row)
        assert len(seen) == mcl.num_batches(groups, 64)
        np.testing.assert_array_equal(np.sort(np.concatenate(seen)), np.arange(300))
        epochs.append(np.concatenate(seen))
    assert not np.array_equal(*epochs)


def test_cluster_pretrain_dataset_refuses_mismatched_groups():
    split = build_dataset("randbit", bits=0).train.head(10)
    with pytest.raises(ValueError, match="one group per example"):
        mcl.cluster_pretrain_dataset(split, np.zeros(9, np.int64))


# ------------------------------------------------------------ end to end
def _build_stage(input_shape, probes=None):
    from kcontrast.models import ContrastiveModel, projection_head, small_convnet

    calls = []

    def build(stage, steps_per_epoch):
        calls.append((stage, steps_per_epoch))
        encoder = small_convnet(input_shape)
        model = ContrastiveModel(encoder, projection_head(128, hidden_units=32,
                                                          output_units=16),
                                 probes={"label": 10} if probes is None else probes)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    return build, calls


@pytest.mark.backend
def test_two_stage_run_end_to_end():
    ds = build_dataset("randbit", bits=2, seed=0)
    train = ds.train.head(192)
    build, calls = _build_stage(ds.input_shape)
    result = mcl.multistage_fit(build, train, num_stages=2, num_clusters=3, epochs=2,
                                batch_size=64, seed=0, cluster_last=True)
    assert [c[0] for c in calls] == [0, 1]
    assert calls[0][1] == 3  # 192 examples, one group, batches of 64
    assert len(result.models) == 2 and len(result.clusters) == 2
    assert result.models[0] is not result.models[1]
    np.testing.assert_array_equal(result.groups[0], np.zeros(192))
    np.testing.assert_array_equal(result.groups[1], mcl.combine_groups(result.clusters[:1]))
    assert calls[1][1] == mcl.num_batches(result.groups[1], 64)
    for clusters in result.clusters:
        assert clusters.shape == (192,) and np.bincount(clusters).min() >= 2
    for history in result.histories:
        assert len(history["contrastive_loss"]) == 2
        assert np.isfinite(history["contrastive_loss"]).all()
    h = result.embed(ds.test.head(20))
    assert h.shape == (20, 2 * 128) and h.dtype == np.float32 and np.isfinite(h).all()
    # The stages are the two halves of the concatenation.
    np.testing.assert_allclose(h[:, 128:], mcl.representations(result.models[1], ds.test.head(20)),
                               rtol=1e-5, atol=1e-5)
    # Images without a Split work too (no extra channels: a bits-free model).
    plain = build_dataset("randbit", bits=0, seed=0).train.head(96)
    build, _ = _build_stage((28, 28, 1), probes={})
    result = mcl.multistage_fit(build, plain.images, num_stages=2, num_clusters=2,
                                batch_size=48)
    assert result.embed(plain.images[:5]).shape == (5, 256)


def test_multistage_fit_refuses_bad_arguments():
    split = build_dataset("randbit", bits=0).train.head(20)
    build, _ = _build_stage((28, 28, 1))
    for kwargs, match in (({"num_stages": 0}, "num_stages"),
                          ({"num_clusters": 11}, "num_clusters"),
                          ({"grouping": "any"}, "grouping"),
                          ({"batch_size": 2}, "batch_size")):
        with pytest.raises(ValueError, match=match):
            mcl.multistage_fit(build, split, **kwargs)
    with pytest.raises(ValueError, match="build_stage"):
        mcl.multistage_fit("model", split)


# ------------------------------------------------------------ --exp=mitigation
def test_cluster_purity():
    assert mcl.cluster_purity([0, 0, 1, 1], [3, 3, 5, 5]) == 1.0
    assert mcl.cluster_purity([0, 0, 0, 0], [3, 3, 3, 5]) == 0.75
    assert mcl.cluster_purity([0, 1, 0, 1], [3, 3, 5, 5]) == 0.5


@pytest.mark.backend
@pytest.mark.slow
def test_mitigation_mcl_and_positive_control_quick(run_cli, tmp_path):
    import json

    out = tmp_path / "run"
    result = run_cli(["--exp=mitigation", "--quick", "--sweep=condition=bits_05_redrawn",
                      "--sweep=method=mcl_2", "--nosave_models", f"--out={out}"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    record = json.loads((out / "results.json").read_text())
    (run,) = record["runs"]
    assert run["params"] == {"condition": "bits_05_redrawn", "method": "mcl_2", "seed": 0}
    metrics = run["metrics"]
    for key in ("linear/label", "knn/label", "online/label", "mcl_purity/label@1",
                "mcl_purity/label@2"):
        assert 0.0 <= metrics[key] <= 1.0
    point = out / "points" / run["point"]
    saved = json.loads((point / "config.json").read_text())
    assert saved["config"]["mcl"] == {"stages": 2, "clusters": 10, "grouping": "all"}
    assert saved["config"]["data"]["args"]["bit_flip"] == 0.5
    assert saved["dataset"]["config"]["bit_flip"] == 0.5
    for stage in (1, 2):
        epochs = (point / f"metrics_stage{stage}.jsonl").read_text().splitlines()
        assert len(epochs) == 1 and json.loads(epochs[0])["contrastive_loss"] > 0
    assert not list(point.glob("*.keras"))


@pytest.mark.parametrize("flag, match", [
    ("--config.mcl.stages=0", "mcl.stages"),
    ("--config.mcl.clusters=200", "mcl.clusters"),
    ("--config.mcl.grouping=some", "mcl.grouping"),
])
def test_mitigation_mcl_mistakes_are_one_line(run_cli, tmp_path, flag, match):
    out = tmp_path / "run"
    result = run_cli(["--exp=mitigation", "--quick", "--sweep=method=mcl_2",
                      "--sweep=condition=bits_05", flag, f"--out={out}"], cwd=tmp_path)
    assert result.returncode != 0
    lines = [l for l in result.stderr.splitlines() if "error" in l.lower()]
    assert lines and match in lines[-1], result.stderr[-2000:]
    assert not out.exists()
