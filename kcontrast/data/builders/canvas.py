"""Drawing helpers for the digit builders: resize digits, paste them on canvases.

>>> import numpy as np
>>> canvas = np.zeros((1, 8, 8, 1), np.float32)
>>> paste(canvas, 0, np.ones((2, 2, 1), np.float32), 3, 4, "max")
>>> float(canvas.sum())
4.0
"""

import numpy as np

from kcontrast import checks

MERGES = ("max", "add")


def resize_images(images, size):
    """float32 [N, h, w, C] -> [N, size, size, C] (area-averaging when shrinking)."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if images.shape[1] == size and images.shape[2] == size:
        return images.copy()
    out = tf.image.resize(images, (size, size), method="bilinear", antialias=True)
    return np.clip(out.numpy(), 0.0, 1.0).astype(np.float32)


def resize_to(images, size):
    """float32 [N, h, w, C] -> [N, size[0], size[1], C], bilinear."""
    import tensorflow as tf

    images = np.asarray(images, np.float32)
    if tuple(images.shape[1:3]) == tuple(size):
        return images.copy()
    out = tf.image.resize(images, size, method="bilinear", antialias=True)
    return np.clip(out.numpy(), 0.0, 1.0).astype(np.float32)


def paste(canvases, i, patch, y, x, merge):
    """Merges patch [h, w, 1 or C] into canvases[i] at top-left (y, x), in place.

    merge: "max" (per-pixel maximum) or "add" (sum clipped to 1).
    """
    checks.check_choice(merge, MERGES, "merge")
    h, w = patch.shape[:2]
    region = canvases[i, y:y + h, x:x + w]
    if region.shape[:2] != (h, w):
        raise ValueError(
            f"Expected the patch to lie inside the canvas; Received: patch of "
            f"{h}x{w} at (y={y}, x={x}) on a canvas of {canvases.shape[1]}x{canvases.shape[2]}"
        )
    if merge == "max":
        np.maximum(region, patch, out=region)
    else:
        np.minimum(region + patch, 1.0, out=region)
