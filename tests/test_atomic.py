import json
import os
import stat

import pytest

from kcontrast import atomic


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def strict_umask():
    old = os.umask(0o077)  # mkstemp's 0o600 and this umask would both hide a missing chmod
    yield
    os.umask(old)


def test_writes_replace_the_target_with_mode_644_and_leave_no_temp(tmp_path, strict_umask):
    path = tmp_path / "out.txt"
    path.write_text("old")
    atomic.write_text(path, "new ü")
    assert path.read_text(encoding="utf-8") == "new ü"
    assert _mode(path) == 0o644
    atomic.write_bytes(str(tmp_path / "b.bin"), b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert _mode(tmp_path / "b.bin") == 0o644
    assert sorted(os.listdir(tmp_path)) == ["b.bin", "out.txt"]


def test_json_is_indented_sorted_and_ends_with_a_newline(tmp_path):
    path = tmp_path / "r.json"
    atomic.write_json(path, {"b": 1, "a": [1, 2]})
    text = path.read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": [1, 2], "b": 1}
    atomic.write_json(path, {"when": object}, default=str)
    assert json.loads(path.read_text())["when"] == str(object)


def test_a_failed_write_keeps_the_old_file_and_removes_the_temp(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    with pytest.raises(TypeError):
        atomic.write_bytes(path, "not bytes")  # fails inside the temp-file write
    with pytest.raises(TypeError):
        atomic.write_json(path, {"x": object()})  # fails before any file exists
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_a_failed_rename_removes_the_temp(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(OSError):
        atomic.write_text(target, "text")  # os.replace cannot replace a non-empty directory
    assert sorted(os.listdir(tmp_path)) == ["dir"]
    assert os.listdir(target) == ["inside"]


def test_a_missing_directory_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        atomic.write_text(tmp_path / "no" / "such.txt", "x")
    assert os.listdir(tmp_path) == []
