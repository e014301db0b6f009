"""Importing TensorFlow and Keras without TensorFlow's native start-up noise.

TensorFlow's C++ runtime writes lines such as "oneDNN custom operations are
on" and "Could not find cuda drivers" straight to file descriptor 2 before
its logging is configured, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. The CLIs
promise one clear line on a bad command line, so they import the heavy
packages through ``import_frameworks``, which sends descriptor 2 to a
temporary file for the duration and replays it only if the import fails.
"""

import contextlib
import os
import sys
import tempfile


@contextlib.contextmanager
def native_stderr_captured():
    """Redirects fd 2 to a temporary file; replays it if the block raises."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly():
    """Imports TensorFlow (and probes its devices) quietly; returns it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_captured():
        import tensorflow as tf
        tf.config.list_physical_devices()  # the device probe logs too
    return tf


def import_frameworks():
    """Imports TensorFlow (for tf.data) and Keras quietly; returns keras."""
    import_tensorflow_quietly()
    with native_stderr_captured():
        import keras
    return keras
