import subprocess
import sys

import numpy as np
import pytest

from kcontrast.data.preview import render_preview


def test_render_preview_writes_a_png(tmp_path):
    import matplotlib.image

    out = tmp_path / "grid.png"
    ds = render_preview("randbit", str(out), num_examples=2, bits=4)
    assert ds.config["bits"] == 4
    image = matplotlib.image.imread(out)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.std(image) > 0.01


def test_cli_reports_an_unknown_dataset_in_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "kcontrast.data.preview", "--dataset=nosuch", f"--out={tmp_path / 'x.png'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "nosuch" in last and "randbit" in last


@pytest.mark.parametrize("kwargs", ["{bad json"])
def test_cli_rejects_bad_kwargs(tmp_path, kwargs):
    result = subprocess.run(
        [sys.executable, "-m", "kcontrast.data.preview", f"--kwargs={kwargs}", f"--out={tmp_path / 'x.png'}"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "--kwargs" in result.stderr.strip().splitlines()[-1]
