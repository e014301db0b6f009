"""Local features: K-means on stage maps, scores against masks, the CLI.

The clustering and scoring helpers are checked against slow references on
arrays built in the test; the command runs on a ContrastiveModel trained
for one epoch on a tiny MultiDigits set (saved as a run point) and on its
export with maps.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from kcontrast.data import build_dataset
from kcontrast.data.pipeline import pretrain_dataset
from kcontrast.local_features import (LocalFeaturesError, cluster_maps, cluster_scores,
                                      describe_point, downsample_masks, downsample_mean,
                                      local_feature_scores, main, purity,
                                      resolution_references, row_notes, stage_maps,
                                      upsample_nearest)
from kcontrast.models import ContrastiveModel, projection_head, small_resnet
from kcontrast.pretrain import save_point

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(num_digits=2, canvas_size=32, digit_size_range=(12, 16), num_train=64,
            num_test=16, seed=0)


# ------------------------------------------------------------- helpers
def test_upsample_nearest_maps_each_pixel_to_its_cell():
    labels = np.arange(6).reshape(1, 2, 3)
    up = upsample_nearest(labels, (4, 7))
    for y in range(4):
        for x in range(7):
            assert up[0, y, x] == labels[0, y * 2 // 4, x * 3 // 7]


def test_purity_matches_a_slow_reference():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (20, 20))
    clusters = rng.integers(0, 3, (20, 20))
    expected = sum(max(np.sum((clusters == c) & (masks == m)) for m in range(4))
                   for c in range(3)) / masks.size
    assert purity(masks, clusters) == pytest.approx(expected)


def _blocks():
    """Two images of 12x12: background, two objects; masks and a 3x3 'stage
    map' whose one-hot vectors mark the same regions at 4-px cells."""
    masks = np.zeros((2, 12, 12), np.int64)
    masks[0, 0:4, 0:4], masks[0, 8:12, 4:8] = 1, 2
    masks[1, 4:8, 4:12], masks[1, 0:4, 8:12] = 1, 2
    cells = masks[:, ::4, ::4]
    maps = np.eye(3, dtype=np.float32)[cells]           # [2, 3, 3, 3]
    return masks, maps


def test_clusters_of_a_map_that_separates_the_objects_score_one():
    masks, maps = _blocks()
    clusters = cluster_maps(maps, 3, (12, 12))
    assert clusters.shape == (2, 12, 12) and clusters.dtype == np.int32
    # Cluster 0 is the largest one: the background.
    assert (clusters[masks == 0] == 0).all()
    assert cluster_scores(masks, clusters) == {"ari": 1.0, "fg_ari": 1.0, "purity": 1.0}


def test_scores_of_figure_against_ground_only():
    masks, _ = _blocks()
    merged = (masks > 0).astype(np.int64)           # both objects in one cluster
    scores = cluster_scores(masks, merged)
    assert scores["purity"] == pytest.approx(
        np.mean([(m == 0).mean() + max((m == 1).mean(), (m == 2).mean()) for m in masks]))
    assert scores["fg_ari"] == pytest.approx(0.0)
    expected = np.mean([adjusted_rand_score(m.ravel(), c.ravel())
                        for m, c in zip(masks, merged)])
    assert scores["ari"] == pytest.approx(expected) and 0 < scores["ari"] < 1
    # No image with two objects: no foreground ARI.
    assert cluster_scores(np.minimum(masks, 1), merged)["fg_ari"] is None


def test_row_notes_give_each_rows_scores_at_k():
    scores = {"pixels": {"4": {"ari": 0.768, "fg_ari": 0.025, "purity": 0.9}},
              "stage1": {"4": {"ari": 0.664, "fg_ari": None, "purity": 0.8}},
              "best": {"ari": {"4": {"stage": "stage1"}}}, "num_images": 16}
    assert row_notes(scores, 4) == {"pixels": "ARI 0.77 fg 0.03", "stage1": "ARI 0.66"}
    assert row_notes(scores, 2) == {} and row_notes(None, 4) == {}


def test_describe_point_from_a_point_name_or_the_experiments_sweep_keys():
    record = {"experiment": "multi_object",
              "config": {"seed": 2, "data": {"args": {"num_digits": 4}}}}
    assert describe_point(record, "runs/x/points/03-num_digits=4-seed=2/") == "num_digits=4 seed=2"
    assert describe_point(record, "runs/x/points/00-learning_rate=1e-3") == (
        "learning_rate=1e-3 seed=2")
    # An export's config.json: the training record; multi_object sweeps
    # data.args.num_digits and seed.
    assert describe_point({"training": record}) == "num_digits=4 seed=2"
    assert describe_point({"training": {"config": {"name": "mine", "seed": 0}}}) == "seed=0"


def test_k_must_be_at_least_two():
    _, maps = _blocks()
    with pytest.raises(LocalFeaturesError, match="k >= 2|int >= 2"):
        cluster_maps(maps, 1, (12, 12))


# ---------------------------------------------------------- trained run
def _tiny_dataset():
    return build_dataset("multi_digits", **TINY)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A ContrastiveModel trained one epoch on tiny MultiDigits, saved as a run point."""
    ds = _tiny_dataset()
    keras.utils.set_random_seed(0)
    encoder = small_resnet(ds.input_shape)
    model = ContrastiveModel(encoder, projection_head(encoder.outputs[0].shape[-1], hidden_units=32, output_units=16),
                             probes=dict(ds.num_classes), multi_label=tuple(ds.multi_label))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit(pretrain_dataset(ds.train, batch_size=32, seed=0), epochs=1, verbose=0)
    point = tmp_path_factory.mktemp("run") / "01-num_digits=2-seed=0"
    save_point(model, {"name": "tiny", "encoder": "small_resnet", "seed": 0}, ds, str(point))
    return point, model, ds


def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "kcontrast.local_features", *args],
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.backend
def test_cli_on_a_trained_run_and_on_its_export(trained_run, tmp_path):
    point, model, ds = trained_run
    out = tmp_path / "lf"
    done = run_cli(f"--run={point}", f"--out={out}", "--k=2,3", "--images=4",
                   "--score_images=8")
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(out)) == ["clusters_k2.png", "clusters_k3.png", "scores.json"]
    # Progress: each step with the elapsed time, the rows and stages done.
    steps = [l for l in done.stdout.splitlines() if l.startswith("[")]
    assert all(l.split("s] ", 1)[0].strip("[ ").replace(".", "").isdigit() for l in steps)
    said = "\n".join(steps)
    for needle in ("(num_digits=2 seed=0): dataset multi_digits, stages stage1, stage2, stage3",
                   "figures: K-means rows 4/4 done (stage3, k=2,3, 4 images)",
                   "scores: stage maps of 8 images",
                   "scores: K-means rows 1/4 done (pixels, k=2,3, 8 images)",
                   "scores: resolution references 3/3 done (stage3",
                   "figures written: clusters_k2.png, clusters_k3.png"):
        assert needle in said, said
    assert sorted(os.listdir(tmp_path)) == ["lf"]          # no temporary left
    record = json.loads((out / "scores.json").read_text())
    assert record["k"] == [2, 3] and record["stages"] == ["stage1", "stage2", "stage3"]
    assert record["dataset"]["builder"] == "multi_digits" and record["images"] == 4
    assert record["point"] == "num_digits=2 seed=0"
    scores = record["scores"]
    assert set(scores) == {"pixels", "stage1", "stage2", "stage3", "best", "resolution",
                           "num_images"}
    sizes = {stage: ref["size"] for stage, ref in scores["resolution"].items()}
    side = TINY["canvas_size"]
    assert sizes == {"stage1": [side // 2] * 2, "stage2": [side // 4] * 2,
                     "stage3": [side // 8] * 2}
    ceilings = [scores["resolution"][s]["ceiling"]["ari"] for s in ("stage1", "stage2", "stage3")]
    assert 1 > ceilings[0] > ceilings[1] > ceilings[2]     # coarser grids allow less
    assert set(scores["resolution"]["stage2"]["pixels"]) == {"2", "3"}
    for row in ("pixels", "stage1", "stage2", "stage3"):
        for k in ("2", "3"):
            s = scores[row][k]
            assert -1 <= s["ari"] <= 1 and 0 < s["purity"] <= 1
    for metric in ("ari", "fg_ari"):
        best = scores["best"][metric]["2"]
        assert best["value"] == max(scores[s]["2"][metric] for s in ("stage1", "stage2", "stage3"))
        assert best["value"] == scores[best["stage"]]["2"][metric]
        assert best["pixels"] == scores["pixels"]["2"][metric]
    # Clusters are drawn in colour over the grey images.
    import matplotlib.image
    figure = matplotlib.image.imread(str(out / "clusters_k2.png"))[..., :3]
    assert np.abs(figure[..., 0] - figure[..., 2]).max() > 0.2
    # Under the grid, the colour key: coloured patches on the white margin.
    key = figure[int(0.94 * len(figure)):]
    assert (key.min(-1) > 0.95).mean() > 0.8                  # a margin, not a panel
    assert np.abs(key[..., 0] - key[..., 2]).max() > 0.2

    # The Python function gives the same numbers as the command.
    again = local_feature_scores(model, ds.test, k=(2, 3), num_images=8)
    for row in ("pixels", "stage1", "stage3"):
        for k in ("2", "3"):
            assert again[row][k]["ari"] == pytest.approx(scores[row][k]["ari"], abs=1e-3)

    # The export with maps serves the same maps: the same clusters and scores.
    from kcontrast.export import export_for_probing
    saved = tmp_path / "export"
    export_for_probing(model, str(saved), run_config=json.loads(
        (point / "config.json").read_text()), maps=True)
    out2 = tmp_path / "lf_export"
    done = run_cli(f"--saved_model={saved}", f"--out={out2}", "--k=2,3", "--images=4",
                   "--score_images=8")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((out2 / "scores.json").read_text())["point"] == "seed=0"
    exported = json.loads((out2 / "scores.json").read_text())["scores"]
    for row in ("pixels", "stage1", "stage2", "stage3"):
        for k in ("2", "3"):
            assert exported[row][k]["ari"] == pytest.approx(scores[row][k]["ari"], abs=2e-2)


@pytest.mark.backend
def test_stage_maps_from_a_model_and_from_a_callable_agree(trained_run):
    _, model, ds = trained_run
    images = ds.test.images[:5]
    direct = stage_maps(model, images, batch_size=2)
    assert {k: v.shape for k, v in direct.items()} == {
        "stage1": (5, 16, 16, 16), "stage2": (5, 8, 8, 32), "stage3": (5, 4, 4, 64)}

    def serve(x):
        return {f"{k}_map": v for k, v in model.feature_maps(x).items()} | {
            "representation": model.encoder(x)}

    via_fn = stage_maps(serve, images, stages=["stage2"])
    assert list(via_fn) == ["stage2"]
    np.testing.assert_allclose(via_fn["stage2"], direct["stage2"], rtol=1e-5, atol=1e-6)
    with pytest.raises(LocalFeaturesError, match="stages among"):
        stage_maps(model, images, stages=["stage7"])


# ------------------------------------------------------------ bad input
def _main(capsys, *args):
    code = main(["local_features", *args])
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


@pytest.mark.parametrize("args, fragment", [
    (["--k=1,3"], "k >= 2"),
    (["--k=two"], "--k to be integers"),
    (["--stages=stage9"], "stages among"),
    (["--images=0"], "images to be an int >= 1"),
])
def test_bad_requests_on_a_run_are_one_line_and_write_nothing(
        trained_run, tmp_path, capsys, args, fragment):
    point, _, _ = trained_run
    code, err = _main(capsys, f"--run={point}", f"--out={tmp_path / 'out'}", *args)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("kcontrast.local_features: error: Expected") and fragment in err[0]
    assert os.listdir(tmp_path) == []


def test_a_run_directory_without_a_model_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    code, err = _main(capsys, f"--run={run}", f"--out={tmp_path / 'out'}")
    assert code == 2 and len(err) == 1 and "model.keras" in err[0]
    code, err = _main(capsys, f"--out={tmp_path / 'out'}")
    assert code == 2 and "--run or --saved_model" in err[0]
    assert os.listdir(tmp_path) == ["run"]


def test_an_existing_out_is_refused(trained_run, tmp_path, capsys):
    point, _, _ = trained_run
    (tmp_path / "out").mkdir()
    code, err = _main(capsys, f"--run={point}", f"--out={tmp_path / 'out'}")
    assert code == 2 and "does not exist" in err[0]
    assert os.listdir(tmp_path / "out") == []


def test_an_export_without_maps_is_refused(trained_run, tmp_path, capsys):
    from kcontrast.export import export_for_probing
    _, model, _ = trained_run
    export_for_probing(model, str(tmp_path / "plain"))
    code, err = _main(capsys, f"--saved_model={tmp_path / 'plain'}", f"--out={tmp_path / 'out'}")
    assert code == 2 and len(err) == 1 and "--maps" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_dataset_without_masks_gets_figures_only_or_a_refusal(tmp_path, capsys):
    ds = build_dataset("randbit", bits=2, seed=0)
    keras.utils.set_random_seed(0)
    model = ContrastiveModel(small_resnet(ds.input_shape), projection_head(64, output_units=8),
                             probes={"label": 10})
    point = tmp_path / "point"
    save_point(model, {"name": "randbit"}, ds, str(point))
    code, err = _main(capsys, f"--run={point}", f"--out={tmp_path / 'out'}", "--scores")
    assert code == 2 and len(err) == 1 and "without masks" in err[0]
    assert sorted(os.listdir(tmp_path)) == ["point"]
    code = main(["local_features", f"--run={point}", f"--out={tmp_path / 'out'}",
                 "--k=2", "--images=3"])
    said = capsys.readouterr().out
    assert code == 0 and "no object masks" in said
    assert sorted(os.listdir(tmp_path / "out")) == ["clusters_k2.png", "scores.json"]
    record = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert record["scores"] is None and "no object masks" in record["note"]
    with pytest.raises(LocalFeaturesError, match="masks"):
        local_feature_scores(model, ds.test, k=2)


def test_downsampled_masks_take_each_cells_majority_label():
    masks = np.zeros((2, 4, 6), np.int64)
    masks[0, :2, :3] = 1          # cell (0, 0) is all 1
    masks[0, 2, 3:] = 2           # cell (1, 1): 3 of 6 pixels are 2 -> tie, 0 wins
    masks[0, 3, 3] = 2            # now 4 of 6 -> 2
    masks[1, 2:, :3] = 3
    small = downsample_masks(masks, (2, 2))
    assert small.tolist() == [[[1, 0], [0, 2]], [[0, 0], [3, 0]]]
    # Upsampled back, a grid as fine as the image gives the masks again.
    assert np.array_equal(upsample_nearest(downsample_masks(masks, (4, 6)), (4, 6)), masks)


def test_downsampled_images_are_cell_means():
    images = np.arange(2 * 4 * 4 * 2, dtype=np.float32).reshape(2, 4, 4, 2)
    small = downsample_mean(images, (2, 2))
    expected = images.reshape(2, 2, 2, 2, 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(small, expected, rtol=1e-6)


def test_resolution_ceiling_is_perfect_at_full_size_and_falls_with_the_grid():
    rng = np.random.default_rng(0)
    masks = np.zeros((3, 16, 16), np.int64)
    for i in range(3):                              # thin strokes, like ink
        masks[i, rng.integers(0, 16, 20), rng.integers(0, 16, 20)] = 1 + i % 2
    images = (masks > 0).astype(np.float32)[..., None]
    full = resolution_references(masks, images, (16, 16), (2,))
    coarse = resolution_references(masks, images, (4, 4), (2,))
    assert full["size"] == [16, 16] and coarse["size"] == [4, 4]
    assert full["ceiling"]["ari"] == pytest.approx(1.0)
    assert coarse["ceiling"]["ari"] < 0.9
    # On images that are their masks, pixels at full size find the ink.
    assert full["pixels"]["2"]["ari"] > coarse["pixels"]["2"]["ari"]
