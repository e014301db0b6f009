"""RandBit: images plus an n-bit random integer packed as constant channels.

Each example gets a fixed random integer in [0, 2^bits), drawn once per split
from `np.random.default_rng([seed, split_id, 0x5B17])` (split_id 0 = train,
1 = test), so the pairing is deterministic per example and seed and is the
same in both views and every epoch. Bit j of the integer is `extra[:, j]`
(0.0 or 1.0); the pipeline broadcasts it to H x W and appends it after
augmentation. bits=0 gives `extra=None` (no extra channels).

With bit_labels=True (and bits > 0) the bits are also a multi-hot label
`"bits"` (float32 [N, bits], the same values as `extra`), so every probe
reads them back from the representation: the online probe and the offline
linear probe score it as the mean over bits of each bit's accuracy (logit > 0
against the bit), the `linear/bits`, `knn/bits` and `online/bits` metrics
of `kcontrast.run`.

Positive control (``bit_flip=p``, 0 <= p <= 0.5): the bits stop being a
feature the two views share. In every pretraining batch each view gets its
own copy of the bits, each bit flipped independently with probability p (a
stateless draw per batch, epoch and view, `BitFlip`): a view's bit differs
from the stored bit with probability p, and the two views' bits differ with
probability 2p(1 - p). p = 0.5 makes each view's bits fresh uniform bits,
independent of the stored ones and of the other view: the bits redrawn per
view. The probes (and `Split.model_inputs`) see the stored bits. p = 0 (the
default) is RandBit as before, bit for bit.

>>> ds = randbit(base="mnist5k", bits=5, seed=0)
>>> ds.input_shape
(28, 28, 6)
"""

import numpy as np

from kcontrast import checks
from kcontrast.data.sources import SOURCES
from kcontrast.data.sources import load_source
from kcontrast.data.split import Dataset
from kcontrast.data.split import Split
from kcontrast.data.stream import is_stream

MAX_BITS = 32
BIT_LABEL = "bits"
_SALT = 0x5B17


def encode_bits(values, bits):
    """int [N] -> float32 [N, bits] with bit j of values[i] at [i, j]."""
    values = np.asarray(values, np.uint64)
    shifts = np.arange(bits, dtype=np.uint64)
    return ((values[:, None] >> shifts) & np.uint64(1)).astype(np.float32)


def decode_bits(extra):
    """float [N, bits] (0/1) -> int64 [N]; the inverse of `encode_bits`."""
    extra = np.asarray(extra)
    weights = np.left_shift(np.uint64(1), np.arange(extra.shape[-1], dtype=np.uint64))
    return (np.rint(extra).astype(np.uint64) * weights).sum(-1).astype(np.int64)


MAX_BIT_FLIP = 0.5


class BitFlip:
    """Per-view bit flips, a `Split.extra_views` callable.

    ``BitFlip(p)(extra, seed)`` returns ``(extra1, extra2)``, each float32
    [B, k]: ``extra`` (0/1 bits) with every entry flipped independently with
    probability ``p``, a separate draw for each view from the stateless seed
    int64 [2].

    >>> import tensorflow as tf
    >>> e1, e2 = BitFlip(0.5)(tf.zeros((4, 3)), tf.constant([1, 2], tf.int64))
    >>> tuple(e1.shape), tuple(e2.shape)
    ((4, 3), (4, 3))
    """

    def __init__(self, p):
        self.p = checks.check_in_range(p, "bit_flip", 0.0, MAX_BIT_FLIP)

    def __call__(self, extra, seed):
        import tensorflow as tf

        extra = tf.convert_to_tensor(extra, tf.float32)
        shape = tf.concat([[2], tf.shape(extra)], axis=0)
        flips = tf.cast(tf.random.stateless_uniform(shape, seed) < self.p, tf.float32)
        # |b - f| is b XOR f for 0/1 values.
        return tf.abs(extra - flips[0]), tf.abs(extra - flips[1])

    def __repr__(self):
        return f"BitFlip({self.p})"


def _with_bits(split, bits, seed, split_id, bit_labels=False, bit_flip=0.0):
    rng = np.random.default_rng([seed, split_id, _SALT])
    values = rng.integers(0, 2**bits, size=len(split), dtype=np.int64, endpoint=False)
    extra = encode_bits(values, bits) if bits else None
    labels = dict(split.labels)
    if bit_labels and bits:
        labels[BIT_LABEL] = extra.copy()
    return Split(
        images=split.images,
        labels=labels,
        extra=extra,
        info={**split.info, "bit_value": values},
        extra_views=BitFlip(bit_flip) if bit_flip and bits else None,
    )


def randbit(base="mnist5k", bits=5, bit_labels=False, seed=0, data_dir=None,
            stream=False, image_size=0, bit_flip=0.0):
    """Builds RandBit over any base source, in memory or streamed.

    Args:
        base: base source name (see `kcontrast.data.SOURCES`; any tfds name).
        bits: number of random bits, 0..32.
        bit_labels: bool; also label each example with its bits (the
            multi-hot label "bits", for the bits read-back probe). In
            memory only (not with stream=True).
        seed: int seed of the integers.
        data_dir: passed to the base source.
        stream: tfds bases only: stream the splits (`StreamSplit`, see
            `kcontrast.data.stream`) instead of reading them into memory.
            A streamed example's integer is a keyed hash of its tfds id
            (`kcontrast.data.stream.extra_from_ids`), not a stored draw,
            and there is no `info["bit_value"]` array.
        image_size: tfds bases only: resize images to image_size x
            image_size (0: keep the base's size; variable-size images 64).
        bit_flip: float in [0, 0.5]; the positive control: in pretraining,
            each view's bits are flipped independently with this
            probability (0.5: redrawn per view), see the module docstring.
            In memory only (not with stream=True).

    Returns:
        `Dataset` "randbit": images of the base; labels {"label": int32 [N]}
        (the base class, e.g. the digit) and, with bit_labels and bits > 0,
        {"bits": float32 [N, bits]} (multi-hot, in `multi_label`, with
        `num_classes["bits"] = bits`); extra float32 [N, bits] (None when
        bits=0); info {"bit_value": int64 [N]}. Streamed: `StreamSplit`s
        carrying the same channels.

    >>> ds = randbit(bits=3, bit_labels=True)
    >>> ds.num_classes["bits"], sorted(ds.multi_label), ds.train.labels["bits"].shape
    (3, ['bits'], (4000, 3))
    """
    bits = checks.check_int(bits, "bits", minimum=0, maximum=MAX_BITS)
    seed = checks.check_seed(seed)
    image_size = checks.check_int(image_size, "image_size", minimum=0)
    if not isinstance(bit_labels, (bool, np.bool_)):
        raise ValueError(f"Expected bit_labels to be a bool; Received: bit_labels={bit_labels!r}")
    if not isinstance(stream, bool):
        raise ValueError(f"Expected stream to be True or False; Received: stream={stream!r}")
    bit_flip = checks.check_in_range(bit_flip, "bit_flip", 0.0, MAX_BIT_FLIP)
    if stream and bit_flip:
        raise ValueError("Expected bit_flip=0 with stream=True (per-view bits need an "
                         f"in-memory split); Received: bit_flip={bit_flip}, stream=True")
    if stream and bit_labels:
        raise ValueError("Expected bit_labels=False with stream=True (the bits label needs "
                         "an in-memory split); Received: bit_labels=True, stream=True")
    if image_size and base in SOURCES:
        raise ValueError(
            f"Expected image_size=0 for the embedded base {base!r} (resizing is for "
            f"tensorflow-datasets bases); Received: image_size={image_size}")
    source = load_source(base, data_dir=data_dir, stream=stream,
                         image_size=(image_size, image_size) if image_size else None)
    config = {"base": base, "bits": int(bits), "seed": int(seed),
              "data_dir": None if data_dir is None else str(data_dir)}
    if bit_labels:  # recorded only when set: older runs' configs stay as they were
        config["bit_labels"] = True
    if bit_flip:  # likewise
        config["bit_flip"] = bit_flip
    if stream or image_size:
        config.update(stream=stream, image_size=int(image_size))
    if is_stream(source.train):
        return Dataset(
            name="randbit", config=config,
            train=source.train.with_bits(int(bits), int(seed), 0),
            test=source.test.with_bits(int(bits), int(seed), 1),
            num_classes=dict(source.num_classes),
            multi_label=set(source.multi_label),
        )
    if bit_labels and BIT_LABEL in source.num_classes:
        raise ValueError(f"Expected a base without a {BIT_LABEL!r} label when bit_labels=True; "
                         f"Received: base={base!r}")
    num_classes = dict(source.num_classes)
    multi_label = set(source.multi_label)
    labelled = bool(bit_labels) and bits > 0
    if labelled:
        num_classes[BIT_LABEL] = int(bits)
        multi_label.add(BIT_LABEL)
    return Dataset(
        name="randbit",
        config=config,
        train=_with_bits(source.train, int(bits), int(seed), 0, labelled, bit_flip),
        test=_with_bits(source.test, int(bits), int(seed), 1, labelled, bit_flip),
        num_classes=num_classes,
        multi_label=multi_label,
    )
