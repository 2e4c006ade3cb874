"""JSON Lines input: one object per non-blank line, every problem reported as ``file:line``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from bioner.data.files import DataFormatError, read_utf8_lines


def read_jsonl_objects(path: str | Path, error: type[Exception]) -> Iterator[tuple[str, dict]]:
    """``(where, object)`` for each non-blank line of ``path`` (``where`` is ``file:line``); raises ``error``
    for an unreadable file, invalid UTF-8 or JSON, or a line that is not a JSON object."""
    try:
        lines = read_utf8_lines(Path(path))
    except DataFormatError as problem:
        raise error(str(problem)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as problem:
            raise error(f"{where}: not valid JSON ({problem.msg} at column {problem.colno})") from None
        except RecursionError:
            raise error(f"{where}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise error(f"{where}: expected a JSON object, got {type(record).__name__}")
        yield where, record
