"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each writer puts the data in a temporary file in the target's own directory
(so the rename never crosses a file system), flushes it to disk, sets mode
0o644 and renames it over the target with `os.replace`. On any failure,
Ctrl-C included, the temporary file is removed and the target is untouched.
The target's directory must exist.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "record.json")
>>> write_json(path, {"accuracy": 0.9})
>>> open(path).read()
'{\\n  "accuracy": 0.9\\n}\\n'
"""

import json
import os
import tempfile

MODE = 0o644


def write_bytes(path, data):
    """Writes `data` (bytes) to `path` atomically."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, MODE)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text(path, text, encoding="utf-8"):
    """Writes the string `text` to `path` atomically."""
    write_bytes(path, text.encode(encoding))


def write_json(path, obj, indent=2, sort_keys=True, default=None):
    """Writes `obj` as JSON (plus a final newline) to `path` atomically.

    `indent`, `sort_keys` and `default` go to `json.dumps`; `default=str`
    writes objects JSON does not know as their string. An object that cannot
    be serialized raises before anything is written.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=default)
    write_text(path, text + "\n")
