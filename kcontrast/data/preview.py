"""Preview a dataset: examples, their two augmented views and their labels.

    python -m kcontrast.data.preview --dataset=randbit --out=randbit.png
    python -m kcontrast.data.preview --dataset=multi_digits \\
        --kwargs='{"num_digits": 4}' --augment=cifar --out=md.png

Each row is one training example: the clean image, view 1 and view 2 (only the
image channels are drawn; extra channels are written in the title, e.g. the
RandBit integer, which is identical in both views).

>>> from kcontrast.data.preview import render_preview
>>> render_preview("randbit", "/tmp/randbit.png", num_examples=4)  # doctest: +SKIP
"""

import io
import json
import os
import textwrap

import numpy as np

from kcontrast import atomic
from kcontrast.data.builders.randbit import decode_bits


def _describe(labels, multi_label, i, bits):
    parts = []
    for name, value in labels.items():
        if name in multi_label:
            parts.append(f"{name}={np.flatnonzero(value[i] > 0.5).tolist()}")
        else:
            parts.append(f"{name}={int(value[i])}")
    if bits is not None:
        parts.append(f"bit_value={int(bits[i])}")
    return "\n".join(parts)


def _show(ax, image):
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        ax.imshow(np.clip(image, 0.0, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])


def render_preview(dataset, out, num_examples=6, augment="companion", seed=0, data_dir=None, **kwargs):
    """Builds `dataset`, draws `num_examples` training examples with two views
    each, and writes the grid to the image file `out` (its extension names
    the format: .png, .pdf, .svg, ...; none means PNG).

    Returns:
        The built `Dataset`.
    """
    from kcontrast.data.builders import build_dataset

    if data_dir is not None:
        kwargs["data_dir"] = data_dir
    ds = build_dataset(dataset, **kwargs)
    from kcontrast.data.pipeline import pretrain_dataset  # TensorFlow: after the checks

    split = ds.train
    views, labels = next(iter(pretrain_dataset(
        split, augment=augment, batch_size=num_examples, seed=seed, shuffle=True
    )))
    labels = {k: v.numpy() for k, v in labels.items()}
    v1, v2 = views["view1"].numpy(), views["view2"].numpy()
    c = split.images.shape[-1]
    bits = decode_bits(v1[:, 0, 0, c:]) if split.num_extra else None
    # The clean image of each drawn example: find it by matching the labels
    # is ambiguous, so redraw the same batch without augmentation instead.
    clean, _ = next(iter(pretrain_dataset(
        split, augment="none", batch_size=num_examples, seed=seed, shuffle=True
    )))
    clean = clean["view1"].numpy()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(num_examples, 3, figsize=(6.6, 2.3 * num_examples), squeeze=False)
    for i in range(num_examples):
        for ax, image, title in zip(axes[i], (clean[i], v1[i], v2[i]), ("example", "view 1", "view 2")):
            _show(ax, image[..., :c])
            if i == 0:
                ax.set_title(title, fontsize=9)
        axes[i, 0].set_ylabel(_describe(labels, ds.multi_label, i, bits), fontsize=7,
                              rotation=0, ha="right", va="center")
    config = ", ".join(f"{k}={v}" for k, v in ds.config.items() if k != "data_dir")
    config = "\n".join(textwrap.wrap(config, 70))
    fig.suptitle(f"{ds.name} (augment={augment})\n{config}", fontsize=8)
    fig.tight_layout()
    # Rendered in memory, then written atomically: a failed or interrupted
    # preview never leaves a half-written image behind.
    image = io.BytesIO()
    try:
        fig.savefig(image, format=os.path.splitext(str(out))[1][1:].lower() or None, dpi=80)
    finally:
        plt.close(fig)
    atomic.write_bytes(out, image.getvalue())
    return ds


def main(argv):
    from absl import flags

    del argv
    FLAGS = flags.FLAGS
    try:
        kwargs = json.loads(FLAGS.kwargs) if FLAGS.kwargs else {}
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: Expected --kwargs to be a JSON object; Received: --kwargs={FLAGS.kwargs} ({e})")
    if not isinstance(kwargs, dict):
        raise SystemExit(f"error: Expected --kwargs to be a JSON object; Received: --kwargs={FLAGS.kwargs}")
    try:
        render_preview(FLAGS.dataset, FLAGS.out, FLAGS.num_examples, FLAGS.augment,
                       FLAGS.seed, FLAGS.data_dir, **kwargs)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    from absl import app
    from absl import flags

    flags.DEFINE_string("dataset", "randbit", "A builder name (kcontrast.data.BUILDERS).")
    flags.DEFINE_string("out", "preview.png", "Output image file.")
    flags.DEFINE_string("augment", "companion", "Augmentation preset (companion, cifar, imagenet, none).")
    flags.DEFINE_integer("num_examples", 6, "Examples (rows) to draw.")
    flags.DEFINE_integer("seed", 0, "Seed of the order and the views.")
    flags.DEFINE_string("data_dir", None, "Data directory for the sources.")
    flags.DEFINE_string("kwargs", "", "Builder arguments as a JSON object, e.g. '{\"bits\": 5}'.")
    app.run(main)
