"""Fixtures of the source tests: an IDX writer for small fixture files."""

import gzip

import numpy as np
import pytest

# IDX type bytes of the dtypes the tests write (the format's magic numbers).
_CODES = {
    np.dtype("u1"): (0x08, "u1"),
    np.dtype("i1"): (0x09, "i1"),
    np.dtype("i2"): (0x0B, ">i2"),
    np.dtype("i4"): (0x0C, ">i4"),
    np.dtype("f4"): (0x0D, ">f4"),
    np.dtype("f8"): (0x0E, ">f8"),
}


def _write_idx(path, array):
    """Writes `array` as an IDX file (gzip-compressed if `path` ends in .gz)."""
    array = np.asarray(array)
    code, big_endian = _CODES[array.dtype.newbyteorder("=")]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(str(path), "wb") as f:
        f.write(header + array.astype(big_endian).tobytes())


@pytest.fixture(scope="session")
def write_idx():
    """`write_idx(path, array)`: the inverse of `read_idx`, for test fixtures."""
    return _write_idx
