"""tests/run_backends.sh's modes select what they say: quick (the default:
fast tests on the main backend, the `matrix` tests on the two others) and
rest together are full, and share only the `packaged_data` tests; a filter
that matches nothing anywhere fails, a bad mode is exit 2."""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A few files that hold every kind of test: backend, matrix, slow, packaged_data.
FILES = ["tests/losses/test_nt_xent.py", "tests/data/sources/test_fashion_mnist.py",
         "tests/test_exp_generalized_loss.py"]


def _script(mode, *args, backend="tensorflow"):
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, KCONTRAST_TESTS=mode, KERAS_BACKEND=backend,
               PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(["bash", "tests/run_backends.sh", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def _selected(mode, backend="tensorflow"):
    """{(stage backend, test id)} that ``mode`` collects on FILES."""
    done = _script(mode, "--collect-only", *FILES, backend=backend)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    chosen, stage = set(), None
    for line in done.stdout.splitlines():
        match = re.match(r"=== KERAS_BACKEND=(\w+) ", line)
        if match:
            stage = match.group(1)
        elif "::" in line and stage:
            chosen.add((stage, line.strip()))
    return chosen


@pytest.mark.slow
def test_quick_and_rest_partition_full(main="tensorflow"):
    quick, rest, full = (_selected(m, main) for m in ("quick", "rest", "full"))
    shared = quick & rest
    assert shared and all("test_real_fashion_mnist_files" in t for _, t in shared), shared
    assert quick | rest == full
    stages = lambda tests: {b for b, _ in tests}
    assert stages(quick) == {"tensorflow", "jax", "torch"}
    # The other backends run only matrix tests in quick: a handful.
    slow = {t for b, t in full if "test_quick_run" in t}
    assert not (slow & {t for _, t in quick})
    others = [t for b, t in quick if b != main]
    assert others and all("test_nt_xent" in t for t in others)


@pytest.mark.slow
def test_nothing_collected_anywhere_fails_and_a_bad_mode_is_exit_2():
    done = _script("quick", "-k", "no_such_test_name", *FILES)
    assert done.returncode == 1 and "no stage collected any test" in done.stdout
    bad = _script("sometimes")
    assert bad.returncode == 2 and "KCONTRAST_TESTS" in bad.stderr
