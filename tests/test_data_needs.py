"""What a machine without Debian's Fashion-MNIST sees: ``--list`` marks the
experiments that need it (and stays framework-free), a run of one fails with
one line naming the command that gets it, and each experiment file declares
the sources its config reads (``DATA_SOURCES``)."""

import os
import subprocess
import sys

import pytest

from kcontrast import config as cfg
from kcontrast import run
from kcontrast.data.sources import SOURCES
from kcontrast.data.sources import missing_data
from kcontrast.data.sources.fashion_mnist import GET_COMMAND
from kcontrast.data.sources.fashion_mnist import is_available

NEEDS_FASHION = {"digit_on_image", "generalized_loss", "mitigation"}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _strings(value):
    """Every string inside a nested config (dicts, lists, tuples)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


@pytest.mark.parametrize("name", cfg.experiment_names())
def test_data_sources_declared_match_the_config(name):
    """The declaration --list reads (without building a config) names exactly
    the sources the default config, its variants and probe sets mention."""
    module = cfg.load_experiment(name)
    config = cfg.get_experiment_config(name).to_dict()
    used = {s for s in _strings(config) if s in SOURCES}
    assert used == set(getattr(module, "DATA_SOURCES", ("mnist5k",))), name
    assert (name in NEEDS_FASHION) == ("fashion_mnist" in used)


def _list(*args):
    code = ("import sys; from kcontrast import run; rc = run.main(['kcontrast.run', '--list', "
            + ", ".join(repr(a) for a in args) + "]); "
            "print('frameworks:', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') "
            "if m in sys.modules)); sys.exit(rc)")
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)


def _marked(stdout):
    return {line.split()[0] for line in stdout.splitlines()
            if line.startswith("  ") and "[data missing here: fashion_mnist]" in line}


def test_list_marks_nothing_with_the_data_and_imports_no_framework(fashion_mnist_dir):
    result = _list(f"--data_dir={fashion_mnist_dir}")
    assert result.returncode == 0, result.stderr
    assert _marked(result.stdout) == set()
    assert GET_COMMAND not in result.stdout
    assert "frameworks: []" in result.stdout


def test_list_marks_what_is_missing_and_names_the_command(tmp_path):
    result = _list(f"--data_dir={tmp_path}")  # an empty directory: nothing there
    assert result.returncode == 0, result.stderr
    assert _marked(result.stdout) == NEEDS_FASHION
    assert f"`{GET_COMMAND}`" in result.stdout
    assert "frameworks: []" in result.stdout


@pytest.mark.skipif(is_available(), reason="Fashion-MNIST is installed here: nothing is missing")
def test_list_without_data_dir_marks_the_machines_missing_data():
    result = _list()
    assert _marked(result.stdout) == NEEDS_FASHION, result.stdout


def test_missing_data_reads_the_real_directory(tmp_path, fashion_mnist_dir):
    assert missing_data(["mnist5k", "fashion_mnist"], fashion_mnist_dir) == {}
    assert missing_data(["mnist5k", "fashion_mnist"], tmp_path) == {"fashion_mnist": GET_COMMAND}
    # A tensorflow-datasets copy in tfds' layout counts too.
    (tmp_path / "fashion_mnist" / "3.0.1").mkdir(parents=True)
    (tmp_path / "fashion_mnist" / "3.0.1" / "dataset_info.json").write_text("{}")
    assert missing_data(["fashion_mnist"], tmp_path) == {}


@pytest.mark.parametrize("exp", sorted(NEEDS_FASHION))
def test_run_without_the_data_is_one_line_naming_the_command(tmp_path, monkeypatch, capsys, exp):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", f"--exp={exp}", "--quick", f"--data_dir={empty}"])
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("kcontrast.run: error: Expected Fashion-MNIST")
    assert f"`{GET_COMMAND}`" in lines[0] and str(empty) in lines[0]
    assert os.listdir(tmp_path) == ["empty"]
