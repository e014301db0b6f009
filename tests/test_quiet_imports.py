"""Import order under the torch backend: torch (and Triton, when installed)
before TensorFlow, on every entry point, in user code and in this test suite.

Triton loaded after TensorFlow segfaults (two copies of LLVM; see
kcontrast.quiet_imports). Where Triton is not installed (the CPU wheel of
torch), the tests still check the order, so a regression shows on any machine.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from kcontrast import quiet_imports

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_TRITON = importlib.util.find_spec("triton") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")

# Runs a module as `python -m` would, recording the top-level packages in the
# order their import starts, and writes them to ORDER_FILE at exit.
RECORDER = textwrap.dedent("""
    import atexit, json, os, runpy, sys
    order = []
    def hook(event, args):
        if event == "import":
            top = args[0].split(".")[0]
            if top not in order:
                order.append(top)
    sys.addaudithook(hook)
    def write():
        with open(os.environ["ORDER_FILE"], "w") as f:
            json.dump(order, f)
    atexit.register(write)
    module, sys.argv = sys.argv[1], sys.argv[1:]
    if module == "-c":
        exec(sys.argv[1])
    else:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
""")


def import_order(tmp_path, module, *args, backend="torch", home=None):
    order_file = tmp_path / "order.json"
    env = dict(os.environ, ORDER_FILE=str(order_file), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join(
                   p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    if home:
        env["KERAS_HOME"] = str(home)
    done = subprocess.run([sys.executable, "-c", RECORDER, module, *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert order_file.exists(), (done.returncode, done.stderr[-3000:])
    return done, json.loads(order_file.read_text())


def assert_torch_before_tensorflow(order):
    assert "tensorflow" in order, order  # otherwise the test proves nothing
    assert "torch" in order, order
    assert order.index("torch") < order.index("tensorflow"), order
    if HAS_TRITON:
        assert "triton" in order and order.index("triton") < order.index("tensorflow"), order


def fake_export(tmp_path):
    """A directory that passes probe's export checks and names no real builder."""
    path = tmp_path / "export"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({
        "format": "kcontrast.export/1", "features": {"representation": [None, 4]},
        "input": {"shape": [None, 28, 28, 1]}, "dataset": {"builder": "no_such_builder"}}))
    return path


@needs_torch
@pytest.mark.parametrize("entry", ["run", "probe", "preview", "user_code", "keras_json"])
def test_torch_comes_before_tensorflow(tmp_path, entry):
    home = None
    backend = "torch"
    if entry == "run":  # --backend chooses torch after kcontrast is imported
        backend = "tensorflow"
        done, order = import_order(tmp_path, "kcontrast.run", "--exp=randbit", "--backend=torch",
                                   "--dataset=no_such_dataset", backend=backend)
        assert done.returncode == 2 and "no_such_dataset" in done.stderr
    elif entry == "probe":
        done, order = import_order(tmp_path, "kcontrast.probe",
                                   f"--saved_model={fake_export(tmp_path)}")
        assert done.returncode == 2 and "no_such_builder" in done.stderr
    elif entry == "preview":
        done, order = import_order(tmp_path, "kcontrast.data.preview", "--augment=no_such_augment")
        assert done.returncode == 2 and "no_such_augment" in done.stderr
    else:
        if entry == "keras_json":  # the backend from Keras' config file
            home = tmp_path / "keras_home"
            home.mkdir()
            (home / "keras.json").write_text(json.dumps({"backend": "torch"}))
            backend = None
        code = ("import kcontrast\nimport tensorflow\n"
                "from kcontrast.data import build_dataset\nimport keras\n"
                "assert keras.backend.backend() == 'torch'")
        done, order = import_order(tmp_path, "-c", code, backend=backend, home=home)
        assert done.returncode == 0, done.stderr[-3000:]
    assert_torch_before_tensorflow(order)


@needs_torch
def test_export_under_torch_imports_torch_first(tmp_path):
    done, order = import_order(tmp_path, "kcontrast.export", f"--model={tmp_path / 'no.keras'}",
                               f"--out={tmp_path / 'out'}")
    assert done.returncode == 2 and "no.keras" in done.stderr
    assert "torch" in order
    assert "tensorflow" not in order or order.index("torch") < order.index("tensorflow")


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_other_backends_do_not_import_torch(tmp_path, backend):
    done, order = import_order(tmp_path, "-c", "import kcontrast\nimport tensorflow",
                               backend=backend)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "torch" not in order and "triton" not in order


def test_configured_backend_reads_the_environment_then_keras_json(tmp_path, monkeypatch):
    if "keras" in sys.modules:
        monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert quiet_imports.configured_backend() == "jax"
    monkeypatch.delenv("KERAS_BACKEND")
    assert quiet_imports.configured_backend() == "tensorflow"  # no keras.json
    (tmp_path / "keras.json").write_text('{"backend": "torch"}')
    assert quiet_imports.configured_backend() == "torch"
    (tmp_path / "keras.json").write_text("{broken")
    assert quiet_imports.configured_backend() == "tensorflow"


@pytest.mark.backend
def test_this_test_process_imported_torch_before_tensorflow():
    """conftest.py's job: under torch, torch is in sys.modules before TensorFlow."""
    import tensorflow  # noqa: F401

    if quiet_imports.configured_backend() != "torch":
        pytest.skip("the order matters only under the torch backend")
    loaded = list(sys.modules)  # insertion order: the order imports started
    assert "torch" in loaded and loaded.index("torch") < loaded.index("tensorflow")
    if HAS_TRITON:
        assert "triton" in loaded and loaded.index("triton") < loaded.index("tensorflow")


@needs_torch
@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_torch_threads_wait_passively_unless_told_otherwise(tmp_path, preset):
    """libgomp reads OMP_WAIT_POLICY when torch loads it: importing
    kcontrast first sets PASSIVE, and leaves a value the user chose."""
    env = dict(os.environ, KERAS_BACKEND="torch", PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    env.pop("OMP_WAIT_POLICY", None)
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import os, sys\nassert 'torch' not in sys.modules\nimport kcontrast\n"
            "assert 'torch' in sys.modules\nprint(os.environ['OMP_WAIT_POLICY'])")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == (preset or "PASSIVE")


# The detection of a crash to come (tensorflow/tensorflow#124205), with this
# machine's real TensorFlow imported in a subprocess. Only whether Triton is
# installed is passed in where it is not (the CPU wheel): the segfault itself
# needs the CUDA torch build and is not reproduced here.
DETECTION = textwrap.dedent("""
    import json, sys
    from kcontrast import quiet_imports as q
    def verdict(**kwargs):
        try:
            q.check_import_order(**kwargs)
            return "ok"
        except q.ImportOrderError as e:
            return str(e)
    before = [q.tensorflow_symbols_global(), verdict(backend="torch", triton_installed=True)]
    import tensorflow
    after = [q.tensorflow_symbols_global(),
             verdict(backend="torch", triton_installed=True),
             verdict(backend="torch", triton_installed=False),
             verdict(backend="jax", triton_installed=True),
             verdict(backend="torch")]
    print(json.dumps({"before": before, "after": after}))
""")


def test_tensorflow_first_is_detected_before_triton_would_crash():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", DETECTION], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == [False, "ok"]  # nothing imported yet: nothing to fear
    global_symbols, torch_triton, torch_only, jax, as_installed = result["after"]
    if not global_symbols:
        pytest.skip("this TensorFlow wheel loads its symbols locally (the upstream fix)")
    assert "imported before TensorFlow" in torch_triton
    assert "issues/124205" in torch_triton and "Import kcontrast" in torch_triton
    assert (torch_only, jax) == ("ok", "ok")
    assert as_installed == ("ok" if not HAS_TRITON else torch_triton)


@needs_torch
def test_user_script_importing_tensorflow_first_under_torch(tmp_path):
    """``import tensorflow; import kcontrast`` under KERAS_BACKEND=torch: a
    clear ImportOrderError where Triton is installed (no segfault), and a
    working import where it is not (nothing to crash).

    Where ``import tensorflow`` alone already dies under the torch backend
    (TensorFlow imports Keras, which imports torch and Triton after
    TensorFlow's libraries: seen with the CUDA torch 2.14.1 + Triton 3.8
    wheels), kcontrast is never reached and cannot detect anything: the test
    then checks that crash is TensorFlow's own and skips, saying so."""
    alone = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], cwd=tmp_path, capture_output=True,
        env=dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)
    if alone.returncode < 0 or alone.returncode >= 128:
        assert HAS_TRITON, "import tensorflow alone crashed under torch without Triton"
        pytest.skip(f"import tensorflow alone dies (exit {alone.returncode}) under "
                    "KERAS_BACKEND=torch with this torch build, before kcontrast is "
                    "imported (tensorflow#124205)")
    done, order = import_order(tmp_path, "-c", "import tensorflow\nimport kcontrast")
    assert done.returncode != -11 and done.returncode != 139, done.stderr[-3000:]
    if HAS_TRITON and "Received: tensorflow imported first" in done.stderr:
        assert "ImportOrderError" in done.stderr and "issues/124205" in done.stderr
        assert "triton" not in order
    else:
        assert done.returncode == 0, done.stderr[-3000:]
        assert order.index("tensorflow") < order.index("torch")
