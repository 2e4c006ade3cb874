"""Reading data files (bioner.data.files): UTF-8 lines, and errors that name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.data.files import DataFormatError, read_utf8_lines


def test_error_message_names_where_and_line() -> None:
    assert str(DataFormatError("f.tsv", "bad tag", 7)) == "f.tsv:7: bad tag"
    assert str(DataFormatError(Path("d"), "no folder")) == "d: no folder"
    assert isinstance(DataFormatError("x", "y"), ValueError)


def test_bom_and_crlf_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\n\nthree")
    assert read_utf8_lines(path) == ["one", "two", "", "three"]
    assert read_utf8_lines(str(path)) == read_utf8_lines(path)


def test_invalid_utf8_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"ok\nstill ok\nab\xffc\n")
    with pytest.raises(DataFormatError, match=r"f\.txt:3: not valid UTF-8: byte 0xff at column 3"):
        read_utf8_lines(path)


def test_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope\.txt: file not found"):
        read_utf8_lines(tmp_path / "nope.txt")
    with pytest.raises(DataFormatError, match="cannot read file"):
        read_utf8_lines(tmp_path)  # a folder
