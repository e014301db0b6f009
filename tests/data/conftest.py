"""Fixtures shared by the data tests: a blank object source and a digit classifier."""

import numpy as np
import pytest

from kcontrast.data import Dataset
from kcontrast.data import Split
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.sources.mnist5k import load_mnist5k


def _make_source(name, train, test, num_classes=10):
    """A source Dataset from two image arrays; labels cycle through the classes."""
    return Dataset(
        name=name,
        config={},
        train=Split(train, {"label": (np.arange(len(train)) % num_classes).astype(np.int32)}),
        test=Split(test, {"label": (np.arange(len(test)) % num_classes).astype(np.int32)}),
        num_classes={"label": num_classes},
    )


@pytest.fixture(scope="session")
def make_source():
    """A factory `(name, train_images, test_images) -> source Dataset`."""
    return _make_source


@pytest.fixture(scope="session")
def blank_objects():
    return _make_source("blank", np.zeros((60, 28, 28, 1), np.float32), np.zeros((20, 28, 28, 1), np.float32))


@pytest.fixture(scope="session")
def digit_classifier():
    """1-NN on mnist5k's train digits: crop [N, s, s, 1] -> predicted class [N].

    Scored on held-out (mnist5k test) digits it is ~90% right, so a test can
    check that what is drawn on a canvas is the labelled digit without
    trusting the builder's bookkeeping.
    """
    from sklearn.neighbors import KNeighborsClassifier

    train = load_mnist5k().train
    knn = KNeighborsClassifier(n_neighbors=1).fit(
        train.images.reshape(len(train), -1), train.labels["label"]
    )

    def predict(crops):
        crops = resize_images(crops, 28)
        return knn.predict(crops.reshape(len(crops), -1))

    return predict
