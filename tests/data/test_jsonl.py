"""JSON Lines input (bioner.data.jsonl): one object per non-blank line, errors as ``file:line``."""

from __future__ import annotations

from pathlib import Path

import pytest

from bioner.data.jsonl import read_jsonl_objects


class Bad(ValueError):
    pass


def test_objects_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": 1}\n\n   \n{"id": "b", "x": [1]}\n', encoding="utf-8")
    assert list(read_jsonl_objects(path, Bad)) == [
        (f"{path}:1", {"id": 1}),
        (f"{path}:4", {"id": "b", "x": [1]}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}\n{"a": \n', r"r\.jsonl:2: not valid JSON \(Expecting value at column 7\)"),
        ('{"a": 1}\n[1, 2]\n', r"r\.jsonl:2: expected a JSON object, got list"),
        ('"text"\n', r"r\.jsonl:1: expected a JSON object, got str"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Bad, match=message):
        list(read_jsonl_objects(path, Bad))


def test_unreadable_file_raises_the_given_error(tmp_path: Path) -> None:
    with pytest.raises(Bad, match=r"nope\.jsonl: file not found"):
        list(read_jsonl_objects(tmp_path / "nope.jsonl", Bad))
    (bad := tmp_path / "b.jsonl").write_bytes(b'{"a": "\xff"}\n')
    with pytest.raises(Bad, match=r"b\.jsonl:1: not valid UTF-8"):
        list(read_jsonl_objects(bad, Bad))
