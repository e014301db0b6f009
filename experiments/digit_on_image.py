"""DigitOnImage feature suppression: more unique digits, fewer object features.

The DigitOnImageNet result of arXiv 2011.02803's feature-suppression section
(its figure of object and digit accuracy against the number of unique
digits), at CPU scale: Fashion-MNIST objects instead of ImageNet, mnist5k
digits drawn over them. Two features are shared by both views of every
image, the object and the digit. With one unique digit the digit carries no
information and the encoder learns the object; with many, the digit alone
nearly solves instance discrimination and suppresses the object.

Command:      python -m kcontrast.run --exp=digit_on_image
Quick smoke:  python -m kcontrast.run --exp=digit_on_image --quick   (< 90 s)
Runtime:      see experiments/results/digit_on_image/README.md.
Data:         fashion_mnist (Debian's dataset-fashion-mnist, 4,000 train /
              1,000 test objects, a seeded subset) and mnist5k (4,000 train
              digits for the pool, its 1,000 test digits held out), no
              network.

Setup: 32 px canvases (Fashion-MNIST resized from 28 px), one 8 px digit
replicated on a 3x3 grid at 0.15 / 0.45 / 0.75 of the side and merged by
per-pixel max, as in the companion code; the digit re-drawn from the pool
for every object at every epoch (``data.args.redraw``, as the companion code
draws one at every load). The builder's ``geometry="companion"`` gives the
companion code's proportions instead (digit at 1/8 of the side: 4 px on
32 px, 8 px on 64 px). The held-out digit probe set is built from this
file's constants (``IMAGE_SIZE``, ``DIGIT_SIZE``, objects), not from
``data.args``: to change the canvas, the digit size, the geometry or the
objects, edit ``_canvases`` here so that both stay alike (a command-line
``--config.data.args.image_size`` would give the probe set images of another
size than the model takes).

Sweep: the pool size ``data.args.num_unique_digits`` in {1, 10, 100, 1000,
4000}; 4000 is every digit of mnist5k's train split ("all"), x NT-Xent
temperature {0.1, 0.5}; ``--sweep=data.args.num_unique_digits=1,4000
--temperature=0.1`` restricts it; seeds {0, 1, 2} (``--seed=0`` keeps one).

Probes (offline L-BFGS linear probe and kNN on the frozen representation h,
and the online probe):

- ``object``: the Fashion-MNIST class, on test canvases.
- ``digit_heldout``: the digit, probed on canvases whose training digits
  come from all 4,000 train digits and whose test digits are mnist5k's
  1,000 held-out test digits (``eval.probe_sets``). It measures digit
  features whatever the pool: with a pool of one digit, a probe trained on
  the pretraining canvases sees one class only.
- ``digit``: the pretraining set's own digit label (a probe trained on the
  pool's digits, tested on held-out digits); with few unique digits it has
  too few classes or examples to mean much, and is kept for the schema.
"""

import ml_collections

from kcontrast.config import builder_args, eval_section, loss_section

PRESETS = ("default",)
# The sources the default preset reads (`python -m kcontrast.run --list` marks
# the experiment when one is not on this machine).
DATA_SOURCES = ("fashion_mnist", "mnist5k")
ALIASES = {}

IMAGE_SIZE = 32
DIGIT_SIZE = 8
NUM_TRAIN = 4000
NUM_TEST = 1000
ALL_DIGITS = 4000  # mnist5k's train split


def _canvases(num_unique_digits, redraw):
    return {"objects": "fashion_mnist", "digits": "mnist5k",
            "num_unique_digits": num_unique_digits, "grid": 3,
            "image_size": IMAGE_SIZE, "digit_size": DIGIT_SIZE,
            "num_train": NUM_TRAIN, "num_test": NUM_TEST, "redraw": redraw}


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in ``PRESETS``."""
    c = ml_collections.ConfigDict()
    c.name = "digit_on_image"
    c.seed = 0
    c.data = ml_collections.ConfigDict({
        "builder": "digit_on_image",
        "args": builder_args("digit_on_image", **_canvases(100, True)),
        "data_dir": ml_collections.config_dict.placeholder(str),
        "train_examples": ml_collections.config_dict.placeholder(int),
        "augment": "companion",
        "augment_in": "pipeline",
    })
    c.model = ml_collections.ConfigDict({
        "precision": "float32", "encoder": "small_convnet", "width": 1, "head_depth": 2,
        "head_hidden_units": 256, "head_output_units": 64, "weight_decay": 1e-4,
    })
    c.loss = loss_section("nt_xent", temperature=0.1)
    c.optim = ml_collections.ConfigDict({
        "optimizer": "adam", "learning_rate": 2e-3, "schedule": "linear",
        "epochs": 10, "batch_size": 256,
    })
    c.eval = eval_section(linear_optimizer="lbfgs")
    c.eval.probe_sets = (
        {"builder": "digit_on_image", "args": _canvases(ALL_DIGITS, False),
         "labels": {"digit": "digit_heldout"}},
    )
    c.sweep = ("data.args.num_unique_digits=1,10,100,1000,4000",
               "loss.temperature=0.1,0.5", "seed=0,1,2")
    c.quick = {
        "set": ("optim.epochs=1", "data.train_examples=512",
                "eval.max_probe_examples=500"),
        "sweep": ("data.args.num_unique_digits=1,4000", "loss.temperature=0.1", "seed=0"),
    }
    c.figure = {
        "x": "num_unique_digits", "lines": "temperature", "xscale": "log",
        "y": ("linear/object", "linear/digit_heldout"),
        "ylabel": ("object linear probe (Fashion-MNIST class)",
                   "digit linear probe (held-out digits)"),
        "tradeoff": {"x": "linear/object", "y": "linear/digit_heldout",
                     "xlabel": "object linear probe", "ylabel": "digit linear probe"},
        "title": "DigitOnImage (Fashion-MNIST + mnist5k): feature suppression",
    }
    return c
