import numpy as np
import pytest

from kcontrast.data import build_dataset
from kcontrast.data.builders.canvas import resize_images
from kcontrast.data.sources.mnist5k import load_mnist5k


def _overlap(a, b):
    return (a[0] < b[0] + b[2]) and (b[0] < a[0] + a[2]) and (a[1] < b[1] + b[3]) and (b[1] < a[1] + a[3])


@pytest.mark.parametrize("placement", ["random", "grid"])
def test_digits_inside_canvas_match_slots_and_do_not_overlap(placement, digit_classifier):
    ds = build_dataset("multi_digits", num_digits=3, canvas_size=64, digit_size_range=(18, 28),
                       placement=placement, num_train=100, num_test=150, seed=1)
    mnist = load_mnist5k()
    assert ds.input_shape == (64, 64, 1)
    assert ds.multi_label == {"presence"}
    assert ds.num_classes == {"digit_0": 10, "digit_1": 10, "digit_2": 10, "presence": 10}
    for split, source in ((ds.train, mnist.train), (ds.test, mnist.test)):
        boxes = split.info["boxes"]
        assert boxes.shape == (len(split), 3, 4)
        assert (boxes[..., :2] >= 0).all() and (boxes[..., :2] + boxes[..., 2:] <= 64).all()
        assert (boxes[..., 2] >= 18).all() and (boxes[..., 2] <= 28).all()
        for j in range(3):
            np.testing.assert_array_equal(split.labels[f"digit_{j}"], source.labels["label"][split.info["digit_index"][:, j]])
        used = split.info["digit_index"]
        resized = {int(z): resize_images(source.images[used.ravel()], int(z)).reshape(used.shape + (z, z, 1))
                   for z in np.unique(boxes[..., 2])}
        presence = split.labels["presence"]
        assert presence.dtype == np.float32 and presence.shape == (len(split), 10)
        for i in range(len(split)):
            assert set(np.flatnonzero(presence[i])) == {int(split.labels[f"digit_{j}"][i]) for j in range(3)}
            b = boxes[i]
            assert not any(_overlap(b[p], b[q]) for p in range(3) for q in range(p + 1, 3))
            for j in range(3):
                y, x, s, _ = b[j]
                np.testing.assert_allclose(split.images[i, y:y + s, x:x + s], resized[s][i, j], atol=1e-6)
        # Slots in reading order: cell rows never go back up.
        if placement == "grid":  # slot j sits centred in cell j
            centres = boxes[..., :2] + boxes[..., 2:] / 2
            assert np.abs(centres - centres[:1]).max() <= 1
        else:
            assert (boxes[:, 1:, 0] + boxes[:, 1:, 2] > boxes[:, :-1, 0]).all()
    # Pixels alone: held-out test digits are read as their slot labels.
    boxes = ds.test.info["boxes"][:, 0]
    correct = 0
    for z in np.unique(boxes[:, 2]):  # one batch per crop size
        rows = np.flatnonzero(boxes[:, 2] == z)
        crops = np.stack([ds.test.images[i, y:y + z, x:x + z] for i, (y, x) in zip(rows, boxes[rows, :2])])
        correct += (digit_classifier(crops) == ds.test.labels["digit_0"][rows]).sum()
    assert correct / len(ds.test) > 0.8


def test_overlap_allowed_and_determinism():
    kw = dict(num_digits=6, canvas_size=56, digit_size_range=(24, 28), allow_overlap=True,
              num_train=50, num_test=10, seed=2)
    a, b = build_dataset("multi_digits", **kw), build_dataset("multi_digits", **kw)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    np.testing.assert_array_equal(a.train.labels["digit_5"], b.train.labels["digit_5"])
    assert (a.train.info["boxes"][..., :2] + a.train.info["boxes"][..., 2:] <= 56).all()
    c = build_dataset("multi_digits", **{**kw, "seed": 3})
    assert (a.train.images != c.train.images).any()


def test_modified_multi_digits(digit_classifier):
    ds = build_dataset("modified_multi_digits", size_a=36, size_b=16, canvas_size=56,
                       num_train=200, num_test=200, seed=0)
    mnist = load_mnist5k()
    assert set(ds.train.labels) == {"digit_a", "digit_b"}
    assert ds.input_shape == (56, 56, 1)
    for split, source in ((ds.train, mnist.train), (ds.test, mnist.test)):
        boxes = split.info["boxes"]
        assert (boxes[:, 0, 2] == 36).all() and (boxes[:, 1, 2] == 16).all()
        assert (boxes[..., :2] >= 0).all() and (boxes[..., :2] + boxes[..., 2:] <= 56).all()
        for name, j in (("digit_a", 0), ("digit_b", 1)):
            np.testing.assert_array_equal(split.labels[name], source.labels["label"][split.info["digit_index"][:, j]])
        for i in range(len(split)):
            assert not _overlap(boxes[i, 0], boxes[i, 1])
            y, x, s, _ = boxes[i, 1]
            digit = resize_images(source.images[split.info["digit_index"][i, 1]][None], s)[0]
            np.testing.assert_allclose(split.images[i, y:y + s, x:x + s], digit, atol=1e-6)
    # B is placed all over the free space, not only in one corner.
    assert np.ptp(ds.train.info["boxes"][:, 1, 0]) > 20 and np.ptp(ds.train.info["boxes"][:, 1, 1]) > 20
    crops = np.stack([ds.test.images[i, y:y + 16, x:x + 16] for i, (y, x, _, _) in enumerate(ds.test.info["boxes"][:, 1])])
    assert (digit_classifier(crops) == ds.test.labels["digit_b"]).mean() > 0.7


def test_errors():
    with pytest.raises(ValueError, match=r"digit_size_range=\(20, 70\)"):
        build_dataset("multi_digits", canvas_size=64, digit_size_range=(20, 70))
    with pytest.raises(ValueError, match="num_digits=5"):
        build_dataset("multi_digits", num_digits=5, canvas_size=56, digit_size_range=(20, 28))
    with pytest.raises(ValueError, match="placement='spiral'"):
        build_dataset("multi_digits", placement="spiral")
    with pytest.raises(ValueError, match="size_a=70"):
        build_dataset("modified_multi_digits", size_a=70, size_b=10, canvas_size=64)
    with pytest.raises(ValueError, match="seed=-1"):
        build_dataset("multi_digits", seed=-1)
    with pytest.raises(ValueError, match="seed=-1"):
        build_dataset("modified_multi_digits", seed=-1)
    with pytest.raises(ValueError, match="size_a=40, size_b=30"):
        build_dataset("modified_multi_digits", size_a=40, size_b=30, canvas_size=64)


def _reference_masks(split, source, threshold=0.5):
    """Slow reference: per pixel, the slot whose own resized ink is highest
    above the threshold (lowest slot on ties), else 0."""
    boxes, ids = split.info["boxes"], split.info["digit_index"]
    masks = np.zeros(split.images.shape[:3], np.int64)
    for i in range(len(split)):
        best = np.full(split.images.shape[1:3], threshold)
        for j in range(boxes.shape[1]):
            y, x, s, _ = boxes[i, j]
            ink = resize_images(source.images[ids[i, j]][None], int(s))[0, ..., 0]
            for dy in range(s):
                for dx in range(s):
                    if ink[dy, dx] > best[y + dy, x + dx]:
                        best[y + dy, x + dx] = ink[dy, dx]
                        masks[i, y + dy, x + dx] = j + 1
    return masks


@pytest.mark.parametrize("allow_overlap", [False, True])
def test_masks_mark_each_digit_where_its_ink_is_drawn(allow_overlap):
    ds = build_dataset("multi_digits", num_digits=4, canvas_size=48, digit_size_range=(16, 24),
                       allow_overlap=allow_overlap, num_train=6, num_test=6, seed=5)
    mnist = load_mnist5k()
    for split, source in ((ds.train, mnist.train), (ds.test, mnist.test)):
        masks = split.info["masks"]
        assert masks.dtype == np.uint8 and masks.shape == (len(split), 48, 48)
        np.testing.assert_array_equal(masks, _reference_masks(split, source))
        # The canvas is the max of the inks on black: masked pixels are
        # exactly the canvas pixels above the threshold.
        np.testing.assert_array_equal(masks > 0, split.images[..., 0] > 0.5)
        assert set(np.unique(masks)) == set(range(5))


def test_modified_multi_digits_masks_hold_a_large_and_a_small_digit():
    ds = build_dataset("modified_multi_digits", size_a=36, size_b=16, canvas_size=56,
                       num_train=20, num_test=4, seed=0)
    masks = ds.train.info["masks"]
    assert masks.shape == (20, 56, 56) and set(np.unique(masks)) == {0, 1, 2}
    for i in range(20):
        for label, (y, x, s, _) in zip((1, 2), ds.train.info["boxes"][i]):
            inside = np.zeros((56, 56), bool)
            inside[y:y + s, x:x + s] = True
            assert not (masks[i][~inside] == label).any()
            assert (masks[i][inside] == label).any()
    # The large digit covers more pixels than the small one.
    assert ((masks == 1).sum((1, 2)) > (masks == 2).sum((1, 2))).all()
