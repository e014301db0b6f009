"""Local features: K-means on the spatial maps of each encoder stage.

The paper's second finding (Chen, Luo, Li 2021, Sec. 4) is that an encoder
trained by instance discrimination on a single global vector still learns
local features: clustering each image's stage-map vectors groups its pixels
into objects, parts and background. This module draws those clusters, as in
the paper's local-feature figure, and measures them against the per-pixel
object masks of the builders that know where each object is.

For each image, stage and number of clusters k::

    vectors  = stage map [h, w, c] -> [h*w, c]
    labels   = sklearn.cluster.KMeans(k).fit_predict(vectors)   [h*w]
    clusters = labels as [h, w], nearest-upsampled to [H, W]      (cell of
               pixel (y, x) is (floor(y*h/H), floor(x*w/W)))

and the baseline clusters the raw pixels themselves (each pixel's C values,
at full resolution). Clusters are renumbered by decreasing size, so 0 is the
largest (usually the background) and colours agree across images.

Scores, per image against ``masks`` (int [H, W]: 0 background, i object i;
``split.info["masks"]`` of multi_digits, modified_multi_digits and
digit_on_image), then averaged over images:

- ``ari``: ``sklearn.metrics.adjusted_rand_score(masks, clusters)`` over all
  pixels (1 = the same partition, 0 = chance level). With dark backgrounds
  this is dominated by figure against ground, which raw intensities already
  give.
- ``fg_ari``: the same over object pixels only (masks > 0), on images with at
  least two objects: do the clusters tell the objects apart? (The
  "foreground ARI" of the object-discovery literature; None when no image
  has two objects.)
- ``purity``: best-match purity, ``sum over clusters of the size of its
  largest overlap with one mask label / number of pixels``; 1 when every
  cluster lies inside one object (or the background). It rises with k, so
  compare it at equal k.

Command line::

    python -m kcontrast.local_features --run=POINT_DIR --out=DIR \\
        [--k=2,3,4] [--images=8] [--stages=stage1,stage3] [--score_images=64]
    python -m kcontrast.local_features --saved_model=saved_models/NAME --out=DIR

``--run`` is a run point directory (``model.keras`` and ``config.json`` as
``kcontrast.pretrain.save_point`` writes them); ``--saved_model`` an export
made with ``--maps`` (``python -m kcontrast.export ... --maps``). The
dataset is rebuilt from the recorded builder and config; images come from
the ``--split`` (default test) split, in order. ``--out`` must not exist; it
receives, atomically (written beside it, then renamed):

- ``clusters_k<k>.png`` per k: one column per image; rows: the input, the
  masks (when the builder gives them), the raw-pixel baseline and one row per
  stage, clusters drawn over the image. The title names the point
  (``describe_point``: ``num_digits=4 seed=0``), each row's name carries its
  scores at that k (``ARI``, ``fg`` ARI), and a colour key under the grid
  gives the cluster ids;
- ``scores.json``: the request, ``point``, and ``scores`` (None without masks)::

      {"pixels": {"2": {"ari": .., "fg_ari": .., "purity": ..}, ...},
       "stage1": {...}, ...,
       "best": {"ari": {"2": {"stage": .., "value": .., "pixels": ..}, ...},
                "fg_ari": {...}}, "num_images": ..}

What a stage's resolution allows. A stage map of h x w cells can only draw
boundaries on its own grid, and the digits' masks follow thin ink strokes,
so a coarse stage has little room to reach the full-resolution pixel
baseline on all-pixel ARI, whatever its features hold. Two model-free
references per stage make that visible
(``scores["resolution"][stage]``):

- ``ceiling``: the masks themselves reduced to the stage's grid (each cell
  takes the most frequent mask label of the pixels it covers, the cell
  mapping above; ties go to the lower label) and nearest-upsampled back:
  the masks' own labels at that resolution, a reference for what the grid
  allows. It is not a bound: majority votes erase thin strokes into
  background, and a clustering that calls a cell with a little ink "digit"
  can score higher (on ``fg_ari`` routinely; on ``ari`` too, e.g. pixels
  averaged to an 8x8 grid on one-digit canvases);
- ``pixels``: the raw-pixel baseline at that resolution: each cell's mean
  pixel, clustered by the same K-means, upsampled the same way.

The command prints a line per step done (loading, stage maps, each row's
K-means, each stage's references, the figures), each with the elapsed time.
Scores are computed when the dataset has masks unless ``--noscores``; on a
dataset without masks the command says so and draws the figures only, and
an explicit ``--scores`` is then a bad request. Bad requests (``--k`` < 2, an
unknown stage, a run directory without a model, an export without maps,
an existing ``--out``, ``--scores`` without masks) end with one line on
stderr, exit code 2 and nothing written.

Python::

    from kcontrast.local_features import local_feature_scores
    scores = local_feature_scores(model, ds.test, k=(2, 5), num_images=64)
    scores["stage3"]["5"]["fg_ari"], scores["pixels"]["5"]["fg_ari"]
"""

import json
import os
import re
import shutil
import sys
import tempfile
import time

import numpy as np

from kcontrast import checks

PROGRAM = "kcontrast.local_features"
PIXELS = "pixels"
MAP_SUFFIX = "_map"


class LocalFeaturesError(ValueError):
    """A bad request; its message is one line."""


# ------------------------------------------------------------------ checks
def _check_ks(k):
    ks = [k] if isinstance(k, (int, np.integer)) else list(k)
    if not ks or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                     or v < 2 for v in ks):
        raise LocalFeaturesError(
            f"Expected k >= 2 (an int, clusters per image) for every k; Received: k={k!r}")
    return sorted(set(int(v) for v in ks))


# -------------------------------------------------------------- stage maps
def _stage_key(name):
    return int(name[5:]) if name[5:].isdigit() else name


def stage_maps(model_or_fn, images, stages=None, batch_size=64):
    """Spatial stage maps of ``images`` as NumPy arrays.

    Args:
        model_or_fn: a ``ContrastiveModel`` (its ``feature_maps``) or a
            callable ``fn(images [b, H, W, C]) -> dict`` whose entries
            ``stage<i>`` or ``stage<i>_map`` are maps ``[b, h, w, c]``, such
            as the ``serve`` endpoint of an export made with ``maps=True``.
        images: float32 ``[N, H, W, C]`` as the model takes them.
        stages: stage names (default: all that the model gives).
        batch_size: images per call.

    Returns:
        dict ``stage name -> float32 [N, h, w, c]``, in stage order.

    Raises:
        LocalFeaturesError: no spatial maps, or an unknown stage name.
    """
    images = np.asarray(images, np.float32)
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    if hasattr(model_or_fn, "feature_maps") and hasattr(model_or_fn, "stage_names"):
        available = model_or_fn.stage_names()
        _check_stages(stages, available)
        wanted = list(stages or available)

        def call(x):
            return model_or_fn.feature_maps(x, stages=wanted)
    elif callable(model_or_fn):
        first = _maps_of(model_or_fn(images[:1]))
        available = sorted(first, key=_stage_key)
        _check_stages(stages, available)
        wanted = list(stages or available)

        def call(x):
            return _maps_of(model_or_fn(x))
    else:
        raise LocalFeaturesError(
            "Expected a ContrastiveModel or a callable returning stage maps; "
            f"Received: {type(model_or_fn).__name__}")
    import keras

    parts = {name: [] for name in wanted}
    for start in range(0, len(images), batch_size):
        out = call(images[start:start + batch_size])
        for name in wanted:
            parts[name].append(np.asarray(keras.ops.convert_to_numpy(out[name]), np.float32))
    return {name: np.concatenate(parts[name]) for name in wanted}


def _maps_of(outputs):
    """``stage<i>`` (or ``stage<i>_map``) entries of rank 4 of a dict."""
    maps = {}
    for name, value in dict(outputs).items():
        base = name[:-len(MAP_SUFFIX)] if name.endswith(MAP_SUFFIX) else name
        if base.startswith("stage") and base[5:].isdigit() and len(value.shape) == 4:
            maps[base] = value
    if not maps:
        raise LocalFeaturesError(
            "Expected spatial stage maps (stage<i>_map [B, h, w, c]; export with "
            f"--maps); Received: outputs {sorted(dict(outputs))}")
    return maps


def _check_stages(stages, available):
    if stages is None:
        return
    unknown = [s for s in stages if s not in available]
    if unknown or not list(stages):
        raise LocalFeaturesError(
            f"Expected stages among {list(available)}; Received: stages={list(stages)}")


# -------------------------------------------------------------- clustering
def _renumber_by_size(labels, k):
    counts = np.bincount(labels, minlength=k)
    rank = np.empty(k, np.int64)
    rank[np.argsort(-counts, kind="stable")] = np.arange(k)
    return rank[labels]


def _kmeans(vectors, k, seed, n_init):
    from sklearn.cluster import KMeans

    distinct = np.unique(vectors, axis=0).shape[0]
    if distinct < k:
        # Fewer distinct vectors than clusters (a blank image): one cluster
        # per distinct vector, which is what K-means would converge to.
        labels = np.unique(vectors, axis=0, return_inverse=True)[1].reshape(-1)
        return _renumber_by_size(labels, k)
    labels = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(vectors)
    return _renumber_by_size(labels, k)


def upsample_nearest(labels, size):
    """int ``[N, h, w]`` -> ``[N, H, W]``: pixel (y, x) takes cell
    ``(floor(y * h / H), floor(x * w / W))``."""
    labels = np.asarray(labels)
    height, width = size
    rows = (np.arange(height) * labels.shape[1]) // height
    cols = (np.arange(width) * labels.shape[2]) // width
    return labels[:, rows][:, :, cols]


def cluster_maps(maps, k, size, seed=0, n_init=3):
    """Per-image K-means of a stage map's vectors, upsampled to ``size``.

    Args:
        maps: float ``[N, h, w, c]`` (raw images work too: pixel clusters).
        k: number of clusters, at least 2.
        size: ``(H, W)`` of the returned cluster maps.
        seed: K-means seed (image i uses ``seed + i``).
        n_init: K-means restarts.

    Returns:
        int32 ``[N, H, W]`` cluster ids, 0 the largest cluster of its image.

    >>> maps = np.zeros((1, 2, 2, 1), "float32"); maps[0, 0, 0] = 1.0
    >>> cluster_maps(maps, 2, (4, 4))[0]
    array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 0, 0],
           [0, 0, 0, 0]], dtype=int32)
    """
    (k,) = _check_ks(k)
    maps = np.asarray(maps, np.float32)
    n, h, w, c = maps.shape
    labels = np.stack([
        _kmeans(maps[i].reshape(h * w, c).astype(np.float64), k, seed + i, n_init).reshape(h, w)
        for i in range(n)])
    return upsample_nearest(labels, size).astype(np.int32)


def _cell_ids(size, grid):
    """int ``[H*W]``: the cell of ``grid`` (h, w) each pixel falls in (the
    ``upsample_nearest`` mapping), as ``row * w + col``."""
    (height, width), (h, w) = size, grid
    rows = (np.arange(height) * h) // height
    cols = (np.arange(width) * w) // width
    return (rows[:, None] * w + cols[None, :]).reshape(-1)


def downsample_masks(masks, grid):
    """int ``[N, H, W]`` -> ``[N, h, w]``: each cell's most frequent label
    among the pixels it covers (ties to the lower label).

    >>> m = np.zeros((1, 4, 4), np.int64); m[0, :2, :2] = 1; m[0, 0, 2] = 2
    >>> downsample_masks(m, (2, 2))[0]
    array([[1, 0],
           [0, 0]])
    """
    masks = np.asarray(masks).astype(np.int64)
    n, height, width = masks.shape
    h, w = grid
    labels = int(masks.max()) + 1
    cells = np.broadcast_to(_cell_ids((height, width), grid), (n, height * width))
    index = (np.arange(n)[:, None] * (h * w) + cells) * labels + masks.reshape(n, -1)
    counts = np.bincount(index.reshape(-1), minlength=n * h * w * labels)
    return counts.reshape(n, h, w, labels).argmax(axis=-1)


def downsample_mean(images, grid):
    """float ``[N, H, W, C]`` -> ``[N, h, w, C]``: each cell's mean pixel
    (area averaging over the ``upsample_nearest`` cells)."""
    images = np.asarray(images, np.float64)
    n, height, width, channels = images.shape
    h, w = grid
    cells = _cell_ids((height, width), grid)
    area = np.bincount(cells, minlength=h * w).astype(np.float64)
    flat = images.reshape(n, height * width, channels)
    sums = np.zeros((n, h * w, channels))
    for i in range(n):
        for c in range(channels):
            sums[i, :, c] = np.bincount(cells, weights=flat[i, :, c], minlength=h * w)
    return (sums / area[None, :, None]).reshape(n, h, w, channels).astype(np.float32)


def resolution_references(masks, images, grid, ks, seed=0, n_init=3):
    """The model-free references of a ``grid``-sized stage (module docstring):
    ``{"size": [h, w], "ceiling": scores, "pixels": {str(k): scores}}``,
    scores as ``cluster_scores`` gives them."""
    size = np.asarray(masks).shape[1:3]
    ceiling = upsample_nearest(downsample_masks(masks, grid), size)
    small = downsample_mean(images, grid)
    return {"size": [int(grid[0]), int(grid[1])],
            "ceiling": _round(cluster_scores(masks, ceiling)),
            "pixels": {str(k): _round(cluster_scores(masks, cluster_maps(small, k, size, seed,
                                                                        n_init)))
                       for k in ks}}


def purity(masks, clusters):
    """Best-match purity of one image: sum over clusters of the size of its
    largest overlap with one mask label, divided by the number of pixels."""
    masks = np.asarray(masks).reshape(-1).astype(np.int64)
    clusters = np.asarray(clusters).reshape(-1).astype(np.int64)
    table = np.zeros((clusters.max() + 1, masks.max() + 1), np.int64)
    np.add.at(table, (clusters, masks), 1)
    return float(table.max(axis=1).sum() / masks.size)


def cluster_scores(masks, clusters):
    """Agreement of cluster maps with object masks, averaged over images.

    Args:
        masks: int ``[N, H, W]``, 0 background, i > 0 object i.
        clusters: int ``[N, H, W]``.

    Returns:
        ``{"ari", "fg_ari", "purity"}`` (see the module docstring); ``fg_ari``
        is None when no image holds two objects.
    """
    from sklearn.metrics import adjusted_rand_score

    masks, clusters = np.asarray(masks), np.asarray(clusters)
    if masks.shape != clusters.shape or masks.ndim != 3:
        raise ValueError(
            "Expected masks and clusters of the same shape [N, H, W]; "
            f"Received: masks.shape={masks.shape}, clusters.shape={clusters.shape}")
    ari, fg, pure = [], [], []
    for m, c in zip(masks, clusters):
        m, c = m.reshape(-1), c.reshape(-1)
        ari.append(adjusted_rand_score(m, c))
        pure.append(purity(m, c))
        objects = m > 0
        if len(np.unique(m[objects])) >= 2:
            fg.append(adjusted_rand_score(m[objects], c[objects]))
    return {"ari": float(np.mean(ari)), "fg_ari": float(np.mean(fg)) if fg else None,
            "purity": float(np.mean(pure))}


def cluster_rows(maps, images, ks, seed=0, n_init=3, progress=None, every=10.0):
    """Per-image K-means cluster maps of the raw pixels and of every stage.

    Args:
        maps: ``{stage: [N, h, w, c]}`` (``stage_maps``).
        images: ``[N, H, W, C]`` the images the maps come from.
        ks: cluster counts.
        progress: optional callable taking one line after each row
            (``K-means rows 2/4 done (stage1, k=2,3,4, 8 images)``) and,
            within a row, one every ``every`` seconds (``K-means row 2/4
            (stage1): 16/24 image clusterings``).
        every: seconds between the lines within a row.

    Returns:
        ``{k: {"pixels": int [N, H, W], stage: int [N, H, W], ...}}``, the
        labels upsampled to the image size (the rows ``draw_clusters`` draws).
    """
    size = images.shape[1:3]
    sources = {PIXELS: images, **maps}
    rows = {k: {} for k in ks}
    chunk = 8   # images per cluster_maps call (image j keeps seed + j)
    last = time.perf_counter()
    for i, (name, values) in enumerate(sources.items()):
        done, total = 0, len(values) * len(ks)
        for k in ks:
            parts = []
            for start in range(0, len(values), chunk):
                parts.append(cluster_maps(values[start:start + chunk], k, size,
                                          seed + start, n_init))
                done += len(parts[-1])
                if progress and done < total and time.perf_counter() - last >= every:
                    progress(f"K-means row {i + 1}/{len(sources)} ({name}): "
                             f"{done}/{total} image clusterings")
                    last = time.perf_counter()
            rows[k][name] = np.concatenate(parts) if parts else cluster_maps(
                values, k, size, seed, n_init)
        last = time.perf_counter()
        if progress:
            progress(f"K-means rows {i + 1}/{len(sources)} done ({name}, "
                     f"k={','.join(map(str, ks))}, {len(images)} images)")
    return rows


def _round(scores):
    return {key: (None if v is None else round(v, 4)) for key, v in scores.items()}


def _score_table(clusters, masks, ks):
    table = {}
    for k in ks:
        for row, value in clusters[k].items():
            table.setdefault(row, {})[str(k)] = _round(cluster_scores(masks, value))
    stages = [row for row in table if row != PIXELS]
    table["best"] = {}
    for metric in ("ari", "fg_ari"):
        best_of = table["best"][metric] = {}
        for k in map(str, ks):
            scored = [s for s in stages if table[s][k][metric] is not None]
            if not scored:
                continue
            best = max(scored, key=lambda s: table[s][k][metric])
            best_of[k] = {"stage": best, "value": table[best][k][metric],
                          "pixels": table[PIXELS][k][metric]}
    return table


def _masks_of(split, masks):
    if masks is None:
        masks = split.info.get("masks") if split is not None else None
    if masks is None:
        return None
    return np.asarray(masks)


def local_feature_scores(model_or_fn, split, k=(2, 3, 4), stages=None, num_images=64,
                         masks=None, seed=0, n_init=3, batch_size=64, progress=None):
    """Scores the local-feature clusters of every stage against object masks.

    Runs ``cluster_maps`` on the first ``num_images`` images of ``split``,
    for every stage and every k, and on the raw pixels as the baseline.

    Args:
        model_or_fn: a ``ContrastiveModel`` or a callable giving stage maps
            (see ``stage_maps``).
        split: a ``kcontrast.data.Split`` (its images, plus extra channels
            appended as the model takes them; its ``info["masks"]``).
        k: number(s) of clusters, each >= 2.
        stages: stage names (default all).
        num_images: images scored (the first ones of the split).
        masks: int ``[N, H, W]`` to use instead of ``split.info["masks"]``.
        seed, n_init: K-means seed and restarts.
        batch_size: images per model call.
        progress: optional callable taking one line per step done (stage
            maps, each row's K-means, each stage's references).

    Returns:
        dict: ``"pixels"`` and each stage -> ``{str(k): {"ari", "fg_ari",
        "purity"}}``; ``"best"`` -> ``{"ari" | "fg_ari": {str(k): {"stage",
        "value", "pixels"}}}`` (the stage scoring highest at that k, its
        score and the raw-pixel baseline's; no entry where a score is
        None); ``"resolution"`` -> ``{stage: {"size", "ceiling", "pixels":
        {str(k): scores}}}`` (the references at each stage's resolution,
        ``resolution_references``); and ``"num_images"``.

    Raises:
        LocalFeaturesError (a ValueError): bad k, unknown stage, no masks.

    >>> scores = local_feature_scores(model, ds.test, k=(2, 5))  # doctest: +SKIP
    >>> scores["best"]["fg_ari"]["5"]                          # doctest: +SKIP
    {'stage': 'stage3', 'value': 0.31, 'pixels': 0.035}
    """
    ks = _check_ks(k)
    num_images = checks.check_positive_int(num_images, "num_images")
    masks = _masks_of(split, masks)
    if masks is None:
        raise LocalFeaturesError(
            "Expected a split whose builder gives object masks (info['masks']: "
            "multi_digits, modified_multi_digits, digit_on_image); Received: no masks")
    images = model_inputs(split, num_images)
    masks = masks[:len(images)]
    maps = stage_maps(model_or_fn, images, stages, batch_size)
    if progress:
        progress(f"stage maps of {len(images)} images ({', '.join(maps)})")
    clusters = cluster_rows(maps, split.images[:len(images)], ks, seed, n_init, progress)
    table = _score_table(clusters, masks, ks)
    table["resolution"] = {}
    for i, (name, m) in enumerate(maps.items()):
        table["resolution"][name] = resolution_references(
            masks, split.images[:len(images)], m.shape[1:3], ks, seed, n_init)
        if progress:
            progress(f"resolution references {i + 1}/{len(maps)} done ({name}, "
                     f"{m.shape[1]}x{m.shape[2]} grid)")
    table["num_images"] = int(len(images))
    return table


def model_inputs(split, n=None):
    """The first ``n`` images of ``split`` as the model takes them: float32
    ``[n, H, W, C + extra]`` (extra channels broadcast, as the pipelines do)."""
    images = np.asarray(split.images[:n], np.float32)
    if split.extra is not None:
        extra = np.asarray(split.extra[:n], np.float32)[:, None, None, :]
        extra = np.broadcast_to(extra, images.shape[:3] + extra.shape[-1:])
        images = np.concatenate([images, extra], axis=-1)
    return images


# ----------------------------------------------------------------- figures
def row_notes(scores, k):
    """``{row: "ARI 0.60 fg 0.11"}``: each row's scores at ``k`` from a
    ``local_feature_scores`` table, the labels ``draw_clusters`` writes under
    the row names (``fg`` = ``fg_ari``; rows without scores are left out)."""
    notes = {}
    for row, by_k in (scores or {}).items():
        if row in ("best", "resolution", "num_images") or str(k) not in by_k:
            continue
        values = by_k[str(k)]
        parts = [f"{label} {values[name]:.2f}" for name, label in
                 (("ari", "ARI"), ("fg_ari", "fg")) if values.get(name) is not None]
        if parts:
            notes[row] = " ".join(parts)
    return notes


def draw_clusters(images, rows, path, title="", masks=None, alpha=0.55, notes=None):
    """Draws cluster maps over images: one column per image, one row per entry,
    and a colour key under the grid.

    Cluster ``i`` is drawn in colour ``i`` of matplotlib's ``tab10`` (clusters
    are numbered by decreasing size, so 0, the largest, is usually the
    background); the masks row uses the same colours for its labels (0
    background, ``i`` object ``i``).

    Args:
        images: float ``[N, H, W, C]`` in [0, 1] (C = 1 or 3 is shown).
        rows: dict row name -> int ``[N, H, W]`` cluster maps, drawn in order.
        path: the PNG to write.
        title: figure title (may hold several lines).
        masks: int ``[N, H, W]`` drawn as a row after the input, if given.
        alpha: opacity of the cluster colours.
        notes: optional dict row name -> short text written under the row's
            name (``row_notes``: its scores).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images, np.float32)
    shown = images[..., 0] if images.shape[-1] != 3 else images
    cmap = "gray" if shown.ndim == 3 else None
    named = [("input", None)] + ([("masks", masks)] if masks is not None else [])
    named += list(rows.items())
    notes = dict(notes or {})
    n = len(images)
    title_lines = len(title.splitlines()) if title else 0
    top, bottom = 0.1 + 0.16 * title_lines, 0.6
    width = max(1.3 * n + 1.2, 5.0)
    cell = min(1.3, (width - 1.2) / n)   # square panels: no empty bands
    height = (cell + 0.1) * len(named) + top + bottom
    fig, axes = plt.subplots(len(named), n, figsize=(width, height), squeeze=False)
    colours = plt.get_cmap("tab10")
    used = 0
    for r, (name, value) in enumerate(named):
        for i in range(n):
            ax = axes[r, i]
            ax.imshow(shown[i], cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            if value is not None:
                ids = np.asarray(value[i])
                used = max(used, int(ids.max()) + 1)
                ax.imshow(colours(ids % 10), alpha=alpha, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                label = name + (f"\n{notes[name]}" if name in notes else "")
                ax.set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=colours(c % 10), alpha=alpha, label=str(c))
               for c in range(min(used, 10))]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
                   title="colour key: cluster id (0 = largest); masks row: 0 background, "
                         "i object i", title_fontsize=8, frameon=False, handlelength=1.6,
                   handleheight=1.2, columnspacing=1.0)
    fig.tight_layout(rect=(0, bottom / height, 1, 1 - top / height))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def describe_point(record, run=None):
    """The parameters of the point a run (``config.json``) or an export's
    ``config.json`` comes from, as ``"num_digits=4 seed=0"``: the swept
    parameters in a run point directory's name (``01-num_digits=4-seed=0``),
    else the values of the experiment's sweep keys in the recorded config;
    with the seed in any case."""
    training = record.get("training") or record
    config = training.get("config") or {}
    text = ""
    name = os.path.basename(os.path.normpath(run)) if run else ""
    match = re.match(r"^\d+-(.+)$", name)
    if match:
        text = " ".join(re.split(r"-(?=[A-Za-z_][\w.]*=)", match.group(1)))
    else:
        from kcontrast import config as cfg

        experiment = training.get("experiment") or config.get("name")
        if experiment in cfg.experiment_names():
            try:
                sweep = cfg.get_experiment_config(experiment).get("sweep") or ()
            except (ValueError, KeyError, TypeError):
                sweep = ()
            parts = []
            for entry in sweep:
                key = entry.split("=", 1)[0]
                value = config
                for part in key.split("."):
                    value = value.get(part) if isinstance(value, dict) else None
                if value is not None:
                    parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
            text = " ".join(parts)
    if "seed=" not in text and config.get("seed") is not None:
        text = f"{text} seed={config['seed']}".strip()
    return text


# --------------------------------------------------------------- the CLI
def _load_run(run_dir):
    """(model, record) of a run point directory."""
    model_file = os.path.join(run_dir, "model.keras")
    config_file = os.path.join(run_dir, "config.json")
    if not os.path.isfile(model_file) or not os.path.isfile(config_file):
        hint = ""
        points = os.path.join(run_dir, "points")
        if os.path.isdir(points):
            hint = f" (an experiment run; its points: {', '.join(sorted(os.listdir(points)))})"
        raise LocalFeaturesError(
            f"Expected a run point directory holding model.keras and config.json{hint}; "
            f"Received: run={run_dir}")
    try:
        with open(config_file) as f:
            record = json.load(f)
    except (OSError, ValueError) as e:
        raise LocalFeaturesError(
            f"Expected a readable JSON config.json; Received: run={run_dir} "
            f"({type(e).__name__})") from None
    from kcontrast.saving import load_model

    try:
        model = load_model(model_file, compile=False)
    except Exception as e:  # a broken or foreign file: report it in one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LocalFeaturesError(
            f"Expected a loadable model.keras; Received: run={run_dir} ({first})") from None
    if not hasattr(model, "feature_maps"):
        raise LocalFeaturesError(
            "Expected a ContrastiveModel (with feature_maps); "
            f"Received: {type(model).__name__} in run={run_dir}")
    return model, record


def _load_export(path):
    """(serve fn, record) of an export with maps."""
    from kcontrast.export import read_export_config

    config = read_export_config(path)
    if not config.get("maps"):
        raise LocalFeaturesError(
            "Expected an export with stage maps (python -m kcontrast.export ... --maps); "
            f"Received: saved_model={path} without stage<i>_map outputs")
    import tensorflow as tf

    loaded = tf.saved_model.load(path)

    def serve(images):
        return {k: v.numpy() for k, v in loaded.serve(tf.constant(images)).items()
                if k.endswith(MAP_SUFFIX)}

    return serve, config, [m[:-len(MAP_SUFFIX)] for m in config["maps"]]


def _dataset_of(record, source):
    from kcontrast.data import BUILDERS, build_dataset

    dataset = record.get("dataset") or {}
    name = dataset.get("builder")
    if name not in BUILDERS:
        raise LocalFeaturesError(
            f"Expected a recorded dataset builder among {sorted(BUILDERS)}; "
            f"Received: builder={name!r} in {source}")
    try:
        return build_dataset(name, **dict(dataset.get("config") or {}))
    except ValueError as e:
        raise LocalFeaturesError(str(e).splitlines()[0]) from None


def run_local_features(out, run=None, saved_model=None, k=(2, 3, 4), images=8,
                       stages=None, split="test", scores=None, score_images=64,
                       seed=0, n_init=3, log=print):
    """What the command does; returns the ``scores.json`` record.

    ``scores``: True (required: an error without masks), False (figures
    only) or None (when the dataset has masks).
    """
    start = time.perf_counter()

    def progress(line):
        log(f"[{time.perf_counter() - start:6.1f}s] {line}")

    ks = _check_ks(k)
    images = checks.check_positive_int(images, "images")
    score_images = checks.check_positive_int(score_images, "score_images")
    if bool(run) == bool(saved_model):
        raise LocalFeaturesError(
            "Expected exactly one of --run or --saved_model; "
            f"Received: run={run}, saved_model={saved_model}")
    if not out:
        raise LocalFeaturesError(f"Expected --out=DIR; Received: out={out!r}")
    if os.path.lexists(out):
        raise LocalFeaturesError(f"Expected an --out that does not exist; Received: out={out}")
    if split not in ("train", "test"):
        raise LocalFeaturesError(f"Expected split in ['test', 'train']; Received: split={split!r}")
    if run:
        model, record = _load_run(run)
        available, source = model.stage_names(), {"run": run}
    else:
        model, record, available = _load_export(saved_model)
        source = {"saved_model": saved_model}
    _check_stages(stages, available)
    stages = list(stages or available)
    ds = _dataset_of(record, run or saved_model)
    data = getattr(ds, split)
    masks = data.info.get("masks")
    if scores and masks is None:
        raise LocalFeaturesError(
            f"Expected a dataset whose builder gives object masks for --scores; "
            f"Received: dataset={ds.name} without masks (drop --scores for the figures)")
    do_scores = masks is not None and scores is not False
    point = describe_point(record, run)
    progress(f"loaded {run or saved_model} ({point or 'no parameters recorded'}): "
             f"dataset {ds.name}, stages {', '.join(stages)}")
    if masks is None:
        log(f"dataset {ds.name} gives no object masks: figures without scores")

    shown = model_inputs(data, images)
    maps = stage_maps(model, shown, stages)
    progress(f"figures: stage maps of {len(shown)} images")
    clusters = cluster_rows(maps, data.images[:len(shown)], ks, seed, n_init,
                            progress=lambda line: progress(f"figures: {line}"))
    table = None
    if do_scores:
        table = local_feature_scores(model, data, k=ks, stages=stages,
                                     num_images=score_images, seed=seed, n_init=n_init,
                                     progress=lambda line: progress(f"scores: {line}"))
    result = {"source": source, "dataset": {"builder": ds.name, "config": ds.config},
              "split": split, "k": ks, "stages": stages, "images": len(shown),
              "seed": seed, "point": point, "scores": table}
    if table is None and masks is not None:
        result["note"] = "scores not asked (--noscores)"
    elif table is None:
        result["note"] = f"dataset {ds.name} gives no object masks"

    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        shown_masks = None if masks is None else masks[:len(shown)]
        for kk in ks:
            scored = (f"\nunder each row: its ARI and fg ARI at k={kk}, mean over "
                      f"{table['num_images']} {split} images" if table else "")
            draw_clusters(data.images[:len(shown)], clusters[kk],
                          os.path.join(tmp, f"clusters_k{kk}.png"),
                          title=f"{ds.name} {point}: K-means per image, k={kk}{scored}",
                          masks=shown_masks, notes=row_notes(table, kk))
        with open(os.path.join(tmp, "scores.json"), "w") as f:
            json.dump(result, f, indent=2, sort_keys=True)
        os.chmod(tmp, 0o755)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress(f"figures written: {', '.join(f'clusters_k{kk}.png' for kk in ks)}")
    if table is not None:
        def cell(value):
            return "-" if value is None else f"{value:.3f}"

        for kk in ks:
            for metric in ("ari", "fg_ari"):
                cells = "  ".join(f"{row} {cell(table[row][str(kk)][metric])}"
                                  for row in [PIXELS] + stages)
                log(f"k={kk} {metric}: {cells}")
                at = table["resolution"]
                cells = "  ".join(
                    f"{row} {cell(at[row]['ceiling'][metric])}/"
                    f"{cell(at[row]['pixels'][str(kk)][metric])}" for row in stages)
                log(f"k={kk} {metric} at each stage's resolution, ceiling/pixels: {cells}")
    log(f"local features: {out}")
    return result


def _main(argv=None):
    from absl import flags

    from kcontrast import cli

    fv = flags.FlagValues()
    flags.DEFINE_string("run", None, "Run point directory with model.keras and config.json.",
                        flag_values=fv)
    flags.DEFINE_string("saved_model", None, "An export made with --maps (instead of --run).",
                        flag_values=fv)
    flags.DEFINE_list("k", ["2", "3", "4"], "Numbers of clusters, each >= 2.", flag_values=fv)
    flags.DEFINE_integer("images", 8, "Images drawn (columns of the figures).", flag_values=fv)
    flags.DEFINE_list("stages", None, "Stages to cluster (default: all).", flag_values=fv)
    flags.DEFINE_string("split", "test", "Dataset split: test or train.", flag_values=fv)
    flags.DEFINE_bool("scores", None, "Score against the masks (default: when the dataset "
                      "has masks; --scores requires them, --noscores skips).", flag_values=fv)
    flags.DEFINE_integer("score_images", 64, "Images scored.", flag_values=fv)
    flags.DEFINE_integer("seed", 0, "K-means seed.", flag_values=fv)
    flags.DEFINE_string("out", None, "Output directory (must not exist).", flag_values=fv)
    rest = cli.parse_flags(fv, sys.argv if argv is None else argv, PROGRAM, __doc__)
    try:
        if rest:
            raise LocalFeaturesError(f"Expected only flags; Received: {' '.join(rest)}")
        try:
            ks = [int(v) for v in fv.k]
        except ValueError:
            raise LocalFeaturesError(
                f"Expected --k to be integers >= 2; Received: k={','.join(fv.k)}") from None
        _check_ks(ks)
        from kcontrast.quiet_imports import import_frameworks

        import_frameworks()
        run_local_features(fv.out, run=fv.run, saved_model=fv.saved_model, k=ks,
                           images=fv.images, stages=fv.stages, split=fv.split,
                           scores=fv.scores, score_images=fv.score_images, seed=fv.seed)
    except ValueError as e:
        cli.fail(PROGRAM, e)
    return 0


def main(argv=None):
    """The CLI: one line on stderr and exit code 2 on a bad request;
    ``--help``/``--helpfull`` print the usage."""
    from kcontrast import cli

    return cli.exit_code(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
