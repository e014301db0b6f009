"""The augmentation presets as a Keras layer that runs inside the train step.

``ViewAugmentation(preset)`` draws the same distribution as the tf.data
presets of ``kcontrast.data.augment`` ("companion", "cifar", "imagenet",
"none"), batched and vectorised in ``keras.ops`` so that it compiles into
the train step on TensorFlow, JAX and PyTorch: random resized crop (area
fraction in ``crop_scale``, log-uniform aspect ratio in ``crop_ratio``, up
to 10 candidates, the first that fits, else the whole image) resized back
bilinearly, horizontal flip (p=0.5), colour jitter (probability, random
order of brightness, contrast, saturation, hue), grayscale, Gaussian blur
(per-example sigma, reflect padding) and solarization.

Randomness comes from a ``keras.random.SeedGenerator`` owned by the layer:
a model that holds the layer tracks its state as a non-trainable variable,
so the state advances every step (also under JAX's stateless step) and is
saved and restored with the model's weights (exact resume).

Why hand-written: Keras 3 has no random *resized* crop layer (RandomCrop
crops a fixed size) and its colour layers draw one value per batch or apply
their ops in a fixed order. The crop is a per-example separable bilinear
resampling: each example's box gives two interpolation matrices
``Wy [H', H]`` and ``Wx [W', W]``, and ``view = Wy @ image @ Wx^T`` per
channel (a flip is the box with x0 and x1 swapped); the blur is the same
product with banded Gaussian matrices that fold in the reflect padding.

Raw batches. ``views(raw)`` takes ``{"image": [n, H, W, C]}`` (plus
``"extra": [n, k]`` appended to both views as constant planes, or
``"extra1"``/``"extra2"``, one per view) and returns
``{"view1": [n, H, W, C+k], "view2": ...}``, two independent views.
``kcontrast.data.pipeline.pretrain_dataset(..., augment_in="model")`` yields
such raw batches and ``ContrastiveModel(augmentation=...)`` turns them into
views in its train step.

>>> import numpy as np
>>> aug = ViewAugmentation("cifar", seed=0)
>>> v = aug.views({"image": np.random.rand(4, 32, 32, 3).astype("float32")})
>>> tuple(v["view1"].shape)
(4, 32, 32, 3)
"""

import math

import keras
import numpy as np
from keras import ops

from kcontrast.data.augment.color import LUMA
from kcontrast.data.augment.simclr import PRESETS as SIMCLR_PRESETS

RAW_KEY = "image"
_BASE = dict(crop_scale=None, crop_ratio=(3 / 4, 4 / 3), flip=False,
             jitter_strength=0.0, jitter_probability=0.8,
             grayscale_probability=0.0, blur_probability=0.0,
             blur_sigma=(0.1, 2.0), solarize_probability=0.0)
_SIMCLR = dict(_BASE, crop_scale=(0.08, 1.0), flip=True, jitter_strength=1.0,
               grayscale_probability=0.2)
# The parameters of each preset, as kcontrast.data.augment defines them.
PRESETS = {
    "companion": dict(_BASE, crop_scale=(0.5, 1.0)),
    "cifar": dict(_SIMCLR, **SIMCLR_PRESETS["cifar"]),
    "imagenet": dict(_SIMCLR, **SIMCLR_PRESETS["imagenet"]),
    "none": dict(_BASE),
}
_ATTEMPTS = 10


def _interp_matrix(start, stop, in_size, out_size):
    """Bilinear weights [B, out, in] sampling [start, stop] (fractions)."""
    i = ops.arange(out_size, dtype="float32")
    step = 1.0 / (out_size - 1) if out_size > 1 else 0.0
    centre = 0.5 if out_size == 1 else 0.0
    pos = (start[:, None] + (stop - start)[:, None] * (i[None, :] * step + centre)) * (in_size - 1)
    j = ops.arange(in_size, dtype="float32")
    return ops.relu(1.0 - ops.abs(pos[:, :, None] - j[None, None, :]))


def _reflect_bands(size, radius):
    """R [2r+1, size, size]: R[k, i, j] = 1 where j = reflect(i + k - r)."""
    out = np.zeros((2 * radius + 1, size, size), np.float32)
    for k in range(2 * radius + 1):
        for i in range(size):
            j = i + k - radius
            j = -j if j < 0 else (2 * (size - 1) - j if j >= size else j)
            out[k, i, j] = 1.0
    return out


def _hue_matrix(delta):
    angle = 2.0 * math.pi * delta
    c, s = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
    u = np.full(3, 1.0 / math.sqrt(3.0), np.float32)
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]], np.float32)
    outer = np.outer(u, u).astype(np.float32)
    return c * np.eye(3, dtype=np.float32) + s * cross + (1.0 - c) * outer


@keras.saving.register_keras_serializable(package="kcontrast")
class ViewAugmentation(keras.layers.Layer):
    """One augmented view per example, in the graph: ``aug(images) -> images``.

    Args:
        preset: "companion", "cifar", "imagenet" or "none" (see ``PRESETS``).
        seed: int seed of the layer's ``SeedGenerator`` (None: drawn from
            Keras' global seed).
        **overrides: any preset parameter (crop_scale, crop_ratio, flip,
            jitter_strength, jitter_probability, grayscale_probability,
            blur_probability, blur_sigma, solarize_probability).

    ``call(images [B, H, W, C] float in [0, 1])`` returns ``[B, H, W, C]``
    in [0, 1] (C = 1 or 3; colour ops other than brightness and contrast
    leave C = 1 unchanged); ``views(raw)`` makes the two views of a raw batch.
    """

    def __init__(self, preset="companion", seed=None, name="view_augmentation", **kwargs):
        params = {k: kwargs.pop(k) for k in list(kwargs) if k in _BASE}
        kwargs.setdefault("dtype", "float32")  # float32 views under any policy
        super().__init__(name=name, **kwargs)
        if preset not in PRESETS:
            raise ValueError(f"Expected preset in {sorted(PRESETS)}; Received: preset={preset!r}")
        self.preset = preset
        self.seed = seed
        self.overrides = params
        p = dict(PRESETS[preset], **params)
        self.params = p
        if p["crop_scale"] is not None:
            p["crop_scale"] = tuple(float(v) for v in p["crop_scale"])
        self.seed_generator = keras.random.SeedGenerator(seed, name="augment_seed")
        self.built = True  # no weights: only the seed state

    # ------------------------------------------------------------- draws
    def _uniform(self, shape, low=0.0, high=1.0):
        return keras.random.uniform(shape, low, high, seed=self.seed_generator)

    def crop_boxes(self, batch, height, width):
        """Crop boxes [B, 4] (y0, x0, y1, x1), fractions; x0 > x1 is a flip."""
        p = self.params
        area = self._uniform((batch, _ATTEMPTS), *p["crop_scale"])
        log_r = self._uniform((batch, _ATTEMPTS), math.log(p["crop_ratio"][0]),
                              math.log(p["crop_ratio"][1]))
        r = ops.exp(log_r)
        aspect = width / height
        fw = ops.sqrt(area * r / aspect)
        fh = ops.sqrt(area * aspect / r)
        fits = ops.logical_and(fw <= 1.0, fh <= 1.0)
        first = ops.argmax(ops.cast(fits, "int32"), axis=1)[:, None]
        any_fit = ops.any(fits, axis=1)
        fw = ops.where(any_fit, ops.take_along_axis(fw, first, axis=1)[:, 0], 1.0)
        fh = ops.where(any_fit, ops.take_along_axis(fh, first, axis=1)[:, 0], 1.0)
        offsets = self._uniform((batch, 2))
        y0 = offsets[:, 0] * (1.0 - fh)
        x0 = offsets[:, 1] * (1.0 - fw)
        x1 = x0 + fw
        if p["flip"]:
            flipped = self._uniform((batch,)) < 0.5
            x0, x1 = ops.where(flipped, x1, x0), ops.where(flipped, x0, x1)
        return ops.stack([y0, x0, y0 + fh, x1], axis=1)

    # -------------------------------------------------------------- stages
    @staticmethod
    def resample(images, boxes):
        """Bilinear crop of each example's box, resized to (H, W)."""
        h, w = int(images.shape[1]), int(images.shape[2])
        wy = _interp_matrix(boxes[:, 0], boxes[:, 2], h, h)
        wx = _interp_matrix(boxes[:, 1], boxes[:, 3], w, w)
        out = ops.einsum("bih,bhwc->biwc", wy, images)
        return ops.einsum("bjw,biwc->bijc", wx, out)

    def _jitter(self, images, batch):
        p = self.params
        s = float(p["jitter_strength"])
        rgb = images.shape[-1] == 3
        apply = self._uniform((batch,)) < p["jitter_probability"]
        jitter = 0.8 * s
        low = max(0.0, 1.0 - jitter)
        brightness = self._uniform((batch,), low, 1.0 + jitter)
        contrast = self._uniform((batch,), low, 1.0 + jitter)
        saturation = self._uniform((batch,), low, 1.0 + jitter)
        hue = self._uniform((batch,), -0.2 * s, 0.2 * s)
        order = ops.argsort(self._uniform((batch, 4)), axis=1)
        eye = np.eye(3, dtype=np.float32)
        to_gray = np.ones((3, 1), np.float32) * LUMA[None, :]
        for position in range(4):
            op = ops.where(apply, order[:, position], -1)
            if rgb:
                f = ops.where(ops.equal(op, 1), contrast, 1.0)[:, None, None]
                sat = saturation[:, None, None]
                matrix = ops.where(
                    ops.equal(op, 0)[:, None, None], brightness[:, None, None] * eye,
                    ops.where(
                        ops.equal(op, 2)[:, None, None], sat * eye + (1.0 - sat) * to_gray,
                        ops.where(ops.equal(op, 3)[:, None, None], _hue_matrix(hue), f * eye)))
                bias = (1.0 - f[:, :, 0]) * ops.mean(images, axis=(1, 2))
                images = ops.einsum("bhwc,bdc->bhwd", images, matrix) + bias[:, None, None, :]
                images = ops.clip(images, 0.0, 1.0)
            else:
                b = ops.where(ops.equal(op, 0), brightness, 1.0)[:, None, None, None]
                images = ops.clip(images * b, 0.0, 1.0)
                c = ops.where(ops.equal(op, 1), contrast, 1.0)[:, None, None, None]
                mean = ops.mean(images, axis=(1, 2), keepdims=True)
                images = ops.clip((images - mean) * c + mean, 0.0, 1.0)
        return images

    def _blur(self, images, batch):
        p = self.params
        h, w = int(images.shape[1]), int(images.shape[2])
        size = max(3, min(h, w) // 10) | 1
        radius = size // 2
        apply = self._uniform((batch,)) < p["blur_probability"]
        sigma = self._uniform((batch,), *p["blur_sigma"])
        x = ops.arange(-radius, radius + 1, dtype="float32")
        kernel = ops.exp(-0.5 * ops.square(x[None, :] / sigma[:, None]))
        kernel = kernel / ops.sum(kernel, axis=1, keepdims=True)  # [B, K]
        my = ops.einsum("bk,kij->bij", kernel, _reflect_bands(h, radius))
        mx = ops.einsum("bk,kij->bij", kernel, _reflect_bands(w, radius))
        out = ops.einsum("bih,bhwc->biwc", my, images)
        out = ops.einsum("bjw,biwc->bijc", mx, out)
        return ops.clip(ops.where(apply[:, None, None, None], out, images), 0.0, 1.0)

    def call(self, images, training=True):
        del training  # Augmentation is asked for explicitly (``views``).
        p = self.params
        images = ops.cast(images, "float32")
        batch = ops.shape(images)[0]
        h, w = int(images.shape[1]), int(images.shape[2])
        if p["crop_scale"] is not None:
            images = self.resample(images, self.crop_boxes(batch, h, w))
        elif p["flip"]:
            flipped = self._uniform((batch,)) < 0.5
            images = ops.where(flipped[:, None, None, None], ops.flip(images, axis=2), images)
        if p["jitter_strength"] > 0 and p["jitter_probability"] > 0:
            images = self._jitter(images, batch)
        if images.shape[-1] == 3 and p["grayscale_probability"] > 0:
            gray = self._uniform((batch,)) < p["grayscale_probability"]
            luma = ops.sum(images * LUMA, axis=-1, keepdims=True)
            images = ops.where(gray[:, None, None, None], ops.clip(luma, 0.0, 1.0) * ops.ones((3,)), images)
        if p["blur_probability"] > 0:
            images = self._blur(images, batch)
        if p["solarize_probability"] > 0:
            solar = self._uniform((batch,)) < p["solarize_probability"]
            images = ops.where(ops.logical_and(solar[:, None, None, None], images >= 0.5),
                               1.0 - images, images)
        return images

    def views(self, raw):
        """``{"image", "extra" | "extra1", "extra2"}`` -> ``{"view1", "view2"}``.

        The augmentation runs once on ``[x; x]`` (each row its own draw);
        the extra channels are appended after it as constant planes.
        """
        x = raw[RAW_KEY]
        n = ops.shape(x)[0]
        both = self(ops.concatenate([x, x], axis=0))
        v1, v2 = both[:n], both[n:]
        e1 = raw.get("extra1", raw.get("extra"))
        e2 = raw.get("extra2", raw.get("extra"))
        return {"view1": _append(v1, e1), "view2": _append(v2, e2)}

    # Keras saves a layer's own variables but not its SeedGenerator's state:
    # store it, so that a model restored from its weights (BackupAndRestore,
    # ``load_model``) draws the crops the uninterrupted run would have drawn.
    def save_own_variables(self, store):
        store["seed_state"] = self.seed_generator.state

    def load_own_variables(self, store):
        if "seed_state" in store:
            self.seed_generator.state.assign(store["seed_state"])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"preset": self.preset, "seed": self.seed, **self.overrides})
        return config


def _append(images, extra):
    if extra is None:
        return images
    extra = ops.cast(extra, images.dtype)
    shape = ops.shape(images)
    planes = ops.broadcast_to(extra[:, None, None, :],
                              (shape[0], shape[1], shape[2], ops.shape(extra)[1]))
    return ops.concatenate([images, planes], axis=-1)
