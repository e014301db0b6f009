"""Prints the README's quick-start commands: the fenced bash block between
<!-- quickstart:start --> and <!-- quickstart:end -->, without the fences.

    python3 .ci/quickstart.py [README.md] > quickstart.sh

Exit code 1, with one line on stderr, when the markers or the block are
missing or malformed, so CI never runs a stale or empty quick start.
"""

import re
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


if __name__ == "__main__":
    path = sys.argv[1] if len(sys.argv) > 1 else "README.md"
    try:
        with open(path) as f:
            sys.stdout.write(quickstart(f.read()))
    except (OSError, ValueError) as e:
        print(f"quickstart: error: {e}", file=sys.stderr)
        sys.exit(1)
