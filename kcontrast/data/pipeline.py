"""tf.data pipelines over a `Split`: two augmented views for pretraining, one
clean view for probing.

Randomness is stateless and seeded: the example order comes from
`shuffle(seed=seed, reshuffle_each_iteration=True)` and each batch's
augmentation seed from `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`,
so a pipeline built twice with the same seed yields the same batches, while
each pass over it (each epoch) draws a new order and new crops. The extra
channels (RandBit bits) are appended after augmentation, identical in both
views unless the split's `extra_views` gives each view its own (RandBit's
`bit_flip`, the positive control). A split with a `redraw` (DigitOnImage's per-epoch digit) is
composited here, per batch, from a stateless seed folded out of the batch's
augmentation seed: a new draw every batch and epoch, the same draw in both
views, and the same sequence whenever the pipeline is built with the same
seed. Only TensorFlow ops run here, so the pipelines feed every Keras backend.

A With ``epochs=(first, last)`` the pipeline instead holds the batches of
epochs ``first .. last - 1`` in one pass, and each epoch's order and
augmentation seeds are a pure function of ``(seed, epoch)`` (stateless
shuffle and seeds folded in from the epoch and the batch index): a fit
resumed at epoch k gets exactly the batches epoch k had in the
uninterrupted fit (``kcontrast.pretrain`` feeds ``fit`` this way, with
``steps_per_epoch``). A streamed split keeps its own reshuffling order
(only the augmentation seeds follow the epoch).

A `kcontrast.data.stream.StreamSplit` (tfds, streamed) gives the same
elements without ever holding its split: the example stream is shuffled
through a bounded buffer of encoded examples (and shuffled shard files),
decoded in a parallel map, batched, augmented and prefetched; an in-memory
`Split` is embedded in the graph as constants and gathered by index.

>>> from kcontrast.data import build_dataset
>>> ds = build_dataset("randbit", bits=5)
>>> views, labels = next(iter(pretrain_dataset(ds.train, batch_size=8)))
>>> views["view1"].shape, labels["label"].shape
(TensorShape([8, 28, 28, 6]), TensorShape([8]))
"""

import numpy as np
import tensorflow as tf

from kcontrast import checks
from kcontrast.data.augment import make_augmentation
from kcontrast.data.stream import is_stream

_SEED_SALT = 0x7A11  # Decorrelates the augmentation stream from the shuffle.
_REDRAW_SALT = 0x3D12  # Decorrelates a split's redraw from the augmentation.
_EXTRA_SALT = 0x5E7A  # Decorrelates per-view extra channels from the augmentation.


def _tensors(split):
    images = tf.constant(np.asarray(split.images, np.float32))
    labels = {}
    for name, value in split.labels.items():
        value = np.asarray(value)
        dtype = np.float32 if value.ndim > 1 else np.int32
        labels[name] = tf.constant(value.astype(dtype))
    extra = None
    if split.extra is not None and split.extra.shape[1] > 0:
        extra = tf.constant(np.asarray(split.extra, np.float32))
    return images, labels, extra


def gather_rows(images, labels, extra, redraw, index, batch_seed):
    """Rows ``index`` of a split's tensors (``_tensors``): ``(x, y, extra)``.

    ``redraw``: ``None``, or the split's ``redraw(index, seed) -> (x,
    drawn_labels)`` (images drawn anew per batch, e.g. RandBit's redrawn
    bits), seeded from ``batch_seed``; its labels update ``y``.
    """
    e = None if extra is None else tf.gather(extra, index)
    y = {name: tf.gather(value, index) for name, value in labels.items()}
    if redraw is None:
        return tf.gather(images, index), y, e
    x, drawn = redraw(index, tf.random.experimental.stateless_fold_in(batch_seed, _REDRAW_SALT))
    y.update(drawn)
    return x, y, e


def append_extra(images, extra):
    """Concatenates extra [B, k] broadcast to [B, H, W, k] onto images [B, H, W, C]."""
    if extra is None:
        return images
    shape = tf.shape(images)
    planes = tf.broadcast_to(
        extra[:, None, None, :], tf.stack([shape[0], shape[1], shape[2], tf.shape(extra)[1]])
    )
    return tf.concat([images, planes], axis=-1)


def view_pair(aug, x, extra, batch_seed, extra_views=None):
    """The two views of one batch: ``{"view1", "view2"}`` float32 [B, H, W, C+k].

    ``aug`` (a callable of ``make_augmentation``) runs once on [x; x], so
    every example's randomness is drawn independently and the halves are two
    independent views; ``extra`` [B, k] (or None) is appended to both after
    augmentation, or, with ``extra_views`` (see ``Split.extra_views``), each
    view gets its own ``extra_views(extra, seed)`` half, from a seed folded
    out of ``batch_seed`` int64 [2].
    """
    both = aug(tf.concat([x, x], axis=0), batch_seed)
    v1, v2 = tf.split(both, 2, axis=0)
    e1 = e2 = extra
    if extra is not None and extra_views is not None:
        e1, e2 = extra_views(extra, tf.random.experimental.stateless_fold_in(
            batch_seed, _EXTRA_SALT))
    return {"view1": append_extra(v1, e1), "view2": append_extra(v2, e2)}


AUGMENT_IN = ("pipeline", "model")  # Where the views are made.


def raw_batch(x, extra, batch_seed, extra_views=None):
    """A raw batch for ``augment_in="model"``: ``{"image": x}`` plus the extra
    channels, ``"extra"`` [B, k] (the same in both views) or, with
    ``extra_views``, ``"extra1"``/``"extra2"`` drawn here as ``view_pair``
    draws them (the model's ``ViewAugmentation.views`` appends them)."""
    raw = {"image": x}
    if extra is not None and extra_views is not None:
        raw["extra1"], raw["extra2"] = extra_views(
            extra, tf.random.experimental.stateless_fold_in(batch_seed, _EXTRA_SALT))
    elif extra is not None:
        raw["extra"] = extra
    return raw


def pretrain_dataset(split, augment="companion", batch_size=256, seed=0,
                     shuffle=True, drop_remainder=True, epochs=None,
                     augment_in="pipeline"):
    """Two independently augmented views per example, plus the labels.

    Args:
        split: a `kcontrast.data.Split` or a streamed
            `kcontrast.data.stream.StreamSplit`; when an in-memory split's
            `redraw` is set, each batch's images and the labels it returns
            come from `split.redraw(index, seed)` instead of the stored
            arrays.
        augment: preset name (`kcontrast.data.augment.AUGMENTATIONS`) or a
            callable `fn(images [2B,H,W,C], seed int [2]) -> images`, called
            once per batch on the batch stacked twice ([x; x]); it must draw
            each example's randomness independently (the halves become
            view1 and view2); a
            callable with `stateful = True` (e.g. one built from Keras
            preprocessing layers, which draw from their own seeded
            generators) is mapped serially so that it stays reproducible.
        batch_size: examples per batch.
        seed: int seed of the order and the augmentations.
        shuffle: reshuffle the examples every pass.
        drop_remainder: drop the last partial batch.
        epochs: None (one pass is one epoch, reshuffled every pass), or
            ``(first, last)``: one pass holds epochs ``first`` to ``last - 1``
            back to back, epoch e's order and augmentation drawn from
            ``(seed, e)`` alone, the same whichever epoch the pass starts at
            (exact resume; feed ``fit`` with ``steps_per_epoch``). A streamed
            split reshuffles every pass from ``(seed, first)`` instead, so
            there only the augmentation seeds resume exactly. A
            ``stateful`` augmentation callable restarts its own generator
            at ``first``, so only a stateless one (every preset) resumes
            exactly.
        augment_in: ``"pipeline"`` (the views are made here) or
            ``"model"``: the elements are raw batches (``raw_batch``:
            ``{"image": [B, H, W, C], "extra": [B, k]}``) that a
            ``ContrastiveModel(augmentation=ViewAugmentation(augment))``
            augments inside its compiled step; ``augment`` is then unused.

    Returns:
        tf.data.Dataset of ({"view1": float32 [B, H, W, C+k], "view2": same},
        {name: int32 [B] or multi-hot float32 [B, K]}). One pass is one epoch
        (repeat it yourself), or the epochs of ``epochs``; prefetched.

    >>> ds = pretrain_dataset(build_dataset("randbit", bits=0).train,
    ...                       batch_size=8, epochs=(2, 4))  # epochs 2 and 3
    """
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    seed = checks.check_seed(seed)
    if drop_remainder and len(split) < batch_size:
        raise ValueError(
            f"Expected batch_size <= number of examples ({len(split)}) when "
            f"drop_remainder=True; Received: batch_size={batch_size}"
        )
    augment_in = checks.check_choice(augment_in, AUGMENT_IN, "augment_in")
    aug = make_augmentation(augment)
    if epochs is not None:
        first, last = _check_epochs(epochs)
    seeds = tf.data.Dataset.random(
        seed=int(seed) * 2 + _SEED_SALT, rerandomize_each_iteration=True
    ).batch(2)

    extra_views = getattr(split, "extra_views", None)

    def views(x, y, e, batch_seed):
        if augment_in == "model":
            return raw_batch(x, e, batch_seed, extra_views), y
        return view_pair(aug, x, e, batch_seed, extra_views), y

    if is_stream(split):
        if epochs is None:
            batches = split.examples(shuffle=shuffle, seed=seed).batch(
                batch_size, drop_remainder=drop_remainder)
            ds = tf.data.Dataset.zip((batches, seeds))
        else:
            # tfds takes Python int seeds, and a pipeline per epoch takes
            # minutes to build for hundreds of epochs: the stream reshuffles
            # every pass from one seed (a resumed fit's order differs), while
            # the augmentation seeds follow (seed, epoch, batch) as above.
            per_epoch = len(split) // batch_size if drop_remainder else -(-len(split) // batch_size)
            batches = split.examples(shuffle=shuffle, seed=_stream_seed(seed, first)).batch(
                batch_size, drop_remainder=drop_remainder).repeat(last - first)

            def seeded(step, batch):
                epoch, b = first + step // per_epoch, step % per_epoch
                return batch, tf.random.experimental.stateless_fold_in(
                    _epoch_seed(seed, epoch, _AUGMENT), b)

            ds = batches.enumerate().map(seeded)

        def make_views(batch, batch_seed):
            return views(batch[0], batch[1], batch[2] if len(batch) > 2 else None, batch_seed)
    else:
        images, labels, extra = _tensors(split)
        n = len(split)
        if epochs is None:
            indices = tf.data.Dataset.range(n)
            if shuffle:
                indices = indices.shuffle(n, seed=seed, reshuffle_each_iteration=True)
            indices = indices.batch(batch_size, drop_remainder=drop_remainder)
            ds = tf.data.Dataset.zip((indices, seeds))
        else:
            def epoch_batches(epoch):
                order = tf.range(n, dtype=tf.int64)
                if shuffle:
                    order = tf.random.experimental.stateless_shuffle(
                        order, seed=_epoch_seed(seed, epoch, _ORDER))
                batches = tf.data.Dataset.from_tensor_slices(order).batch(
                    batch_size, drop_remainder=drop_remainder)
                return _with_batch_seeds(batches, seed, epoch)

            ds = tf.data.Dataset.range(first, last).flat_map(epoch_batches)

        redraw = split.redraw

        def make_views(index, batch_seed):
            x, y, e = gather_rows(images, labels, extra, redraw, index, batch_seed)
            return views(x, y, e, batch_seed)

    # An augmentation with stateful randomness (Keras layers' SeedGenerators)
    # is reproducible only when batches reach it in order: map it serially.
    if getattr(aug, "stateful", False) and augment_in == "pipeline":
        ds = ds.map(make_views)
    else:
        ds = ds.map(make_views, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


_ORDER, _AUGMENT = 0, 1  # Which stream of an epoch's seed: order or augmentation.


def _check_epochs(epochs):
    try:
        first, last = (int(e) for e in epochs)
    except (TypeError, ValueError):
        first, last = -1, -1
    if not 0 <= first < last:
        raise ValueError("Expected epochs=(first, last) with 0 <= first < last; "
                         f"Received: epochs={epochs!r}")
    return first, last


def _epoch_seed(seed, epoch, stream):
    """The stateless seed int64 [2] of one epoch's order or augmentation."""
    base = tf.constant([int(seed), _SEED_SALT], tf.int64)
    return tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(base, tf.cast(epoch, tf.int64)), stream)


def _stream_seed(seed, epoch):
    """A Python int seed of one epoch of a streamed split."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 1) % (2**31 - 1)


def _with_batch_seeds(batches, seed, epoch):
    """``(batch, batch seed)``: the seed folded in from (seed, epoch, batch index)."""
    augment = _epoch_seed(seed, epoch, _AUGMENT)
    return batches.enumerate().map(
        lambda b, batch: (batch, tf.random.experimental.stateless_fold_in(augment, b)))


def probe_dataset(split, batch_size=256):
    """Un-augmented images (with extra channels) and labels, in order.

    Returns:
        tf.data.Dataset of (float32 [B, H, W, C+k], {name: labels}); no
        shuffle; the last partial batch is kept.
    """
    batch_size = checks.check_positive_int(batch_size, "batch_size")
    if is_stream(split):
        def clean(*batch):
            return append_extra(batch[0], batch[2] if len(batch) > 2 else None), batch[1]

        ds = split.examples(shuffle=False).batch(batch_size)
        ds = ds.map(clean, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)
    images, labels, extra = _tensors(split)
    ds = tf.data.Dataset.range(len(split)).batch(batch_size)

    def lookup(index):
        x = append_extra(tf.gather(images, index), None if extra is None else tf.gather(extra, index))
        return x, {name: tf.gather(value, index) for name, value in labels.items()}

    ds = ds.map(lookup, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)
