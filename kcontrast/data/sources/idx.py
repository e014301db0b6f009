"""A reader for the IDX format of (Fashion-)MNIST, plain or gzip-compressed.

IDX layout: two zero bytes, a type byte (0x08 = uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), a byte with the number of dimensions
n, then n big-endian uint32 sizes, then the data in row-major big-endian order.

>>> read_idx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz").shape  # doctest: +SKIP
(10000,)
"""

import gzip

import numpy as np

_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Reads one IDX file (gzip-compressed if its name ends in .gz).

    Args:
        path: file path.

    Returns:
        numpy array with the file's shape, native byte order.
    """
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise ValueError(
            "Expected an IDX file (magic bytes 0x00 0x00 <type> <ndim>); "
            f"Received: path={path}"
        )
    dtype = _DTYPES[data[2]]
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, offset=4))
    count = int(np.prod(shape)) if shape else 1
    if len(data) - header != count * dtype.itemsize:
        raise ValueError(
            f"Expected {count * dtype.itemsize} data bytes for shape {shape}; "
            f"Received: {len(data) - header} bytes in path={path}"
        )
    array = np.frombuffer(data, dtype, count, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))

