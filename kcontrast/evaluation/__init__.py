"""Offline evaluation of frozen features: linear probe, weighted kNN, feature extraction.

- `linear_probe(train_x, train_y, test_x, test_y, num_classes, multi_label=None, seed=0)`:
  standardized features, full-batch L-BFGS (keras.ops; or `optimizer="adam"`
  through `model.fit`), early stopping on a held-out 10% of the training split.
- `knn_classify(train_x, train_y, test_x, test_y, num_classes, k=20, temperature=0.07)`
- `evaluate_labels(...)`: both, for every label of a dataset.
- `extract_features(model, dataset, names=None) -> (features, labels)`.

Labels are int `[N]` class ids, or multi-hot `[N, K]` presence labels
(`multi_label=True`, inferred from the rank when None) for which per-class
and mean accuracy are reported.

>>> from kcontrast.evaluation import linear_probe, knn_classify
"""

from kcontrast.evaluation.features import extract_features
from kcontrast.evaluation.knn import knn_classify
from kcontrast.evaluation.linear_probe import linear_probe
from kcontrast.evaluation.per_label import evaluate_labels

__all__ = ["evaluate_labels", "extract_features", "knn_classify", "linear_probe"]
