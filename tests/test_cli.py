"""kcontrast.cli: help, flag errors and positional arguments, in-process and
on every command-line entry point in a subprocess."""

import os
import subprocess
import sys

import pytest
from absl import flags

from kcontrast import cli

USAGE = """Frobnicates a results directory.

    prog DIR [--k=N]
"""


def flag_values():
    fv = flags.FlagValues()
    flags.DEFINE_integer("k", 20, "kNN neighbours.", flag_values=fv)
    flags.DEFINE_string("out", None, "Output file.", flag_values=fv)
    return fv


def test_parse_flags_sets_flags_and_returns_positional_args():
    fv = flag_values()
    assert cli.parse_flags(fv, ["prog", "a", "--k=5", "b"], "prog", USAGE) == ["a", "b"]
    assert fv.k == 5 and fv.out is None


@pytest.mark.parametrize("arg", ["--help", "-h", "-help"])
def test_help_prints_usage_and_own_flags_then_exits_0(capsys, arg):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_flags(flag_values(), ["prog", "--k=bad", arg], "prog", USAGE)
    assert exit_info.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("Frobnicates a results directory.")
    assert "prog DIR [--k=N]" in out
    assert "--k: kNN neighbours." in out and "--out: Output file." in out
    assert "--flagfile" not in out


def test_helpfull_adds_the_flags_absl_accepts_everywhere(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_flags(flag_values(), ["prog", "--helpfull"], "prog", USAGE)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--k: kNN neighbours." in out
    assert "--flagfile" in out and "--undefok" in out


def test_the_flags_helpfull_lists_really_work(tmp_path):
    flagfile = tmp_path / "flags.txt"
    flagfile.write_text("--k=7\n")
    fv = flag_values()
    rest = cli.parse_flags(fv, ["prog", f"--flagfile={flagfile}", "--undefok=zz", "--zz=1"],
                           "prog", USAGE)
    assert rest == [] and fv.k == 7


def test_help_after_double_dash_is_a_positional_argument():
    assert cli.parse_flags(flag_values(), ["prog", "--", "--help"], "prog", USAGE) == ["--help"]


@pytest.mark.parametrize("args, needle", [
    (["--nope=1"], "Unknown command line flag 'nope'"),
    (["--k=abc"], "--k=abc"),
    (["--flagfile=/no/such/file"], "/no/such/file"),
])
def test_flag_errors_are_one_line_on_stderr_and_exit_2(capsys, args, needle):
    with pytest.raises(SystemExit) as exit_info:
        cli.parse_flags(flag_values(), ["prog", *args], "prog", USAGE)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("prog: error: ") and needle in lines[0]


def test_fail_prints_the_first_line_and_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.fail("prog", ValueError("Expected x > 0; Received: x=-1\nmore detail"))
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "prog: error: Expected x > 0; Received: x=-1\n"


def test_parse_flags_needs_the_program_name():
    with pytest.raises(ValueError, match="argv"):
        cli.parse_flags(flag_values(), [], "prog", USAGE)


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# module -> a phrase of its usage (module docstring) and one of its flags.
ENTRY_POINTS = {
    "kcontrast.export": ("python -m kcontrast.export --run=", "--[no]overwrite"),
    "kcontrast.probe": ("python -m kcontrast.probe --saved_model=", "--feature"),
    "kcontrast.report": ("python -m kcontrast.report DIR_OR_JSON", "--metric"),
    "kcontrast.data.preview": ("python -m kcontrast.data.preview --dataset=", "--num_examples"),
    "kcontrast.run": ("python -m kcontrast.run --exp=randbit", "--exp"),
    "kcontrast.local_features": ("python -m kcontrast.local_features", "--k"),
}


def run_module(module, *args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", [
    pytest.param(m) for m in ENTRY_POINTS])
@pytest.mark.parametrize("arg", ["--help", "--helpfull"])
def test_every_entry_point_prints_help_and_exits_0(module, arg):
    done = run_module(module, arg)
    assert done.returncode == 0, done.stderr[-2000:]
    usage, flag = ENTRY_POINTS[module]
    assert usage in done.stdout
    assert f"  {flag}" in done.stdout
    assert ("--flagfile" in done.stdout) == (arg == "--helpfull")


@pytest.mark.parametrize("module", list(ENTRY_POINTS))
def test_every_entry_point_reports_an_unknown_flag_in_one_line(module):
    done = run_module(module, "--no_such_flag=1")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"{module}: error: Unknown command line flag 'no_such_flag'"] or (
        module == "kcontrast.run" and len(lines) == 1 and "no_such_flag" in lines[0])
