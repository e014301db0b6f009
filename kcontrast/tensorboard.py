"""TensorBoard on a run's logs, whatever ``KERAS_BACKEND`` says.

    python -m kcontrast.tensorboard --logdir=runs/randbit/STAMP/points [--port=6006]

Every point of a run writes ``points/<NN>-<params>/tensorboard/`` (scalars
per epoch and the point's hparams). TensorBoard imports TensorFlow, which
imports Keras; with ``KERAS_BACKEND=torch`` exported, Keras then imports
torch (and Triton) after TensorFlow, which crashes the CUDA torch build
before TensorBoard serves. This command checks ``--logdir`` and replaces
itself (``os.execve``) with ``python -m tensorboard.main`` and the same
arguments, under ``KERAS_BACKEND=tensorflow``; every other flag is
TensorBoard's own (``--port``, ``--host``, ``--bind_all``, ...; see
``python -m tensorboard.main --helpfull``).

A missing or wrong ``--logdir`` (or no TensorBoard installed) is one line on
stderr and exit code 2.
"""

import importlib.util
import os
import sys

PROGRAM = "kcontrast.tensorboard"


def _logdirs(args):
    """The values of ``--logdir`` in ``args`` (``--logdir=D`` or ``--logdir D``)."""
    found = []
    for i, arg in enumerate(args):
        if arg.startswith("--logdir="):
            found.append(arg.split("=", 1)[1])
        elif arg == "--logdir":
            found.append(args[i + 1] if i + 1 < len(args) else "")
    return found


def tensorboard_command(args, environ=None):
    """``(argv, env)`` that start TensorBoard with ``args`` under the
    TensorFlow backend of Keras.

    Args:
        args: TensorBoard's arguments, e.g. ``["--logdir=runs/x", "--port=0"]``.
        environ: the environment to start from (default ``os.environ``).

    Returns:
        the command line (this Python, ``-m tensorboard.main``, ``args``) and
        a copy of ``environ`` with ``KERAS_BACKEND=tensorflow``.

    >>> argv, env = tensorboard_command(["--logdir=runs"], {"KERAS_BACKEND": "torch"})
    >>> argv[1:], env["KERAS_BACKEND"]
    (['-m', 'tensorboard.main', '--logdir=runs'], 'tensorflow')
    """
    env = dict(os.environ if environ is None else environ)
    env["KERAS_BACKEND"] = "tensorflow"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return [sys.executable, "-m", "tensorboard.main", *args], env


def check_args(args):
    """Raises ``cli.UsageError`` unless ``args`` name one existing
    ``--logdir`` directory and TensorBoard is installed."""
    from kcontrast.cli import UsageError

    logdirs = _logdirs(args)
    if len(logdirs) != 1 or not logdirs[0]:
        raise UsageError(f"Expected one --logdir=DIR (a run directory or its points/); "
                         f"Received: {' '.join(args) or 'no arguments'}")
    if not os.path.isdir(logdirs[0]):
        raise UsageError(f"Expected --logdir to be a directory; Received: "
                         f"logdir={logdirs[0]!r} does not exist")
    if importlib.util.find_spec("tensorboard") is None:
        raise UsageError("Expected the tensorboard package (pip install tensorboard); "
                         "Received: not installed")


def main(argv=None):
    """The CLI: checks the arguments, then becomes TensorBoard (does not
    return when it starts); returns 0 after ``--help`` and 2 after one
    error line."""
    from kcontrast import cli

    argv = list(sys.argv if argv is None else argv)
    args = argv[1:]
    if any(a in cli.HELP + cli.HELPFULL for a in args):
        print(__doc__.strip())
        return 0
    try:
        check_args(args)
    except ValueError as e:
        print(f"{PROGRAM}: error: {cli.one_line(e)}", file=sys.stderr, flush=True)
        return 2
    command, env = tensorboard_command(args)
    before = os.environ.get("KERAS_BACKEND")
    if before and before != "tensorflow":
        print(f"{PROGRAM}: starting TensorBoard with KERAS_BACKEND=tensorflow "
              f"(instead of {before})", flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)


if __name__ == "__main__":
    sys.exit(main())
