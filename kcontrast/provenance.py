"""Where a run ran: package versions, the git commit, the backend's device.

Recorded in every point's ``config.json`` and printed once at the start of a
run, so every number can be traced to the code and hardware that made it.
"""

import functools
import importlib.metadata
import os
import platform
import subprocess

_FRAMEWORK_PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit():
    """The checkout's commit (with ``-dirty`` when files differ), or None
    outside a git checkout (an installed wheel)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(
            ["git", "-C", here, "rev-parse", "HEAD"], capture_output=True,
            text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", here, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def versions(backend):
    """``{"kcontrast", "keras", backend framework, "numpy", "tensorflow",
    "git_commit"}``."""
    out = {name: _version(name) for name in ("kcontrast", "keras", "numpy", "tensorflow")}
    out[backend] = _version(_FRAMEWORK_PACKAGE.get(backend, backend))
    out["python"] = platform.python_version()
    out["git_commit"] = git_commit()
    return out


def device(backend):
    from kcontrast.quiet_imports import native_stderr_captured

    with native_stderr_captured():
        return _device(backend)


def _device(backend):
    """One phrase naming the device the backend computes on, e.g.
    ``"CPU (x86_64, 2 cores)"`` or ``"GPU: NVIDIA H200 x1"``."""
    cpu = f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    try:
        if backend == "jax":
            import jax
            devices = jax.devices()
            kind = devices[0].platform
            if kind == "cpu":
                return cpu if len(devices) == 1 else f"{cpu}, {len(devices)} XLA host devices"
            return f"{kind.upper()}: {devices[0].device_kind} x{len(devices)}"
        if backend == "torch":
            import torch
            if torch.cuda.is_available():
                return f"GPU: {torch.cuda.get_device_name(0)} x{torch.cuda.device_count()}"
            return cpu
        import tensorflow as tf
        gpus = tf.config.list_physical_devices("GPU")
        tpus = tf.config.list_physical_devices("TPU")
        if tpus:
            return f"TPU x{len(tpus)}"
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
            return f"GPU: {name} x{len(gpus)}"
    except Exception:  # a device query must never stop a run
        return cpu
    return cpu


def machine():
    return f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}"
