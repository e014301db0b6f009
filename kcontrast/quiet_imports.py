"""Importing the frameworks in a safe order, and without native start-up noise.

**Order.** TensorFlow and PyTorch's compiler, Triton, each carry their own
copy of LLVM. TensorFlow's wheels since 2.20 load its core library with
``RTLD_GLOBAL`` (they ship ``tensorflow/python/pywrap_dlopen_global_flags.py``),
which puts TensorFlow's LLVM symbols in the process's global table; when
Triton's ``libtriton.so`` is loaded after that, its LLVM calls bind to
TensorFlow's copy, a different version, and the process dies with a
segmentation fault (exit 139): tensorflow/tensorflow#124205, fixed by
tensorflow/tensorflow#124230 (wheels without that file). Loaded the other way
round, both work. ``import keras`` under the torch backend imports torch and,
when it is installed (any CUDA build of torch), Triton. So whenever the Keras
backend is torch, kcontrast imports torch and Triton *before* TensorFlow:
``import_torch_first`` runs when ``kcontrast`` is imported, in
``import_tensorflow_quietly`` (every CLI) and in the tests' ``conftest.py``.
When TensorFlow is already loaded that way, nothing can take its symbols back
out of the global table, so ``import_torch_first`` raises
``ImportOrderError`` (one clear message) instead of letting Triton crash the
process (``check_import_order``).

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

BACKENDS = ("tensorflow", "jax", "torch")
UPSTREAM_ISSUE = "https://github.com/tensorflow/tensorflow/issues/124205"
# Imported by TensorFlow's pywrap_tensorflow when the wheel loads its core
# library with RTLD_GLOBAL (wheels 2.20 and later, until tensorflow#124230).
_GLOBAL_FLAGS_MODULE = "tensorflow.python.pywrap_dlopen_global_flags"


class ImportOrderError(ImportError):
    """TensorFlow was imported before Triton under the torch backend:
    loading Triton now would crash the process (see the module docstring)."""


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


def tensorflow_symbols_global(modules=None):
    """Whether TensorFlow is imported with its symbols global (``RTLD_GLOBAL``).

    Args:
        modules: the module table to read; default ``sys.modules``.

    Returns:
        bool: True once ``import tensorflow`` ran from a wheel that ships
        ``pywrap_dlopen_global_flags`` (TensorFlow 2.20 and later until the
        upstream fix); False before it, or with a wheel that loads locally.
    """
    modules = sys.modules if modules is None else modules
    return "tensorflow" in modules and _GLOBAL_FLAGS_MODULE in modules


def check_import_order(backend=None, triton_installed=None):
    """Raises ``ImportOrderError`` when loading Triton now would crash.

    That is: the backend is torch (Keras will import torch, and torch
    Triton), Triton is installed and not yet imported, and TensorFlow is
    already imported with its symbols global (``tensorflow_symbols_global``).

    Args:
        backend: the Keras backend; default ``configured_backend()``.
        triton_installed: whether Triton can be imported; default: looked up
            (``importlib.util.find_spec``), without importing it.

    Raises:
        ImportOrderError: the message says which order is safe.
    """
    backend = backend or configured_backend()
    if backend != "torch" or "triton" in sys.modules or not tensorflow_symbols_global():
        return
    if triton_installed is None:
        triton_installed = _installed("triton")
    if triton_installed:
        raise ImportOrderError(
            "Expected torch and Triton imported before TensorFlow under the torch "
            "backend; Received: tensorflow imported first, with Triton installed "
            "(torch's CUDA build), so loading Triton would crash the process "
            f"(segmentation fault, {UPSTREAM_ISSUE}). Import kcontrast (or torch "
            "and triton) before tensorflow, install the CPU build of torch, or use "
            "another backend.")


def import_torch_first(backend=None):
    """Imports torch, and Triton when installed, if the backend is torch.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` first when unset and torch is not yet
    imported (see the module docstring, "Threads").

    Call it before TensorFlow is imported (see the module docstring: Triton
    loaded after TensorFlow crashes the process). A no-op for the other
    backends, when torch is not installed, or when it already ran.

    Raises:
        ImportOrderError: TensorFlow came first and Triton would crash
            (``check_import_order``).

    Args:
        backend: the Keras backend; default `configured_backend()`.

    Returns:
        bool: whether torch is imported for the torch backend.
    """
    backend = backend or configured_backend()
    if backend != "torch" or not _installed("torch"):
        return False
    check_import_order(backend)
    triton = _installed("triton") and "triton" not in sys.modules
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
