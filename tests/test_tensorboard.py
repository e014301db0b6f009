"""``python -m kcontrast.tensorboard`` serves a real logdir with the torch
backend exported, under KERAS_BACKEND=tensorflow."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from kcontrast import tensorboard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except OSError:
        return None, b""


def _write_scalars(logdir):
    """A real event file: the scalar ``loss`` over three steps, written by
    TensorBoard's own writer in a subprocess (TensorFlow backend)."""
    code = ("import sys, tensorflow as tf\n"
            "w = tf.summary.create_file_writer(sys.argv[1])\n"
            "with w.as_default():\n"
            "    [tf.summary.scalar('loss', 1.0 / (s + 1), step=s) for s in range(3)]\n"
            "w.flush()\n")
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", code, str(logdir)], env=env, check=True,
                   timeout=300)


def test_serves_a_logdir_with_the_torch_backend_exported(tmp_path):
    logdir = tmp_path / "points" / "00-bits=0" / "tensorboard"
    _write_scalars(logdir)
    port = _free_port()
    env = dict(os.environ, KERAS_BACKEND="torch",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-m", "kcontrast.tensorboard", f"--logdir={tmp_path / 'points'}",
         f"--port={port}", "--host=localhost"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, tags = time.monotonic() + 240, {}
        while time.monotonic() < deadline and process.poll() is None:
            status, page = _get(f"http://localhost:{port}/")
            if status == 200:
                _, body = _get(f"http://localhost:{port}/data/plugin/scalars/tags")
                tags = json.loads(body or b"{}")
                if tags:
                    break
            time.sleep(1)
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert status == 200 and b"<html" in page.lower()
        assert "loss" in tags.get("00-bits=0/tensorboard", {}), tags
        if os.path.exists(f"/proc/{process.pid}/environ"):
            # The served process is TensorBoard itself, with the TensorFlow backend.
            with open(f"/proc/{process.pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
            assert b"KERAS_BACKEND=tensorflow" in environ
            with open(f"/proc/{process.pid}/cmdline", "rb") as f:
                assert b"tensorboard.main" in f.read()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


@pytest.mark.parametrize("args, needle", [
    ([], "Expected one --logdir=DIR"),
    (["--logdir"], "Expected one --logdir=DIR"),
    (["--logdir=a", "--logdir=b"], "Expected one --logdir=DIR"),
    (["--logdir=/nonexistent/kcontrast"], "logdir='/nonexistent/kcontrast' does not exist"),
])
def test_bad_logdir_is_one_line_and_exit_2(args, needle, capsys):
    assert tensorboard.main(["kcontrast.tensorboard", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("kcontrast.tensorboard: error: ")
    assert needle in err[0]


def test_help_prints_the_usage(capsys):
    assert tensorboard.main(["kcontrast.tensorboard", "--help"]) == 0
    assert "python -m kcontrast.tensorboard --logdir=" in capsys.readouterr().out


def test_command_sets_the_tensorflow_backend_and_keeps_the_arguments():
    argv, env = tensorboard.tensorboard_command(
        ["--logdir=runs", "--port=6007"], {"KERAS_BACKEND": "torch", "HOME": "/h"})
    assert argv == [sys.executable, "-m", "tensorboard.main", "--logdir=runs", "--port=6007"]
    assert env["KERAS_BACKEND"] == "tensorflow" and env["HOME"] == "/h"
