"""Offline evaluation of frozen features: linear probe, weighted kNN, feature extraction.

>>> from kcontrast.evaluation import linear_probe, knn_classify
"""

from kcontrast.evaluation.knn import knn_classify
from kcontrast.evaluation.linear_probe import linear_probe

__all__ = ["knn_classify", "linear_probe"]
