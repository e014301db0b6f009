"""Prints the README's quick-start commands: the fenced bash block between
<!-- quickstart:start --> and <!-- quickstart:end -->, without the fences.

    python3 .ci/quickstart.py [README.md] > quickstart.sh
    python3 .ci/quickstart.py --timed [README.md] > quickstart.sh

With ``--timed``, each command (a line, with its backslash continuations) is
echoed before it runs and followed by a line giving its time in seconds and
its exit status; the script stops at the first command that fails (``set
-e`` would not: it ignores a failure on the left of ``&&``). The commands
themselves run unchanged, in one shell, so ``. .venv/bin/activate`` holds for
the ones after it. Run the script with plain ``bash``. Exit code 1, with one line on stderr, when the markers or the block are
missing or malformed, so CI never runs a stale or empty quick start.
"""

import re
import shlex
import sys

START, END = "<!-- quickstart:start -->", "<!-- quickstart:end -->"


def quickstart(text):
    """The commands of the quick-start block, as one string."""
    if text.count(START) != 1 or text.count(END) != 1:
        raise ValueError(
            f"Expected one {START} and one {END} in the README; Received: "
            f"{text.count(START)} and {text.count(END)}")
    inside = text[text.index(START) + len(START):text.index(END)].strip()
    match = re.fullmatch(r"```(?:bash|sh)\n(.*?)\n```", inside, re.DOTALL)
    if not match or not match.group(1).strip():
        raise ValueError(
            "Expected exactly one non-empty ```bash block between the quickstart "
            "markers; Received: " + repr(inside[:60]))
    return match.group(1) + "\n"


def commands(block):
    """The block's commands: lines joined across backslash continuations,
    without blank and comment-only lines."""
    out, current = [], ""
    for line in block.splitlines():
        current += line + "\n"
        if line.endswith("\\"):
            continue
        if current.strip() and not current.strip().startswith("#"):
            out.append(current.rstrip("\n"))
        current = ""
    if current.strip():
        out.append(current.rstrip("\n"))
    return out


def timed(block):
    """The block as a script that echoes and times each command."""
    lines = []
    for i, command in enumerate(commands(block), 1):
        lines += [f"printf '+ %s\\n' {shlex.quote(command)}",
                  "__start=$(date +%s)",
                  command,
                  "__status=$?",
                  f'echo "--- quick start command {i}: $(( $(date +%s) - __start ))s, exit $__status"',
                  '[ "$__status" -eq 0 ] || exit "$__status"']
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    args = sys.argv[1:]
    as_timed = "--timed" in args
    args = [a for a in args if a != "--timed"]
    path = args[0] if args else "README.md"
    try:
        with open(path) as f:
            block = quickstart(f.read())
        sys.stdout.write(timed(block) if as_timed else block)
    except (OSError, ValueError) as e:
        print(f"quickstart: error: {e}", file=sys.stderr)
        sys.exit(1)
