"""kcontrast.run with --dataset=<tfds name> --data_dir=DIR: a prepared copy
is used (streamed or in memory), one that is not and cannot be downloaded is
one line, exit 2, naming --data_dir, and nothing is written."""

import glob
import json
import os
import sys

import pytest

from kcontrast import run

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sources"))
import tfds_fixtures  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tfds")
    tfds_fixtures.prepare(path, sizes=(200,))
    return str(path)


def _one_line_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kcontrast.run: error: ")
    return lines[0]


@pytest.mark.parametrize("exp, extra", [
    ("randbit", []),
    ("randbit", ["--config.data.args.stream=true"]),
    ("multi_object", []),
])
def test_an_undownloadable_tfds_name_is_one_line_naming_data_dir(exp, extra, tmp_path,
                                                                  monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", f"--exp={exp}", "--dataset=kcontrast_offline",
                     f"--data_dir={tmp_path / 'tfds'}", *extra])
    line = _one_line_error(capsys, code)
    assert "kcontrast_offline" in line and "--data_dir" in line
    assert os.listdir(tmp_path) == []


def test_image_size_is_refused_for_an_embedded_base(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = run.main(["kcontrast.run", "--exp=randbit", "--dataset=mnist5k",
                     "--config.data.args.image_size=32"])
    assert "image_size" in _one_line_error(capsys, code)
    assert os.listdir(tmp_path) == []


def test_a_streamed_tfds_randbit_run_end_to_end(data_dir, tmp_path, monkeypatch, capsys):
    """A quick randbit run over a streamed tfds base writes its results, and
    its config records the stream."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = run.main(["kcontrast.run", "--exp=randbit", "--quick", "--bits=0",
                     "--dataset=kcontrast_stream_images/n200", f"--data_dir={data_dir}",
                     "--config.data.args.stream=true", "--batch_size=50",
                     "--config.model.width=1", f"--out={out}"])
    assert code == 0, capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    text = json.dumps(results)
    assert "kcontrast_stream_images/n200" in text
    (config_file,) = glob.glob(str(out / "**" / "config.json"), recursive=True)
    config = json.loads(open(config_file).read())
    assert config["dataset"]["config"]["stream"] is True
    metrics = json.loads(open(os.path.join(os.path.dirname(config_file), "metrics.json")).read())
    assert 0.0 <= metrics["linear/label"] <= 1.0 and 0.0 <= metrics["knn/label"] <= 1.0
