"""Importing the frameworks in a safe order, and without native start-up noise.

**Order.** TensorFlow and PyTorch's compiler, Triton, each carry their own
copy of LLVM. ``libtensorflow_framework.so`` exports its LLVM symbols
globally, so when TensorFlow is loaded first, the static constructors of
Triton's ``libtriton.so`` (registering LLVM's command-line options and debug
counters) bind to TensorFlow's LLVM, a different version, and the process
dies with a segmentation fault (exit 139). Loaded the other way round,
Triton's symbols stay local and both work. ``import keras`` under the torch
backend imports torch and, when it is installed (any CUDA build of torch),
Triton. So whenever the Keras backend is torch, kcontrast imports torch and
Triton *before* TensorFlow: ``import_torch_first`` runs when ``kcontrast``
is imported, in ``import_tensorflow_quietly`` (every CLI) and in the tests'
``conftest.py``.

>>> import os
>>> os.environ["KERAS_BACKEND"] = "torch"  # doctest: +SKIP
>>> import kcontrast          # imports torch (and triton) first  # doctest: +SKIP
>>> import tensorflow         # now safe  # doctest: +SKIP

**Threads.** PyTorch's CPU kernels run on OpenMP (libgomp), whose idle
threads busy-wait ("spin") by default. Under kcontrast they share the cores
with tf.data's threads (every pipeline is tf.data) and, on a shared machine,
with other jobs, so the spinning steals the cores that the work is waiting
for: on a 2-core CPU a small ConvNet's training step took 5-7x the CPU time
it takes with passive waiting (``bench/throughput.py``). So
``import_torch_first`` sets ``OMP_WAIT_POLICY=PASSIVE`` before it imports
torch, unless the variable is already set (libgomp reads it once, when it
is loaded; set it yourself, e.g. to ``ACTIVE``, to override).

**Noise.** TensorFlow's C++ runtime writes lines such as "oneDNN custom operations are
on" and "Could not find cuda drivers" straight to file descriptor 2 before
its logging is configured, whatever ``TF_CPP_MIN_LOG_LEVEL`` says. The CLIs
promise one clear line on a bad command line, so they import the heavy
packages through ``import_frameworks``, which sends descriptor 2 to a
temporary file for the duration and replays it only if the import fails.
"""

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import warnings

BACKENDS = ("tensorflow", "jax", "torch")


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


def configured_backend():
    """The Keras backend `import keras` will choose, found without importing it.

    `$KERAS_BACKEND` when set, else the `"backend"` of Keras' config file
    (`$KERAS_HOME/keras.json`, default `~/.keras/keras.json`), else
    `"tensorflow"`. Once Keras is imported, its actual backend.

    Returns:
        str: the backend name, e.g. `"torch"`.
    """
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "backend"):
        return sys.modules["keras"].backend.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            backend = json.load(f).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def _installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_torch_first(backend=None):
    """Imports torch, and Triton when installed, if the backend is torch.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` first when unset and torch is not yet
    imported (see the module docstring, "Threads").

    Call it before TensorFlow is imported (see the module docstring: Triton
    loaded after TensorFlow crashes the process). A no-op for the other
    backends, when torch is not installed, or when it already ran.

    Args:
        backend: the Keras backend; default `configured_backend()`.

    Returns:
        bool: whether torch is imported for the torch backend.
    """
    backend = backend or configured_backend()
    if backend != "torch" or not _installed("torch"):
        return False
    triton = _installed("triton") and "triton" not in sys.modules
    if triton and "tensorflow" in sys.modules:
        # Too late: loading Triton now would crash right here.
        warnings.warn(
            "TensorFlow was imported before Triton under the torch backend; "
            "loading Triton (torch's compiler, imported by Keras) may now crash "
            "the process. Import kcontrast, or torch and triton, before tensorflow.",
            RuntimeWarning, stacklevel=2)
        triton = False
    if "torch" not in sys.modules:  # libgomp reads it once, when loaded
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch  # noqa: F401

    if triton:
        try:
            import triton  # noqa: F401
        except Exception:  # a broken Triton: torch itself then runs without it
            pass
    return True


def import_tensorflow_quietly():
    """Imports TensorFlow (and probes its devices) quietly; returns it.

    Under the torch backend, torch and Triton are imported first
    (`import_torch_first`).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import_torch_first()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_captured():
        import tensorflow as tf
        tf.config.list_physical_devices()  # the device probe logs too
    return tf


def import_frameworks():
    """Imports TensorFlow (for tf.data) and Keras quietly; returns keras.

    Under the torch backend, torch and Triton come first (`import_torch_first`).
    """
    import_tensorflow_quietly()
    with native_stderr_captured():
        import keras
    return keras
