import gzip

import numpy as np
import pytest

from kcontrast.data.sources.idx import read_idx


def _write_by_hand(path, array, type_byte, big_endian_dtype):
    # Independent of write_idx: the header spelled out from the format spec.
    header = bytes([0, 0, type_byte, array.ndim])
    for d in array.shape:
        header += int(d).to_bytes(4, "big")
    data = header + array.astype(big_endian_dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_reads_hand_written_uint8_images_and_labels(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    _write_by_hand(tmp_path / f"img{suffix}", images, 0x08, "u1")
    _write_by_hand(tmp_path / f"lab{suffix}", labels, 0x08, "u1")
    np.testing.assert_array_equal(read_idx(tmp_path / f"img{suffix}"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / f"lab{suffix}"), labels)


def test_reads_big_endian_int32_and_float32(tmp_path):
    a = np.array([[1, -2, 70000]], np.int32)
    f = np.array([0.5, -1.25], np.float32)
    _write_by_hand(tmp_path / "a", a, 0x0C, ">i4")
    _write_by_hand(tmp_path / "f", f, 0x0D, ">f4")
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), f)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "float64"])
def test_write_read_round_trip(tmp_path, dtype, write_idx):
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    write_idx(tmp_path / "x.gz", array)
    out = read_idx(tmp_path / "x.gz")
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, array)


def test_rejects_non_idx_and_truncated_files(tmp_path, write_idx):
    (tmp_path / "bad").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="bad"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "short", np.zeros((3, 2), np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="short"):
        read_idx(tmp_path / "short")
