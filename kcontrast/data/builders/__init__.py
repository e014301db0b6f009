"""The registry of dataset builders and `build_dataset`.

Modules: `randbit`, `digit_on_image`, `multi_digits`,
`modified_multi_digits`, and `canvas` (resizing and pasting digits).

`BUILDERS` maps a name to a builder `fn(**kwargs) -> Dataset`.

>>> ds = build_dataset("randbit", base="mnist5k", bits=5, seed=0)
>>> ds.train.images.shape, ds.train.extra.shape
((4000, 28, 28, 1), (4000, 5))
"""

import inspect

from kcontrast.data.builders.digit_on_image import digit_on_image
from kcontrast.data.builders.modified_multi_digits import modified_multi_digits
from kcontrast.data.builders.multi_digits import multi_digits
from kcontrast.data.builders.randbit import randbit

BUILDERS = {
    "randbit": randbit,
    "digit_on_image": digit_on_image,
    "multi_digits": multi_digits,
    "modified_multi_digits": modified_multi_digits,
}


def build_dataset(name, **kwargs):
    """Builds dataset `name` with the builder's keyword arguments.

    Raises:
        ValueError: unknown builder (lists `BUILDERS`), unknown argument, or
            a bad argument value (from the builder).
    """
    if name not in BUILDERS:
        raise ValueError(
            f"Expected a dataset builder, one of {sorted(BUILDERS)}; "
            f"Received: name={name!r}"
        )
    builder = BUILDERS[name]
    params = inspect.signature(builder).parameters
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise ValueError(
            f"Expected arguments of '{name}' among {sorted(params)}; "
            f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}"
        )
    return builder(**kwargs)
