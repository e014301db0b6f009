"""Generalized contrastive loss: five losses against projection-head depth.

The paper's first finding (arXiv 2011.02803, "generalized contrastive
loss"): NT-Xent is one instance of alignment + lambda * distribution
matching, and other instances (a decoupled NT-Xent, sliced-Wasserstein
matching to a normal, hypersphere or hypercube prior) learn as well, provided
the projection head is deep: with a deep non-linear head the losses reach
similar linear-probe accuracy, with no head they differ.

Each point pretrains the companion small ConvNet on Fashion-MNIST with one
loss (``loss.name``) and one head depth (``model.head_depth``: 0 = no head,
z = h; 1 = a linear map; 2, 3 = Dense-BN-ReLU layers then a linear map, see
``kcontrast.models.projection_head``), then probes the frozen representation
h. ``results.json`` records, per depth, the spread of the linear probe across
the five losses (max - min per seed, mean ± sd over seeds) in its
``summary.spread`` section; ``python -m kcontrast.report`` prints it as the
table's last row.

Command:      python -m kcontrast.run --exp=generalized_loss
Quick smoke:  python -m kcontrast.run --exp=generalized_loss --quick   (< 90 s)
Restrict:     --loss=nt_xent (one loss), --sweep=model.head_depth=0,3, --seed=0
Runtime:      see experiments/results/generalized_loss/README.md.
Data:         Debian's dataset-fashion-mnist (``apt-get install
              dataset-fashion-mnist``): the first ``data.train_examples`` of
              the 60,000 training images for pretraining and probes, the
              whole 10,000-image test split for scoring. The ``randbit``
              builder with ``bits=0`` is the base source unchanged.

Each loss's constants (every point takes its loss's defaults,
``kcontrast.losses.params.loss_defaults``; the sweep switches the loss class):

- ``nt_xent``: temperature 0.2, the paper's setting for NT-Xent in its loss
  comparison (DESIGN.md, "The paper, in one screen"); SimCLR form (2n - 2
  negatives per row, both views), as in SimCLR (Chen et al. 2020).
- ``decoupled_nt_xent``: temperature 1.0, lambda 0.1, the paper's setting
  for the decoupled NT-Xent in the same comparison; scale 1:
  companion-style.
- ``swd_normal``, ``swd_hypersphere``, ``swd_hypercube``: lambda 5, the
  paper's setting for the sliced-Wasserstein instances; scale 1 and one
  random orthogonal projection per step (d x d): companion-style.

The remaining settings are CPU-sized, not the paper's (CIFAR-10 /
ImageNet with ResNets): companion small ConvNet (width 1, 128-d h), head
width 256 and output 64 (the companion head), companion crop augmentation,
Adam 2e-3 decayed linearly, batch 256, L-BFGS linear probe.
"""

import ml_collections

from kcontrast.config import builder_args, eval_section, loss_section

PRESETS = ("default",)
# The sources the default preset reads (`python -m kcontrast.run --list` marks
# the experiment when one is not on this machine).
DATA_SOURCES = ("fashion_mnist",)
ALIASES = {"dataset": "data.args.base"}

LOSSES = ("nt_xent", "decoupled_nt_xent", "swd_normal", "swd_hypersphere", "swd_hypercube")


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in ``PRESETS``."""
    c = ml_collections.ConfigDict()
    c.name = "generalized_loss"
    c.seed = 0
    c.data = ml_collections.ConfigDict({
        "builder": "randbit",
        "args": builder_args("randbit", base="fashion_mnist", bits=0),
        "data_dir": ml_collections.config_dict.placeholder(str),
        "train_examples": 4000,
        "test_examples": ml_collections.config_dict.placeholder(int),
        "augment": "companion",
        "augment_in": "pipeline",
    })
    c.model = ml_collections.ConfigDict({
        "precision": "float32", "encoder": "small_convnet", "width": 1, "head_depth": 2,
        "head_hidden_units": 256, "head_output_units": 64, "weight_decay": 1e-4,
    })
    # No constants here: each point takes its own loss's defaults (see the
    # module docstring), so the sweep over loss.name compares the losses as
    # the paper sets them.
    c.loss = loss_section("nt_xent")
    c.optim = ml_collections.ConfigDict({
        "optimizer": "adam", "learning_rate": 2e-3, "schedule": "linear",
        "epochs": 10, "batch_size": 256,
    })
    c.eval = eval_section(linear_optimizer="lbfgs")
    c.sweep = ("loss.name=" + ",".join(LOSSES), "model.head_depth=0,1,2,3",
               "seed=0,1,2")
    c.quick = {
        "set": ("optim.epochs=1", "data.train_examples=512", "data.test_examples=1000",
                "optim.batch_size=128"),
        "sweep": ("loss.name=nt_xent,swd_normal", "model.head_depth=0,2", "seed=0"),
    }
    c.figure = {
        "x": "head_depth", "lines": "name", "y": "linear/label",
        "ylabel": "linear-probe accuracy (Fashion-MNIST class)",
        "title": "Generalized contrastive losses against projection-head depth",
    }
    c.summary = {"spread": {"metric": "linear/label", "across": "name",
                            "by": "head_depth"}}
    return c
