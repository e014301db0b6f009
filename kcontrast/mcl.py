"""Multistage contrastive learning (MCL; Zhang et al., ECCV 2024, arXiv 2402.11816).

Feature suppression means one stage of contrastive learning keeps only the
features that are easiest for telling the batch apart. MCL trains several
stages, each a fresh `ContrastiveModel`, and makes each stage's negatives
agree on what the earlier stages learned:

1. stage 1 trains as usual (batches drawn from the whole training split);
2. after a stage, K-means (scikit-learn) on its representations h of the
   training split (rows L2-normalized) gives each example a cluster;
3. the next stage draws every batch from a single group (feature-aware
   negative sampling): with ``grouping="all"`` (default) a group is a cell
   of all earlier stages' clusterings together (examples that share their
   cluster in every earlier stage), with ``grouping="last"`` a cluster of
   the previous stage alone. Inside such a batch the features the earlier
   stages learned are (nearly) the same for every example, so they no
   longer separate the negatives and the stage has to learn something else;
4. the final representation concatenates the stages' representations:
   ``[h_1, ..., h_S]``, ``S x D`` features.

Batches (`cluster_batches`): each epoch, every group is shuffled and cut
into ``ceil(n_g / batch_size)`` batches of near-equal size (sizes differ by
at most one inside a group, none above ``batch_size``), so every example is
used exactly once per epoch; the batches of all groups are then shuffled
together. A group needs at least 2 examples (one batch must hold a positive
pair and a negative): `cluster_representations` moves the members of
clusters smaller than ``min_group`` to their nearest large cluster, and a
cell of ``grouping="all"`` smaller than ``min_group`` joins the largest cell
of its last-stage cluster. Batch sizes therefore vary from step to step
(under JAX each distinct size compiles once).

Usage, on any in-memory `kcontrast.data.Split` (or a NumPy image array)::

    from kcontrast import mcl
    from kcontrast.models import ContrastiveModel, projection_head, small_convnet

    def build_stage(stage, steps_per_epoch):
        enc = small_convnet((28, 28, 1))
        model = ContrastiveModel(enc, projection_head(128), probes={})
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        return model

    result = mcl.multistage_fit(build_stage, images, num_stages=3,
                                num_clusters=10, epochs=20, batch_size=256)
    h = result.embed(images)            # float32 [N, 3 * 128]
    result.clusters[0]                  # int [N]: stage 1's K-means clusters

In `kcontrast.run`, a point config with an ``mcl`` section whose ``stages``
is above 1 trains this way (`pretrain_point`; ``--exp=mitigation``'s
``mcl_2`` and ``mcl_3`` methods):
``{"mcl": {"stages": 2, "clusters": 10, "grouping": "all"}}``.
"""

import dataclasses

import numpy as np

from kcontrast import checks
from kcontrast.data.augment import make_augmentation
from kcontrast.data.split import Split
from kcontrast.data.stream import is_stream

MIN_GROUP = 2
# Batches of at most 2 cannot cut a group of 3 into batches of 2 or more.
MIN_BATCH_SIZE = 2 * MIN_GROUP - 1
GROUPINGS = ("all", "last")
_ORDER_SALT = 0x3C1  # Decorrelates the batch order from the augmentation seeds.
_SEED_SALT = 0x3C2


# ------------------------------------------------------------ the sampler
def _check_groups(groups, name="groups"):
    groups = np.asarray(groups)
    if groups.ndim != 1 or groups.size == 0 or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(f"Expected {name} to be a non-empty 1-D integer array; "
                         f"Received: {name} of dtype {groups.dtype} and shape {groups.shape}")
    return groups


def cluster_batches(groups, batch_size, seed=0, epoch=0):
    """One epoch of batches, each drawn from a single group.

    Args:
        groups: int [N]; the group of each example (e.g. its cluster).
        batch_size: the largest batch, >= 3; each group of n_g examples is
            cut into ``ceil(n_g / batch_size)`` batches of near-equal size.
        seed: int >= 0.
        epoch: int >= 0; each epoch gives a new shuffle, the same one for
            the same (seed, epoch).

    Returns:
        list of int64 index arrays: together a permutation of ``range(N)``;
        every batch holds examples of one group only, has at least 2 and at
        most ``batch_size`` of them; the batches of all groups come in a
        random order.

    Raises:
        ValueError: a group with a single example.

    >>> [b.tolist() for b in cluster_batches([0, 0, 1, 1, 1], 2)]  # doctest: +SKIP
    [[3, 2], [1, 0], [4]]  (an order for illustration)
    """
    groups = _check_groups(groups)
    batch_size = checks.check_int(batch_size, "batch_size", minimum=MIN_BATCH_SIZE)
    seed = checks.check_seed(seed)
    epoch = checks.check_int(epoch, "epoch", minimum=0)
    rng = np.random.default_rng([seed, epoch, _ORDER_SALT])
    names, counts = np.unique(groups, return_counts=True)
    small = names[counts < MIN_GROUP]
    if small.size:
        raise ValueError(
            f"Expected every group to hold at least {MIN_GROUP} examples (a batch needs "
            f"a positive and a negative); Received: groups {small[:5].tolist()} with 1")
    batches = []
    for name in names:
        members = rng.permutation(np.flatnonzero(groups == name)).astype(np.int64)
        batches.extend(np.array_split(members, -(-len(members) // batch_size)))
    return [batches[i] for i in rng.permutation(len(batches))]


def num_batches(groups, batch_size):
    """The number of batches `cluster_batches` makes per epoch (the steps
    of one epoch): the sum over groups of ``ceil(n_g / batch_size)``."""
    _, counts = np.unique(_check_groups(groups), return_counts=True)
    return int(np.sum(-(-counts // int(batch_size))))


def combine_groups(clusters, grouping="all", min_group=MIN_GROUP):
    """The groups a stage draws its batches from, given earlier clusterings.

    Args:
        clusters: list of int [N], one K-means assignment per earlier stage
            (oldest first); empty: one group (ordinary batches).
        grouping: ``"all"``: the cells of all clusterings together;
            ``"last"``: the last clustering's clusters.
        min_group: cells smaller than this join the largest cell of their
            last-stage cluster (``"all"`` only).

    Returns:
        int64 [N] group ids ``0..G-1``.

    >>> combine_groups([np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])], min_group=1).tolist()
    [0, 1, 2, 3]
    """
    checks.check_choice(grouping, GROUPINGS, "grouping")
    min_group = checks.check_int(min_group, "min_group", minimum=1)
    if not len(clusters):
        raise ValueError("Expected at least one clustering; Received: clusters=[]")
    clusters = [_check_groups(c, "clusters[i]") for c in clusters]
    if len({len(c) for c in clusters}) != 1:
        raise ValueError(f"Expected clusterings of one length; Received: lengths "
                         f"{[len(c) for c in clusters]}")
    last = clusters[-1]
    if grouping == "last":
        return np.unique(last, return_inverse=True)[1].astype(np.int64)
    cells = np.unique(np.stack(clusters, axis=1), axis=0, return_inverse=True)[1].reshape(-1)
    for cluster in np.unique(last):
        inside = last == cluster
        ids, counts = np.unique(cells[inside], return_counts=True)
        if (counts < min_group).any():
            target = ids[np.argmax(counts)]
            for cell in ids[counts < min_group]:
                cells[cells == cell] = target
    return np.unique(cells, return_inverse=True)[1].astype(np.int64)


def cluster_representations(features, num_clusters, seed=0, min_group=MIN_GROUP):
    """K-means on L2-normalized rows of ``features`` [N, D].

    Returns int64 [N] cluster ids. Members of a cluster with fewer than
    ``min_group`` examples move to the nearest centre of a cluster with
    enough, so every cluster can fill a batch.

    >>> x = np.r_[np.zeros((5, 2)), np.ones((5, 2))] + [1, 0]
    >>> len(set(cluster_representations(x, 2).tolist()))
    2
    """
    from sklearn.cluster import KMeans

    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < MIN_GROUP:
        raise ValueError(f"Expected features of shape [N >= {MIN_GROUP}, D]; "
                         f"Received: shape={features.shape}")
    num_clusters = checks.check_int(num_clusters, "num_clusters", minimum=1,
                                    maximum=len(features) // MIN_GROUP)
    seed = checks.check_seed(seed)
    norm = np.linalg.norm(features, axis=1, keepdims=True)
    x = features / np.maximum(norm, 1e-12)
    km = KMeans(n_clusters=num_clusters, n_init=4, random_state=seed).fit(x)
    labels = km.labels_.astype(np.int64)
    counts = np.bincount(labels, minlength=num_clusters)
    big = np.flatnonzero(counts >= min_group)
    small = counts < min_group
    if small.any():
        moved = small[labels]
        d = ((x[moved, None, :] - km.cluster_centers_[None, big, :]) ** 2).sum(-1)
        labels[moved] = big[np.argmin(d, axis=1)]
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


# ------------------------------------------------------------ the pipeline
def _as_split(data):
    if isinstance(data, Split):
        return data
    if is_stream(data):
        raise ValueError("Expected an in-memory Split or image array (MCL draws batches "
                         "from clusters by random access); Received: a streamed split")
    images = np.asarray(data, np.float32)
    return Split(images, {})


def cluster_pretrain_dataset(split, groups, augment="companion", batch_size=256, seed=0):
    """Two augmented views per example, every batch from one group.

    As `kcontrast.data.pipeline.pretrain_dataset` (the same augmentation,
    extra channels, ``extra_views`` and ``redraw``), but the batches are
    `cluster_batches` of ``groups``, a new draw each pass (epoch).

    Args:
        split: an in-memory `kcontrast.data.Split`.
        groups: int [len(split)] group ids.
        augment, seed: as in ``pretrain_dataset``.
        batch_size: the largest batch (see `cluster_batches`).

    Returns:
        tf.data.Dataset of ({"view1": float32 [b, H, W, C+k], "view2": same},
        {name: labels [b]}), b varying per batch; one pass is
        ``num_batches(groups, batch_size)`` batches.
    """
    import tensorflow as tf

    from kcontrast.data.pipeline import _tensors, gather_rows, view_pair

    split = _as_split(split)
    groups = _check_groups(groups)
    if len(groups) != len(split):
        raise ValueError(f"Expected one group per example ({len(split)}); "
                         f"Received: len(groups)={len(groups)}")
    batch_size = checks.check_int(batch_size, "batch_size", minimum=MIN_BATCH_SIZE)
    seed = checks.check_seed(seed)
    cluster_batches(groups, batch_size, seed)  # checks the group sizes now
    aug = make_augmentation(augment)
    images, labels, extra = _tensors(split)
    epoch = [0]

    def index_batches():
        for batch in cluster_batches(groups, batch_size, seed, epoch[0]):
            yield batch
        epoch[0] += 1

    indices = tf.data.Dataset.from_generator(
        index_batches, output_signature=tf.TensorSpec([None], tf.int64)).apply(
        tf.data.experimental.assert_cardinality(num_batches(groups, batch_size)))
    seeds = tf.data.Dataset.random(seed=seed * 2 + _SEED_SALT,
                                   rerandomize_each_iteration=True).batch(2)
    redraw = split.redraw
    extra_views = split.extra_views

    def make_views(index, batch_seed):
        x, y, e = gather_rows(images, labels, extra, redraw, index, batch_seed)
        return view_pair(aug, x, e, batch_seed, extra_views), y

    ds = tf.data.Dataset.zip((indices, seeds))
    if getattr(aug, "stateful", False):
        ds = ds.map(make_views)
    else:
        ds = ds.map(make_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def representations(model, data, batch_size=512):
    """h of every example of ``data`` (a Split, with its extra channels, or
    images [N, H, W, C]) under ``model.encoder``, in order: float32 [N, D]."""
    from kcontrast.data.pipeline import probe_dataset

    split = _as_split(data)
    images = probe_dataset(split, batch_size=batch_size).map(lambda x, y: x)
    return np.asarray(model.encoder.predict(images, verbose=0), np.float32)


# ------------------------------------------------------------ the stages
@dataclasses.dataclass
class MultistageResult:
    """What `multistage_fit` returns.

    Attributes:
        models: the trained `ContrastiveModel` of each stage, in order.
        groups: int64 [N] per stage: the groups its batches came from
            (stage 1: all 0).
        clusters: int64 [N] per stage but the last (all stages with
            ``cluster_last=True``): the K-means clusters of its
            representations of the training split.
        histories: each stage's ``model.fit`` history dict.
    """

    models: list
    groups: list
    clusters: list
    histories: list

    def embed(self, data, batch_size=512):
        """The concatenated representation ``[h_1, ..., h_S]`` of ``data``
        (a Split or images [N, H, W, C]): float32 [N, sum of the stages' D]."""
        return np.concatenate([representations(m, data, batch_size) for m in self.models],
                              axis=1)


def multistage_fit(build_stage, data, num_stages=2, num_clusters=10, epochs=1,
                   batch_size=256, augment="companion", seed=0, grouping="all",
                   cluster_last=False, verbose=0, callbacks=()):
    """Trains ``num_stages`` contrastive stages with feature-aware negatives.

    Args:
        build_stage: callable ``(stage, steps_per_epoch) -> ContrastiveModel``,
            compiled; called once per stage (0-based) with the number of
            batches one epoch of that stage has (for a learning-rate
            schedule). Return a fresh model each time.
        data: the training set: an in-memory `kcontrast.data.Split` (its
            labels train the model's online probes) or images float32
            [N, H, W, C].
        num_stages: int >= 1 (MCL uses 2-3).
        num_clusters: K of each K-means, 1 <= K <= N / 2.
        epochs: epochs per stage.
        batch_size: the largest batch (see `cluster_batches`).
        augment: the augmentation (as ``pretrain_dataset``'s).
        seed: int; stage s draws its batches and views from ``seed + s``
            and K-means uses ``seed``.
        grouping: ``"all"`` or ``"last"`` (see `combine_groups`).
        cluster_last: also cluster the last stage (to inspect its clusters).
        verbose: passed to each stage's ``fit``.
        callbacks: Keras callbacks for every stage's ``fit``, or a callable
            ``stage -> list of callbacks``.

    Returns:
        `MultistageResult`; ``result.embed(x)`` is the final representation.
    """
    split = _as_split(data)
    num_stages = checks.check_int(num_stages, "num_stages", minimum=1)
    num_clusters = checks.check_int(num_clusters, "num_clusters", minimum=1,
                                    maximum=len(split) // MIN_GROUP)
    epochs = checks.check_int(epochs, "epochs", minimum=1)
    batch_size = checks.check_int(batch_size, "batch_size", minimum=MIN_BATCH_SIZE)
    seed = checks.check_seed(seed)
    checks.check_choice(grouping, GROUPINGS, "grouping")
    if not callable(build_stage):
        raise ValueError(f"Expected build_stage to be a callable (stage, steps_per_epoch) "
                         f"-> ContrastiveModel; Received: {build_stage!r}")
    result = MultistageResult(models=[], groups=[], clusters=[], histories=[])
    for stage in range(num_stages):
        if stage == 0:
            groups = np.zeros(len(split), np.int64)
        else:
            groups = combine_groups(result.clusters, grouping)
        model = build_stage(stage, num_batches(groups, batch_size))
        train = cluster_pretrain_dataset(split, groups, augment=augment,
                                         batch_size=batch_size, seed=seed + stage)
        stage_callbacks = callbacks(stage) if callable(callbacks) else callbacks
        history = model.fit(train, epochs=epochs, verbose=verbose, shuffle=False,
                            callbacks=list(stage_callbacks))
        result.models.append(model)
        result.groups.append(groups)
        result.histories.append(dict(history.history))
        if stage < num_stages - 1 or cluster_last:
            result.clusters.append(cluster_representations(
                representations(model, split), num_clusters, seed=seed))
    return result


# ------------------------------------------------------------ one run point
# The ``mcl`` section of a point config, with its defaults (1 stage: plain
# contrastive learning, `kcontrast.pretrain.pretrain_point` as ever).
CONFIG_DEFAULTS = {"stages": 1, "clusters": 10, "grouping": "all"}


def config_options(config):
    """The checked ``mcl`` section of a point config (``CONFIG_DEFAULTS``
    for missing keys); raises ValueError naming the key."""
    section = dict(config.get("mcl") or {})
    unknown = sorted(set(section) - set(CONFIG_DEFAULTS))
    if unknown:
        raise ValueError(f"Expected mcl keys among {sorted(CONFIG_DEFAULTS)}; "
                         f"Received: {unknown}")
    options = {**CONFIG_DEFAULTS, **section}
    options["stages"] = checks.check_int(options["stages"], "mcl.stages", minimum=1)
    options["clusters"] = checks.check_int(options["clusters"], "mcl.clusters", minimum=1)
    checks.check_choice(options["grouping"], GROUPINGS, "mcl.grouping")
    return options


def check_point(config, num_train):
    """Checks a point config's ``mcl`` section before a run starts (the
    run's one-line errors): its keys, ``mcl.clusters`` <= ``num_train`` / 2
    and ``optim.batch_size`` >= 3 when ``mcl.stages`` > 1; raises
    ValueError."""
    options = config_options(config)
    if options["stages"] > 1:
        checks.check_int(options["clusters"], "mcl.clusters", minimum=1,
                         maximum=num_train // MIN_GROUP)
        checks.check_int(config["optim"]["batch_size"], "optim.batch_size",
                         minimum=MIN_BATCH_SIZE)
        evaluation = config.get("eval") or {}
        for key in ("probe_sets", "local_features"):
            if evaluation.get(key):
                raise ValueError(f"Expected no eval.{key} with mcl.stages > 1; "
                                 f"Received: eval.{key}={evaluation[key]!r}")
    return options


def cluster_purity(clusters, labels):
    """Share of examples whose cluster's most common label is their own:
    what a clustering groups by (1.0: the clusters split along ``labels``;
    the largest class share: unrelated). ``clusters``, ``labels`` int [N]."""
    clusters, labels = np.asarray(clusters), np.asarray(labels).reshape(-1)
    hits = 0
    for c in np.unique(clusters):
        hits += np.bincount(labels[clusters == c]).max()
    return float(hits / len(labels))


def pretrain_point(config, point_dir=None, save_model=True, verbose=2, callbacks=(),
                   log=None, dataset=None, check=None, strategy=None, sync_batch_norm=True):
    """One experiment point trained with MCL; as `kcontrast.pretrain.pretrain_point`,
    which hands a config with ``mcl.stages`` > 1 here. Returns ``(metrics,
    MultistageResult)``.

    Every stage is the point's model (``pretrain.build_model``), compiled
    with its optimizer and schedule over that stage's steps, trained
    ``optim.epochs`` epochs (``mcl.stages`` x that in all) on cluster batches
    of at most ``optim.batch_size`` (``mcl.clusters``, ``mcl.grouping``, see
    `multistage_fit`). The offline probes (``linear/<label>``,
    ``knn/<label>``) score the concatenated representation; ``online/<label>``
    and ``contrastive_acc`` are the last stage's; ``mcl_purity/<label>@<s>``
    is `cluster_purity` of stage s's clusters (1-based) on the training split.
    Writes ``config.json``, ``metrics_stage<s>.jsonl`` per stage, and with
    ``save_model`` ``model_stage<s>.keras``, then ``metrics.json``. An
    interrupted point starts again (no mid-point resume). One device only;
    ``eval.probe_sets`` and ``eval.local_features`` are not supported.
    """
    import os
    import time

    import keras

    from kcontrast import atomic, pretrain
    from kcontrast.evaluation.per_label import evaluate_labels, protocol_of

    name = getattr(strategy, "name", strategy) or "none"
    if name != "none":
        raise ValueError(f"Expected no distribution strategy with mcl.stages > 1; "
                         f"Received: strategy={name!r}")
    keras.utils.set_random_seed(config["seed"])
    ds = dataset if dataset is not None else pretrain.load_data(config)
    options = check_point(config, len(ds.train))
    evaluation = config.get("eval") or {}
    check = check or (lambda: None)
    image_channels = ds.input_shape[-1] - ds.train.num_extra

    def build_stage(stage, steps):
        model = pretrain.build_model(config, ds.input_shape, ds.num_classes,
                                     ds.multi_label, image_channels=image_channels)
        return pretrain.compile_model(model, config, steps)

    def stage_callbacks(stage):
        extra = list(callbacks) + [pretrain.StopCheck(check)]
        if point_dir is not None:
            extra.insert(0, pretrain.EpochLog(
                os.path.join(point_dir, f"metrics_stage{stage + 1}.jsonl")))
        return extra

    if point_dir is not None:
        os.makedirs(point_dir, exist_ok=True)
        pretrain.write_point_config(point_dir, config, ds)
    batch_size = config["optim"]["batch_size"]
    start = time.perf_counter()
    result = multistage_fit(
        build_stage, ds.train, num_stages=options["stages"],
        num_clusters=options["clusters"], epochs=config["optim"]["epochs"],
        batch_size=batch_size, augment=config["data"]["augment"], seed=config["seed"],
        grouping=options["grouping"], cluster_last=True, verbose=verbose,
        callbacks=stage_callbacks)
    train_time = time.perf_counter() - start
    check()
    start = time.perf_counter()
    eval_batch = evaluation.get("batch_size") or 512
    train_h = result.embed(ds.train, eval_batch)
    test_h = result.embed(ds.test, eval_batch)
    results = evaluate_labels(train_h, ds.train.labels, test_h, ds.test.labels,
                              num_classes=ds.num_classes, multi_label=ds.multi_label,
                              protocol=protocol_of(config), seed=config["seed"], log=log)
    metrics = pretrain._label_metrics(results, {})
    last = result.models[-1]
    test, test_labels = pretrain._features(last, ds.test, eval_batch)
    for label in ds.num_classes:
        metrics[f"online/{label}"] = pretrain._online_accuracy(
            test[f"probe_{label}"], test_labels[label], label in ds.multi_label)
        if label not in ds.multi_label:
            for s, clusters in enumerate(result.clusters):
                metrics[f"mcl_purity/{label}@{s + 1}"] = cluster_purity(
                    clusters, ds.train.labels[label])
    eval_time = time.perf_counter() - start
    check()
    metrics["contrastive_acc"] = float(result.histories[-1]["contrastive_acc"][-1])
    metrics["train_time_s"] = round(train_time, 2)
    metrics["train_images_per_s"] = round(
        len(ds.train) * config["optim"]["epochs"] * options["stages"]
        / max(train_time, 1e-9), 1)
    metrics["eval_time_s"] = round(eval_time, 2)
    if log:
        log(f"MCL: {options['stages']} stages, groups per stage "
            f"{[int(g.max()) + 1 for g in result.groups]}")
    if point_dir is not None:
        if save_model:
            for s, model in enumerate(result.models):
                model.save(os.path.join(point_dir, f"model_stage{s + 1}.keras"))
        atomic.write_json(os.path.join(point_dir, pretrain.METRICS_FILE), metrics, default=str)
    return metrics, result
