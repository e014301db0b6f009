"""Offline linear evaluation: logistic regression on frozen features.

The standard self-supervised protocol: features are frozen, standardized with
training-split statistics, and a linear classifier is trained on them.

    z = (x - mean_train) / std_train                      [N, D]
    logits = z W + b                                      W: [D, C], b: [C]
    single-label: loss = mean_i CE(softmax(logits_i), y_i)      (multinomial)
    multi-label:  loss = mean_ic BCE(sigmoid(logits_ic), y_ic)  (one per class)

Training (all Keras, any backend):

- optimizer: Adam (learning rate 1e-2 by default, constant), zero-initialized
  weights, mini-batches of `batch_size` rows drawn without replacement from a
  permutation seeded by `seed` (each pass reshuffles);
- a held-out `validation_fraction` of the training split (random, seeded) is
  not trained on; after every "epoch" of `steps_per_epoch` steps (by default
  one pass, but at least 10 steps) its loss is computed, and
  `keras.callbacks.EarlyStopping` stops after `patience` epochs without a
  loss lower than the best by `min_delta` and restores the weights of the
  best epoch;
- test accuracy is top-1 (single-label) or, for multi-label presence labels,
  the accuracy of each class's present/absent decision (logit > 0) and its
  mean over classes.

Memory: the training features are standardized into one float32 copy; batches
and the test features are processed in blocks, so 60,000 x 512 runs easily.
"""

import math

import keras
import numpy as np

from kcontrast.evaluation.checks import check_pair, check_positive_int
from kcontrast.evaluation.standardize import Standardizer

_PREDICT_ROWS = 8192


class _Batches(keras.utils.PyDataset):
    """Mini-batches over `rows`, reshuffled at each pass (seeded).

    Batch `i` of epoch `e` is global batch `g = e * len(self) + i`: pass
    `g // per_pass` uses the permutation drawn from `(seed, pass)`, so the
    order is a pure function of the seed, whatever order Keras asks in.
    """

    def __init__(self, features, labels, rows, batch_size, steps_per_epoch, seed):
        super().__init__()
        self.features, self.labels, self.rows = features, labels, rows
        self.batch_size, self.steps, self.seed = batch_size, steps_per_epoch, seed
        self.per_pass = math.ceil(rows.shape[0] / batch_size)
        self.epoch = 0
        self._pass, self._order = None, None

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        step = self.epoch * self.steps + index
        pass_index, position = divmod(step, self.per_pass)
        if pass_index != self._pass:
            rng = np.random.default_rng([self.seed, pass_index])
            self._pass, self._order = pass_index, rng.permutation(self.rows)
        start = position * self.batch_size
        # Sorted indices make the gather cache-friendly; order within a
        # batch does not matter.
        batch = np.sort(self._order[start:start + self.batch_size])
        return self.features[batch], self.labels[batch]

    def on_epoch_end(self):
        self.epoch += 1


def _logits(weights, bias, features, standardizer=None):
    """Block-wise `z W + b` in numpy; `features` standardized on the fly."""
    out = np.empty((features.shape[0], weights.shape[1]), np.float32)
    for start in range(0, features.shape[0], _PREDICT_ROWS):
        block = features[start:start + _PREDICT_ROWS]
        if standardizer is not None:
            block = standardizer(block)
        out[start:start + _PREDICT_ROWS] = block @ weights + bias
    return out


def _loss_and_accuracy(logits, labels, multi_label):
    """Mean loss, mean accuracy and per-class accuracy (multi-label) in numpy."""
    logits = logits.astype(np.float64)
    if multi_label:
        # BCE with logits: max(l, 0) - l y + log(1 + exp(-|l|)).
        loss = np.maximum(logits, 0) - logits * labels + np.log1p(np.exp(-np.abs(logits)))
        per_class = ((logits > 0) == (labels > 0.5)).mean(0)
        return float(loss.mean()), float(per_class.mean()), per_class
    shifted = logits - logits.max(1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(1))
    loss = log_z - shifted[np.arange(labels.shape[0]), labels]
    accuracy = float((logits.argmax(1) == labels).mean())
    return float(loss.mean()), accuracy, None


class _HeldOutLoss(keras.callbacks.Callback):
    """Puts `val_loss` / `val_accuracy` of the held-out rows into the epoch logs.

    Computed in numpy from the current weights: cheaper than a Keras
    `evaluate` pass per epoch and identical on every backend. Must run before
    `EarlyStopping` in the callback list.
    """

    def __init__(self, features, labels, multi_label):
        super().__init__()
        self.features, self.labels, self.multi_label = features, labels, multi_label

    def on_epoch_end(self, epoch, logs=None):
        weights, bias = self.model.layers[-1].get_weights()
        loss, accuracy, _ = _loss_and_accuracy(
            _logits(weights, bias, self.features), self.labels, self.multi_label)
        if logs is not None:
            logs["val_loss"] = loss
            logs["val_accuracy"] = accuracy


def linear_probe(train_features, train_labels, test_features, test_labels,
                 num_classes=None, *, multi_label=None, seed=0,
                 validation_fraction=0.1, learning_rate=1e-2, batch_size=1024,
                 steps_per_epoch=None, max_epochs=200, patience=10, min_delta=1e-3,
                 verbose=0):
    """Trains a linear classifier on frozen features; returns test accuracy.

    Args:
        train_features, test_features: float `[N, D]` / `[M, D]` arrays.
        train_labels, test_labels: int `[N]` / `[M]` class ids, or multi-hot
            `[N, K]` / `[M, K]` presence labels.
        num_classes: classes (single-label; inferred from the training
            labels if None) or `K` (multi-label; checked against the width).
        multi_label: True for multi-hot presence labels (sigmoid per class),
            False for class ids (softmax); None infers it from the label rank.
        seed: seeds the held-out split and the batch order (weights start
            at zero), so a call is deterministic on a given backend.
        validation_fraction: share of training rows held out for early
            stopping (at least one row each side).
        learning_rate: Adam's (constant) learning rate.
        batch_size: rows per step (capped at the number of training rows).
        steps_per_epoch: steps between two held-out evaluations; default one
            pass over the training rows, but at least 20 steps.
        max_epochs: upper bound on epochs.
        patience: epochs without a lower held-out loss before stopping.
        min_delta: a held-out loss counts as lower only if it improves on
            the best by more than this (so near-separable data, whose loss
            creeps down forever, still stops).
        verbose: `fit` verbosity.

    Returns:
        dict: `accuracy` (top-1, or mean per-class accuracy for multi-label),
        `per_class_accuracy` (multi-label only, list of K floats),
        `val_loss` / `val_accuracy` of the restored weights, `best_epoch`,
        `epochs`, `steps`, `num_train`, `num_val`, `num_test`.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 8)).astype("float32")
    >>> y = (x[:, 0] > 0).astype("int64")
    >>> linear_probe(x[:300], y[:300], x[300:], y[300:])["accuracy"] > 0.9
    True
    """
    (train_features, train_labels, test_features, test_labels,
     multi_label, num_classes) = check_pair(
        train_features, train_labels, test_features, test_labels,
        num_classes, multi_label)
    if not 0.0 < float(validation_fraction) < 1.0:
        raise ValueError(
            "Expected 0 < validation_fraction < 1; "
            f"Received: validation_fraction={validation_fraction!r}")
    batch_size = check_positive_int(batch_size, "batch_size")
    max_epochs = check_positive_int(max_epochs, "max_epochs")
    patience = check_positive_int(patience, "patience")
    n = train_features.shape[0]
    num_val = int(round(n * float(validation_fraction)))
    if num_val < 1 or num_val > n - 1:
        raise ValueError(
            "Expected at least one training and one held-out row; Received: "
            f"{n} training rows with validation_fraction={validation_fraction}")

    standardizer = Standardizer(train_features)
    features = standardizer(train_features)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    val_rows, fit_rows = np.sort(order[:num_val]), np.sort(order[num_val:])
    batch_size = min(batch_size, fit_rows.shape[0])
    if steps_per_epoch is None:
        steps_per_epoch = max(math.ceil(fit_rows.shape[0] / batch_size), 10)
    steps_per_epoch = check_positive_int(steps_per_epoch, "steps_per_epoch")

    dim = features.shape[1]
    outputs = num_classes
    model = keras.Sequential([
        keras.Input((dim,)),
        keras.layers.Dense(outputs, kernel_initializer="zeros",
                           bias_initializer="zeros", name="linear"),
    ], name="linear_probe")
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)

    held_out = _HeldOutLoss(features[val_rows], train_labels[val_rows], multi_label)
    stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=patience, min_delta=float(min_delta),
        restore_best_weights=True)
    history = model.fit(
        _Batches(features, train_labels, fit_rows, batch_size, steps_per_epoch, seed),
        epochs=max_epochs,
        callbacks=[held_out, stopping], shuffle=False, verbose=verbose)
    del features

    weights, bias = model.layers[-1].get_weights()
    val_losses = history.history["val_loss"]
    best_epoch = int(np.argmin(val_losses))
    test_logits = _logits(weights, bias, test_features, standardizer)
    _, accuracy, per_class = _loss_and_accuracy(test_logits, test_labels, multi_label)
    result = {
        "accuracy": accuracy,
        "val_loss": float(val_losses[best_epoch]),
        "val_accuracy": float(history.history["val_accuracy"][best_epoch]),
        "best_epoch": best_epoch,
        "epochs": len(val_losses),
        "steps": len(val_losses) * steps_per_epoch,
        "num_train": int(fit_rows.shape[0]),
        "num_val": int(num_val),
        "num_test": int(test_features.shape[0]),
    }
    if multi_label:
        result["per_class_accuracy"] = [float(a) for a in per_class]
    return result
