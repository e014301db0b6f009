"""The README's code runs as written.

Every ```python block of README.md runs in a subprocess under the current
KERAS_BACKEND, from an empty directory, with this checkout on PYTHONPATH. The
only change is SUBSTITUTIONS (text replaced before running, to keep the
test short); each must still match the README, so a stale one fails.

The quick-start block that CI runs (.ci/quickstart.py) is checked for shape
here; CI runs it for real.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")

# (README text, replacement): training length only, never the API used.
SUBSTITUTIONS = [("epochs=5", "epochs=1")]


def python_blocks():
    with open(README) as f:
        return re.findall(r"^```python\n(.*?)^```", f.read(), re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_blocks_and_every_substitution_matches():
    blocks = python_blocks()
    assert blocks, "README.md has no ```python block"
    for old, _ in SUBSTITUTIONS:
        assert any(old in block for block in blocks), f"stale substitution {old!r}"


@pytest.mark.backend
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(tmp_path, index):
    code = python_blocks()[index]
    for old, new in SUBSTITUTIONS:
        code = code.replace(old, new)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"README python block {index}:\n{code}\n{done.stderr[-4000:]}"


def test_the_quickstart_block_creates_a_venv_then_installs_and_tests():
    done = subprocess.run([sys.executable, os.path.join(ROOT, ".ci", "quickstart.py"), README],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("python3 -m venv .venv") and ". .venv/bin/activate" in lines[0]
    assert any(line.startswith("pip install .") and "kcontrast.run" in line for line in lines)
    assert any("tests/run_backends.sh" in line for line in lines)


@pytest.mark.parametrize("text, needle", [
    ("no markers here", "Expected one"),
    ("<!-- quickstart:start -->\n```python\nx\n```\n<!-- quickstart:end -->", "bash block"),
    ("<!-- quickstart:start -->\n```bash\n\n```\n<!-- quickstart:end -->", "bash block"),
])
def test_a_broken_quickstart_block_fails_ci_in_one_line(tmp_path, text, needle):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    done = subprocess.run([sys.executable, os.path.join(ROOT, ".ci", "quickstart.py"), str(readme)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_the_timed_quickstart_runs_in_one_shell_and_stops_at_a_failure(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "README.md").write_text(
        "<!-- quickstart:start -->\n```bash\n"
        "cd sub && export SEEN=1\n"
        "echo $SEEN \\\n  > seen.txt\n"
        "true && false && echo never\n"
        "touch after.txt\n"
        "```\n<!-- quickstart:end -->\n")
    script = subprocess.run(
        [sys.executable, os.path.join(ROOT, ".ci", "quickstart.py"), "--timed",
         str(tmp_path / "README.md")], capture_output=True, text=True, timeout=60)
    assert script.returncode == 0, script.stderr
    done = subprocess.run(["bash", "-c", script.stdout], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert (tmp_path / "sub" / "seen.txt").read_text() == "1\n"  # cd and export held
    assert not (tmp_path / "sub" / "after.txt").exists()
    assert "--- quick start command 3:" in done.stdout and "exit 1" in done.stdout
    assert "never" not in done.stdout.replace("+ true && false && echo never", "")


def bash_blocks():
    with open(README) as f:
        return re.findall(r"^```bash\n(.*?)^```", f.read(), re.DOTALL | re.MULTILINE)


def command_blocks():
    """The README's bash blocks made only of kcontrast commands (install and
    GPU blocks are run by CI's quick-start stage or need other machines)."""
    blocks = []
    for block in bash_blocks():
        lines = [l for l in block.splitlines() if l.strip() and not l.startswith("#")]
        if lines and all(l.startswith("python -m kcontrast.") for l in lines):
            blocks.append(lines)
    return blocks


def test_the_readme_has_command_blocks():
    assert command_blocks(), "README.md has no block of kcontrast commands"


@pytest.mark.parametrize("index", range(len(command_blocks())))
def test_readme_command_block_runs_as_written(tmp_path, index):
    """Each command of the block, in order, in one empty directory (they
    build on each other: run, then export its point, then probe the export)."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    for line in command_blocks()[index]:
        args = line.split()
        assert args[:2] == ["python", "-m"], line
        done = subprocess.run([sys.executable, *args[1:]], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"README command failed: {line}\n{done.stderr[-3000:]}"
