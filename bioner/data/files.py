"""Reading data files: UTF-8 text as lines, and the error every data problem raises, naming ``file:line``."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path


class DataFormatError(ValueError):
    """Bad or missing NER data; the message names ``file:line`` when a line is at fault."""

    def __init__(self, where: str | os.PathLike[str], message: str, line: int | None = None) -> None:
        prefix = f"{where}:{line}" if line is not None else str(where)
        super().__init__(f"{prefix}: {message}")


def read_utf8_lines(path: str | os.PathLike[str]) -> list[str]:
    """Read UTF-8 text as lines (a leading BOM dropped; CRLF, LF and a lone CR each end a line, as in
    universal newlines, so a CR-only file is not one long line), reporting the line of the first undecodable
    byte."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataFormatError(path, "file not found") from None
    except OSError as err:
        raise DataFormatError(path, f"cannot read file ({err.strerror})") from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        before = data[: err.start]
        line = len(_LINE_END_BYTES.findall(before)) + 1
        column = err.start - max(before.rfind(b"\n"), before.rfind(b"\r"))
        raise DataFormatError(
            path, f"not valid UTF-8: byte 0x{data[err.start]:02x} at column {column}", line
        ) from None
    return _LINE_END.split(text)


_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
