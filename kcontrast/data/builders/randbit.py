"""RandBit: images plus an n-bit random integer packed as constant channels.

Each example gets a fixed random integer in [0, 2^bits), drawn once per split
from `np.random.default_rng([seed, split_id, 0x5B17])` (split_id 0 = train,
1 = test), so the pairing is deterministic per example and seed and is the
same in both views and every epoch. Bit j of the integer is `extra[:, j]`
(0.0 or 1.0); the pipeline broadcasts it to H x W and appends it after
augmentation. bits=0 gives `extra=None` (no extra channels).

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


def _with_bits(split, bits, seed, split_id):
    rng = np.random.default_rng([seed, split_id, _SALT])
    values = rng.integers(0, 2**bits, size=len(split), dtype=np.int64, endpoint=False)
    extra = encode_bits(values, bits) if bits else None
    return Split(
        images=split.images,
        labels=dict(split.labels),
        extra=extra,
        info={**split.info, "bit_value": values},
    )


def randbit(base="mnist5k", bits=5, seed=0, data_dir=None, stream=False, image_size=0):
    """Builds RandBit over any base source, in memory or streamed.

    Args:
        base: base source name (see `kcontrast.data.SOURCES`; any tfds name).
        bits: number of random bits, 0..32.
        seed: int seed of the integers.
        data_dir: passed to the base source.
        stream: tfds bases only: stream the splits (`StreamSplit`, see
            `kcontrast.data.stream`) instead of reading them into memory.
            A streamed example's integer is a keyed hash of its tfds id
            (`kcontrast.data.stream.extra_from_ids`), not a stored draw,
            and there is no `info["bit_value"]` array.
        image_size: tfds bases only: resize images to image_size x
            image_size (0: keep the base's size; variable-size images 64).

    Returns:
        `Dataset` "randbit": images of the base; labels {"label": int32 [N]}
        (the base class, e.g. the digit); extra float32 [N, bits] (None when
        bits=0); info {"bit_value": int64 [N]}. Streamed: `StreamSplit`s
        carrying the same channels.
    """
    bits = checks.check_int(bits, "bits", minimum=0, maximum=MAX_BITS)
    seed = checks.check_seed(seed)
    image_size = checks.check_int(image_size, "image_size", minimum=0)
    if not isinstance(stream, bool):
        raise ValueError(f"Expected stream to be True or False; Received: stream={stream!r}")
    if image_size and base in SOURCES:
        raise ValueError(
            f"Expected image_size=0 for the embedded base {base!r} (resizing is for "
            f"tensorflow-datasets bases); Received: image_size={image_size}")
    source = load_source(base, data_dir=data_dir, stream=stream,
                         image_size=(image_size, image_size) if image_size else None)
    config = {"base": base, "bits": int(bits), "seed": int(seed),
              "data_dir": None if data_dir is None else str(data_dir)}
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
    return Dataset(
        name="randbit",
        config=config,
        train=_with_bits(source.train, int(bits), int(seed), 0),
        test=_with_bits(source.test, int(bits), int(seed), 1),
        num_classes=dict(source.num_classes),
        multi_label=set(source.multi_label),
    )
