"""Command-line parsing shared by every kcontrast entry point.

Each CLI (``kcontrast.run``, ``export``, ``probe``, ``report``,
``data.preview``) keeps its absl flags in a private ``flags.FlagValues`` and
parses them with ``parse_flags``, so that they all behave alike:

- ``--help`` (or ``-h``) prints the program's usage (its module docstring)
  and its own flags to stdout, then exits 0;
- ``--helpfull`` prints the same plus the flags absl's parser itself accepts
  on every program (``--flagfile``, ``--undefok``), then exits 0;
- a bad command line (unknown flag, a value of the wrong type) prints one
  line, ``PROGRAM: error: MESSAGE``, to stderr and exits 2;
- the positional arguments that remain are returned.

``fail(program, message)`` reports any other bad request the same way.

>>> from absl import flags
>>> fv = flags.FlagValues()
>>> _ = flags.DEFINE_integer("k", 20, "kNN neighbours.", flag_values=fv)
>>> parse_flags(fv, ["prog", "--k=5", "results"], "prog", "Usage: prog DIR")
['results']
>>> fv.k
5
"""

import sys
import textwrap

HELP = ("--help", "-help", "-h")
HELPFULL = ("--helpfull", "-helpfull")
_SPECIAL_SECTION = "absl.flags:"


def _indented(text):
    """Lines of absl's flag help, without its per-module header lines."""
    return [line for line in text.splitlines() if line.startswith(" ")]


def _special_flags_help(flag_values):
    """Help lines of the flags absl's parser adds to any FlagValues."""
    lines, inside = [], False
    for line in flag_values.get_help(include_special_flags=True).splitlines():
        if not line.startswith(" ") and line.strip():
            inside = line.strip() == _SPECIAL_SECTION
        elif inside and line.strip():
            lines.append(line)
    return lines


def help_text(flag_values, doc, full=False):
    """The text `--help` (or, with `full`, `--helpfull`) prints.

    Args:
        flag_values: the program's `absl.flags.FlagValues`.
        doc: the program's usage, normally its module `__doc__`.
        full: also list the flags absl's parser accepts on every program.

    Returns:
        str: the usage, a blank line, then `flags:` and one entry per flag.
    """
    parts = [textwrap.dedent(doc or "").strip()]
    own = _indented(flag_values.get_help(include_special_flags=False))
    parts.append("flags:\n" + ("\n".join(own) if own else "  (none)"))
    if full:
        parts.append("absl flags (accepted by every kcontrast command):\n"
                     + "\n".join(_special_flags_help(flag_values)))
    return "\n\n".join(p for p in parts if p) + "\n"


def fail(program, message):
    """Prints `PROGRAM: error: MESSAGE` (its first line) to stderr; exits 2.

    Args:
        program: the command's name, e.g. `"kcontrast.probe"`.
        message: the error (a string or an exception such as a ValueError).

    Raises:
        SystemExit: always, with code 2.
    """
    text = str(message).strip()
    line = text.splitlines()[0] if text else type(message).__name__
    sys.stdout.flush()
    print(f"{program}: error: {line}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _requested_help(args):
    """'full', 'short' or None: the help a command line asks for."""
    for arg in args:
        if arg == "--":
            break
        if arg in HELPFULL:
            return "full"
        if arg in HELP:
            return "short"
    return None


def parse_flags(flag_values, argv, program, doc):
    """Parses `argv` into `flag_values`; handles help and flag errors.

    Args:
        flag_values: a private `absl.flags.FlagValues` holding the program's
            flags (never the global `flags.FLAGS`).
        argv: the command line, program name first (as `sys.argv`).
        program: the name printed in errors, e.g. `"kcontrast.export"`.
        doc: the usage printed by `--help`, normally the module `__doc__`.

    Returns:
        list of str: the positional arguments, without the program name.

    Raises:
        SystemExit: code 0 after printing help to stdout (`--help`, `-h`,
            `--helpfull`); code 2 after printing one error line to stderr
            (unknown flag, bad value, missing or malformed flag file).
    """
    from absl import flags

    argv = list(argv)
    if not argv:
        raise ValueError("Expected argv with the program name first; Received: argv=[]")
    wanted = _requested_help(argv[1:])
    if wanted:
        sys.stdout.write(help_text(flag_values, doc, full=wanted == "full"))
        sys.stdout.flush()
        raise SystemExit(0)
    try:
        rest = flag_values(argv)
    except (flags.Error, OSError) as e:
        fail(program, e)
    return list(rest[1:])


def exit_code(main, argv=None):
    """Calls ``main(argv)`` and returns its exit code, also when it exits
    through ``SystemExit`` (``parse_flags``, ``fail``): so that a CLI's
    ``main`` can be called in-process and tested by its return value."""
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


class UsageError(ValueError):
    """A bad request from the command line (a flag, a value, a path): every
    entry point reports it as one line, ``PROGRAM: error: MESSAGE``, on
    stderr, with exit code 2, and writes nothing."""


def one_line(error):
    """The first two non-empty lines of ``error``'s message joined into one
    (an exception's type name when it has no message).

    >>> one_line(ValueError("Expected x\\n  Received: y"))
    'Expected x Received: y'
    """
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:2]) if lines else type(error).__name__
