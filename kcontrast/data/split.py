"""In-memory dataset containers shared by every builder.

A builder returns a `Dataset`: a train and a test `Split` plus the label
metadata the probes need. Everything is numpy; `kcontrast.data.pipeline` turns a
split into tf.data pipelines.

>>> import numpy as np
>>> s = Split(np.zeros((4, 28, 28, 1), "float32"), {"label": np.zeros(4, "int32")})
>>> len(s), s.num_extra
(4, 0)
>>> len(s.head(3))
3
"""

import dataclasses

import numpy as np

from kcontrast import checks


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """One split of a dataset.

    Attributes:
        images: float32 [N, H, W, C] in [0, 1].
        labels: dict name -> int32 [N] (class index) or float32 [N, K]
            (multi-hot, for the names in `Dataset.multi_label`).
        extra: float32 [N, k] per-example constant channels appended after
            augmentation (RandBit bits), or None when there are none (a
            builder never returns an [N, 0] array).
        info: dict of per-example side information that is not a probe target
            (e.g. RandBit's integer `bit_value` int64 [N], DigitOnImage's
            `digit_index` into the digit pool). Optional; may be empty.
        redraw: None, or a callable `fn(index, seed) -> (images, labels)`
            that the pretraining pipeline calls on every batch instead of
            gathering `images`: `index` int64 [B] (rows of this split),
            `seed` int64 [2] (a stateless seed, new for every batch and
            epoch); it returns float32 [B, H, W, C] tensors and a dict of
            the labels it changes ({name: int32 [B]}). `images` then hold
            one fixed draw (what the probes see). DigitOnImage's
            `redraw=True` uses it to pair each object with a new digit every
            epoch (`kcontrast.data.builders.digit_on_image.DigitRedraw`).
        extra_views: None (both views get the stored `extra`), or a
            callable `fn(extra, seed) -> (extra1, extra2)` that the
            pretraining pipeline calls on every batch to give each view its
            own extra channels: `extra` float32 [B, k] tensor (the stored
            rows), `seed` int64 [2] (a stateless seed, new for every batch
            and epoch); it returns two float32 [B, k] tensors. The probes
            see the stored `extra`. RandBit's `bit_flip` uses it
            (`kcontrast.data.builders.randbit.BitFlip`).
    """

    images: np.ndarray
    labels: dict
    extra: np.ndarray | None = None
    info: dict = dataclasses.field(default_factory=dict)
    redraw: object = None
    extra_views: object = None

    def __post_init__(self):
        if self.images.ndim != 4:
            raise ValueError(
                "Expected images of shape [N, H, W, C]; "
                f"Received: images.shape={self.images.shape}"
            )
        n = self.images.shape[0]
        for name, value in self.labels.items():
            if len(value) != n:
                raise ValueError(
                    f"Expected {n} labels for '{name}'; Received: len={len(value)}"
                )
        if self.extra is not None and (
            self.extra.ndim != 2 or self.extra.shape[0] != n
        ):
            raise ValueError(
                f"Expected extra of shape [{n}, k]; "
                f"Received: extra.shape={self.extra.shape}"
            )

    def __len__(self):
        return int(self.images.shape[0])

    @property
    def image_shape(self):
        """(H, W, C) of the images, without the extra channels (as
        `kcontrast.data.stream.StreamSplit.image_shape`)."""
        return tuple(int(d) for d in self.images.shape[1:])

    @property
    def label_names(self):
        return tuple(self.labels)

    @property
    def num_extra(self):
        """Number of extra channels k (0 when `extra` is None)."""
        return 0 if self.extra is None else int(self.extra.shape[1])

    def head(self, n):
        """The first `n` examples: images, labels, extra and info, cut alike.

        The one way to shorten a split (quick runs, `max_examples`). Returns
        `self` when `n` is None or >= len(self); otherwise a new `Split` whose
        arrays are views of this one's (a `redraw` and `extra_views` are
        kept: `redraw` is called with row indices, which stay below `n`).

        Args:
            n: int >= 0, or None.
        """
        n = checks.check_int(n, "n", minimum=0, allow_none=True)
        if n is None or n >= len(self):
            return self
        return Split(
            images=self.images[:n],
            labels={name: value[:n] for name, value in self.labels.items()},
            extra=None if self.extra is None else self.extra[:n],
            info={name: value[:n] for name, value in self.info.items()},
            redraw=self.redraw,
            extra_views=self.extra_views,
        )

    def model_inputs(self, start=None, stop=None):
        """Model inputs: images with the extra channels appended.

        A model built on `Dataset.input_shape` expects C + k channels, while
        `images` holds only the C image channels; the pipelines append
        `extra` (e.g. RandBit's bits) as constant channels. This does the same
        in numpy, for calling a model directly. `start` and `stop` select
        examples as the slice `images[start:stop]` does.

        Args:
            start: first example (default 0; negative counts from the end).
            stop: one past the last example (default: all).

        Returns:
            float32 [n, H, W, C + k]: `images[start:stop]`, then channel j of
            the last k holds `extra[i, j]` at every pixel. The same values as
            `kcontrast.data.pipeline.probe_dataset` yields.

        >>> s = Split(np.zeros((4, 2, 2, 1), "float32"), {"label": np.zeros(4, "int32")},
        ...           extra=np.array([[1, 0]] * 4, "float32"))
        >>> s.model_inputs(0, 3).shape
        (3, 2, 2, 3)
        >>> s.model_inputs()[0, :, :, 1].tolist()
        [[1.0, 1.0], [1.0, 1.0]]
        """
        for name, value in (("start", start), ("stop", stop)):
            if value is not None and not isinstance(value, (int, np.integer)):
                raise ValueError(
                    f"Expected {name} to be an integer or None; Received: {name}={value!r}")
        images = np.asarray(self.images[start:stop], np.float32)
        if self.extra is None:
            return images
        extra = np.asarray(self.extra[start:stop], np.float32)
        n, h, w, _ = images.shape
        channels = np.broadcast_to(extra[:, None, None, :], (n, h, w, extra.shape[1]))
        return np.concatenate([images, channels], axis=-1)


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """A built dataset: two splits and their label metadata.

    Attributes:
        name: builder name (a key of `kcontrast.data.BUILDERS`).
        config: JSON-serializable dict of the builder's arguments.
        train, test: `Split`s, or `kcontrast.data.stream.StreamSplit`s
            (read from tfds as pipelines iterate them; no arrays).
        num_classes: dict label name -> number of classes (K for multi-hot).
        multi_label: set of label names that are multi-hot float32 [N, K].
    """

    name: str
    config: dict
    train: Split
    test: Split
    num_classes: dict
    multi_label: set = dataclasses.field(default_factory=set)

    @property
    def input_shape(self):
        """(H, W, C + k): the shape one model input has."""
        h, w, c = self.train.image_shape
        return (int(h), int(w), int(c) + self.train.num_extra)
