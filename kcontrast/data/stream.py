"""A split read from tensorflow-datasets as it is used, never held in memory.

`StreamSplit` stands where an in-memory `Split` stands (in a `Dataset`, in
`kcontrast.data.pipeline`, in evaluation), for data too big for memory
(cifar10 at paper scale, imagenet2012). It holds no arrays: only the tfds
builder, which split to read, and how to decode it. Each pass reads the
tfrecord shards again::

    builder.as_dataset(split, images left encoded, tfds_id added)
      -> shuffle (encoded bytes, bounded buffer)        pretraining only
      -> decode, float32 [H, W, C] in [0, 1], resize    parallel map
      -> extra channels from the example's tfds_id      (RandBit bits)
    then, in `kcontrast.data.pipeline`:
      -> batch -> augment both views -> prefetch

Memory is bounded by the shuffle buffer (`shuffle_buffer` encoded
examples) and the prefetched batches, whatever the split's size; nothing is
embedded as a constant in the tf.data graph.

Per-example constants that builders add (RandBit's bits) cannot be a
stored array either: they are a function of the example's tfds id (its
shard and position, stable across passes and file shuffles), hashed with the
seed, see `extra_from_ids`.

>>> ds = load_source("cifar10", data_dir="/data/tfds", stream=True)  # doctest: +SKIP
>>> ds.train                                                         # doctest: +SKIP
StreamSplit(cifar10 train[0:50000], 32x32x3)
>>> len(ds.train), ds.input_shape                                    # doctest: +SKIP
(50000, (32, 32, 3))
"""

import dataclasses

from kcontrast import checks

DEFAULT_SHUFFLE_BUFFER = 10_000


def _center_square(image):
    import tensorflow as tf

    h, w = tf.shape(image)[0], tf.shape(image)[1]
    side = tf.minimum(h, w)
    return tf.image.crop_to_bounding_box(image, (h - side) // 2, (w - side) // 2, side, side)


def extra_from_ids(ids, bits, seed, split_id):
    """RandBit's bits of streamed examples: float32 [B, bits] from tfds ids.

    The integer of an example is the keyed (SipHash, `tf.strings.
    to_hash_bucket_strong`) hash of its tfds id into [0, 2^bits), keyed by
    ``(seed, split_id)``; bit j is ``(v >> j) & 1``. The same example gets the
    same bits in every pass and both views, whatever the file order.

    Args:
        ids: string tensor [B] (tfds' ``tfds_id``).
        bits: int, 1..32.
        seed: int seed.
        split_id: 0 for train, 1 for test.
    """
    import tensorflow as tf

    values = tf.strings.to_hash_bucket_strong(ids, 2**bits, key=[int(seed), int(split_id)])
    shifts = tf.range(bits, dtype=tf.int64)
    return tf.cast(tf.bitwise.bitwise_and(
        tf.bitwise.right_shift(values[..., None], shifts), 1), tf.float32)


@dataclasses.dataclass(frozen=True, eq=False)
class StreamSplit:
    """One split of a prepared tfds dataset, read on demand.

    Attributes:
        builder: a prepared `tfds.core.DatasetBuilder`.
        split: tfds split name ("train", "test", "validation").
        start, stop: the examples read, ``split[start:stop]`` in tfds' order.
        image_key, label_key: the tfds features read as image and label.
        image_size: (H, W) every image is resized to (variable-size images
            are centre-cropped to a square first).
        channels: C of the images.
        bits: number of RandBit extra channels (0: none).
        bits_seed, split_id: the key of the bits (see `extra_from_ids`).
        shuffle_buffer: encoded examples held by the pretraining shuffle.

    `len()`, `image_shape`, `num_extra` and `head(n)` behave as `Split`'s;
    there is no `images`, `labels` or `extra` array. `examples()` is the
    per-example tf.data stream the pipelines batch.
    """

    builder: object
    split: str
    start: int
    stop: int
    image_key: str
    label_key: str
    image_size: tuple
    channels: int
    bits: int = 0
    bits_seed: int = 0
    split_id: int = 0
    shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER
    multi_label: frozenset = frozenset()

    def __len__(self):
        return int(self.stop - self.start)

    def __repr__(self):
        h, w = self.image_size
        return (f"StreamSplit({self.builder.info.name} {self.split}[{self.start}:{self.stop}], "
                f"{h}x{w}x{self.channels}{f' + {self.bits} bits' if self.bits else ''})")

    @property
    def image_shape(self):
        """(H, W, C) of the images, without the extra channels."""
        return (int(self.image_size[0]), int(self.image_size[1]), int(self.channels))

    @property
    def num_extra(self):
        return int(self.bits)

    @property
    def label_names(self):
        return ("label",)

    def head(self, n):
        """The first `n` examples (same contract as `Split.head`)."""
        n = checks.check_int(n, "n", minimum=0, allow_none=True)
        if n is None or n >= len(self):
            return self
        return dataclasses.replace(self, stop=self.start + n)

    def with_bits(self, bits, seed, split_id):
        """This split with RandBit's `bits` extra channels (see `extra_from_ids`)."""
        return dataclasses.replace(self, bits=int(bits), bits_seed=int(seed),
                                   split_id=int(split_id))

    def examples(self, shuffle=False, seed=0):
        """The split as a tf.data stream of single examples.

        Args:
            shuffle: shuffle the shard files and then the examples through a
                buffer of `shuffle_buffer` encoded examples, anew each pass.
            seed: int seed of both shuffles.

        Returns:
            tf.data.Dataset of ``(image float32 [H, W, C] in [0, 1],
            {"label": int32 []})``, plus a third component ``extra float32
            [k]`` when `num_extra` k > 0. Decoding runs in a parallel,
            deterministic map.
        """
        import tensorflow as tf
        import tensorflow_datasets as tfds

        read_config = tfds.ReadConfig(add_tfds_id=self.bits > 0, shuffle_seed=int(seed),
                                      shuffle_reshuffle_each_iteration=True)
        ds = self.builder.as_dataset(
            split=f"{self.split}[{self.start}:{self.stop}]", shuffle_files=bool(shuffle),
            read_config=read_config,
            decoders={self.image_key: tfds.decode.SkipDecoding()})
        if shuffle:
            ds = ds.shuffle(max(1, min(self.shuffle_buffer, len(self))), seed=int(seed),
                            reshuffle_each_iteration=True)
        feature = self.builder.info.features[self.image_key]
        static = feature.shape
        size = tuple(int(s) for s in self.image_size)
        resize = static[0] is None or static[1] is None or tuple(static[:2]) != size
        square = static[0] is None or static[1] is None
        channels = self.channels
        bits, bits_seed, split_id = self.bits, self.bits_seed, self.split_id
        image_key, label_key = self.image_key, self.label_key

        def decode(example):
            image = feature.decode_example(example[image_key])
            if square:
                image = _center_square(image)
            image = tf.cast(image, tf.float32)
            if resize:
                image = tf.image.resize(image, size)
            image = tf.clip_by_value(image / 255.0, 0.0, 1.0)
            image = tf.ensure_shape(tf.reshape(image, size + (channels,)), size + (channels,))
            labels = {"label": tf.cast(example[label_key], tf.int32)}
            if bits:
                extra = extra_from_ids(example["tfds_id"][None], bits, bits_seed, split_id)[0]
                return image, labels, extra
            return image, labels

        return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def is_stream(split):
    """True for a `StreamSplit` (no arrays), False for an in-memory `Split`."""
    return isinstance(split, StreamSplit)


def refuse_streams(builder, **sources):
    """Raises the one-line error of a builder that cannot composite a stream.

    Args:
        builder: the builder's name.
        **sources: argument name -> a source `Dataset` or a name.

    Raises:
        ValueError: when a source is a streamed `Dataset`.
    """
    for arg, source in sources.items():
        train = getattr(source, "train", None)
        if is_stream(train):
            raise ValueError(
                f"Expected an in-memory source for {builder}'s {arg} (it composites "
                "images by random access; of the builders only randbit streams); "
                f"Received: {arg}={source.name!r} streamed")
