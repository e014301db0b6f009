"""RandBit ablations: what the model reads instead of the digit, and what does not help.

Ablations of the RandBit result of arXiv 2011.02803's feature-suppression
section (its appendix varies batch size, network width and the loss). Same
data and model as ``--exp=randbit`` (``experiments/randbit.py``'s default
preset: mnist5k, companion small ConvNet, batch 256, Adam 2e-3, 20 epochs),
with one more probe: the **bits read back**. The bits are also given as a
multi-hot label ``bits`` (``data.args.bit_labels``), so a linear probe on the
representation h predicts every bit (one sigmoid each); ``linear/bits`` is
the mean over bits of each bit's test accuracy (0.5 is chance), next to the
digit's ``linear/label``. Where the digit is lost, the bits should be read
back almost perfectly: the encoder learned the bits instead.

Command:      python -m kcontrast.run --exp=randbit_ablations [--preset=NAME]
Quick smoke:  python -m kcontrast.run --exp=randbit_ablations --quick   (< 90 s)
Runtime:      see experiments/results/randbit_ablations/README.md.
Data:         mnist5k (4,000 train / 1,000 test digits), no network.

Presets (each sweeps bits; ``--bits=...``, ``--seed=0,1,2`` change it):

- ``default``: bits read back; bits {0, 5, 10, 15, 20} x seeds {0, 1, 2},
  NT-Xent t=0.2.
- ``batch``: batch size {128, 256, 1000} x bits {0, 10, 20}, one seed. The
  epochs stay at 20 (620, 300 and 80 steps: the same passes over the data
  and about the same compute).
- ``width``: encoder width {1, 2, 4} x bits {0, 10, 20}, one seed (width
  multiplies every conv's filters, the encoder's Dense and the head's hidden
  layer).
- ``loss``: loss {nt_xent (t=0.2), decoupled_nt_xent (t=1.0, lambda=0.1),
  swd_normal (lambda=5)} x bits {0, 10, 20}, one seed; each loss with the
  paper's constants (``kcontrast.losses.DEFAULTS``). The companion
  notebook's NT-Xent form is ``--exp=randbit --preset=companion``.
"""

import ml_collections

from kcontrast.config import builder_args, eval_section, loss_section

PRESETS = ("default", "batch", "width", "loss")
ALIASES = {"bits": "data.args.bits", "dataset": "data.args.base"}

ABLATION_BITS = "data.args.bits=0,10,20"


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in ``PRESETS``."""
    c = ml_collections.ConfigDict()
    c.name = "randbit_ablations"
    c.seed = 0
    c.data = ml_collections.ConfigDict({
        "builder": "randbit",
        "args": builder_args("randbit", base="mnist5k", bits=0, bit_labels=True),
        "data_dir": ml_collections.config_dict.placeholder(str),
        "train_examples": ml_collections.config_dict.placeholder(int),
        "augment": "companion",
        "augment_in": "pipeline",
    })
    c.model = ml_collections.ConfigDict({
        "precision": "float32", "encoder": "small_convnet", "width": 1, "head_depth": 2,
        "head_hidden_units": 256, "head_output_units": 64, "weight_decay": 1e-4,
    })
    c.loss = loss_section("nt_xent", temperature=0.2)
    c.optim = ml_collections.ConfigDict({
        "optimizer": "adam", "learning_rate": 2e-3, "schedule": "linear",
        "epochs": 20, "batch_size": 256,
    })
    c.eval = eval_section(linear_optimizer="lbfgs")
    c.sweep = ("data.args.bits=0,5,10,15,20", "seed=0,1,2")
    c.quick = {
        "set": ("optim.epochs=1", "data.train_examples=512", "optim.batch_size=128"),
        "sweep": ("data.args.bits=0,12", "seed=0"),
    }
    c.figure = {
        "x": "bits", "y": ("linear/label", "linear/bits"),
        "ylabel": ("digit linear probe (accuracy)", "bits read back (mean bit accuracy)"),
        "title": "RandBit on mnist5k: the digit against the bits read back",
    }
    if preset == "batch":
        c.sweep = ("optim.batch_size=128,256,1000", ABLATION_BITS)
        c.quick = {"set": ("optim.epochs=1", "data.train_examples=512"),
                   "sweep": ("optim.batch_size=64,128", "data.args.bits=12")}
        c.figure.update(lines="batch_size",
                        title="RandBit ablation: batch size")
    elif preset == "width":
        c.sweep = ("model.width=1,2,4", ABLATION_BITS)
        c.quick = {"set": ("optim.epochs=1", "data.train_examples=512", "optim.batch_size=128"),
                   "sweep": ("model.width=1,2", "data.args.bits=12")}
        c.figure.update(lines="width", title="RandBit ablation: encoder width")
    elif preset == "loss":
        # Each loss takes its paper constants (temperature None -> default).
        c.loss = loss_section("nt_xent")
        c.sweep = ("loss.name=nt_xent,decoupled_nt_xent,swd_normal", ABLATION_BITS)
        c.quick = {"set": ("optim.epochs=1", "data.train_examples=512", "optim.batch_size=128"),
                   "sweep": ("loss.name=nt_xent,swd_normal", "data.args.bits=12")}
        c.figure.update(lines="name", title="RandBit ablation: loss")
    return c
