"""Float32 casting and a gradient-safe l2 normalization."""

from keras import ops

# Added to the squared norm before the square root. It keeps both the value
# and the gradient of the normalization finite for an all-zero row
# (d/dx [x / sqrt(|x|^2 + eps)] = I / sqrt(eps) at x = 0) and changes the
# norm of any row with |x|^2 >> 1e-12 by a relative 5e-13 / |x|^2.
NORM_EPSILON = 1e-12


def to_float32(x):
    """Converts `x` to a float32 tensor (bfloat16/float16 are upcast)."""
    x = ops.convert_to_tensor(x)
    if x.dtype != "float32":
        x = ops.cast(x, "float32")
    return x


def l2_normalize(x, axis=-1, epsilon=NORM_EPSILON):
    """Safe l2 normalization along `axis`.

    ```
    l2_normalize(x) = x / sqrt(sum(x ** 2, axis) + epsilon)
    ```

    Unlike ``x / max(|x|, eps)`` the epsilon sits inside the square root, so
    an all-zero row maps to zero with a finite gradient.

    >>> import numpy as np
    >>> round(float(ops.sum(l2_normalize(np.array([[3.0, 4.0]])) ** 2)), 5)
    1.0
    """
    x = to_float32(x)
    sq = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(sq + epsilon)
