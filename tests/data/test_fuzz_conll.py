"""Property-based fuzzing of the CoNLL/BIO and JSON Lines readers over slices of the real data (issue 17).

Slices are the first sentences of each ``train.tsv`` of ``BIONER_DATA_DIR`` (skipped when missing), damaged
the ways users' files are damaged: tab-separated fields deleted, duplicated or swapped; lines deleted,
duplicated or swapped; truncation; LF, CRLF or CR line ends; invalid UTF-8, NUL and BOM bytes; empty files.
The reader either returns every token (CoNLL: one per data line; JSON Lines: one object per non-blank line)
or raises the project's format error naming ``file:line`` (or the file, when the whole file is at fault).
``FUZZ_EXAMPLES`` (``BIONER_FUZZ_EXAMPLES``) cases per test and run; the counts run are printed (``-s``).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioner.data.conll import read_conll
from bioner.data.files import DataFormatError
from bioner.data.jsonl import read_jsonl_objects
from tests.helpers import DATA_DIR

FUZZ_EXAMPLES = int(os.environ.get("BIONER_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
CORPORA = ("bc5cdr", "ncbi_disease", "biored", "jnlpba", "bc2gm", "chemprot")
SENTENCES = 12
LINE_ENDS = ("\n", "\r\n", "\r")
BYTES = (b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf", b"\xe2\x80")
_LINE_END = re.compile(r"\r\n|\r|\n")
CASES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    if CASES:
        print(f"\nfuzz cases run (max_examples={FUZZ_EXAMPLES} per test): {dict(sorted(CASES.items()))}")


@cache
def conll_slice(corpus: str) -> str:
    path = DATA_DIR / corpus / "train.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not found (BIONER_DATA_DIR)")
    with path.open(encoding="utf-8", newline="") as handle:
        head = handle.read(50_000)
    return "\n\n".join(head.split("\n\n")[:SENTENCES]) + "\n"


def jsonl_slice(corpus: str) -> str:
    records = []
    for block in conll_slice(corpus).split("\n\n"):
        pairs = [line.split("\t") for line in block.splitlines() if line]
        records.append(json.dumps({"tokens": [p[0] for p in pairs], "ner_tags": [p[-1] for p in pairs]}))
    return "\n".join(records) + "\n"


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("fields", "fields", "line", "truncate", "bytes", "ends", "empty")))
        if kind == "empty":
            return b""
        if kind == "fields":
            index = draw(st.integers(0, len(lines) - 1))
            lines[index] = "\t".join(_damage_list(draw, lines[index].split("\t")))
        elif kind == "line":
            lines = _damage_list(draw, lines)
        else:
            data = "\n".join(lines).encode()
            if kind == "truncate":
                return data[: draw(st.integers(0, len(data)))]
            if kind == "ends":
                return data.replace(b"\n", draw(st.sampled_from(LINE_ENDS)).encode())
            position = draw(st.integers(0, len(data)))
            return data[:position] + draw(st.sampled_from(BYTES)) + data[position:]
    return "\n".join(lines).encode()


def _damage_list(draw: st.DrawFn, items: list[str]) -> list[str]:
    items = list(items)
    if not items:
        return items
    i = draw(st.integers(0, len(items) - 1))
    action = draw(st.sampled_from(("delete", "duplicate", "swap")))
    if action == "delete":
        del items[i]
    elif action == "duplicate":
        items.insert(i, items[i])
    elif len(items) > 1:
        j = draw(st.integers(0, len(items) - 1))
        items[i], items[j] = items[j], items[i]
    return items


def lines_of(data: bytes) -> list[str] | None:
    try:
        return _LINE_END.split(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))
    except UnicodeDecodeError:
        return None


def check_error(error: Exception, path: Path, file_level: tuple[str, ...]) -> None:
    message = str(error)
    assert message.startswith(f"{path}:"), message
    named_line = re.match(rf"{re.escape(str(path))}:\d+: ", message) is not None
    assert named_line or any(f"{path}: {what}" in message for what in file_level), message


@FUZZ
@given(data=st.data(), corpus=st.sampled_from(CORPORA))
def test_conll_damaged(data: st.DataObject, corpus: str) -> None:
    broken = data.draw(damaged(conll_slice(corpus)))
    lines = lines_of(broken)
    expected = (
        None if lines is None else sum(1 for x in lines if x.strip() and not x.startswith("-DOCSTART-"))
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.tsv"
        path.write_bytes(broken)
        try:
            sentences = read_conll(path).sentences
        except DataFormatError as error:
            check_error(error, path, ("no sentences found",))
            CASES["conll error"] += 1
            return
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{type(error).__name__} instead of a format error: {error}")
    assert expected is not None, "read a file that is not UTF-8"
    assert sum(len(tokens) for tokens, _ in sentences) == expected
    assert all(len(tokens) == len(tags) for tokens, tags in sentences)
    CASES["conll sentences"] += 1


class JsonlError(ValueError):
    """The error read_jsonl_objects is asked to raise."""


@FUZZ
@given(data=st.data(), corpus=st.sampled_from(CORPORA))
def test_jsonl_damaged(data: st.DataObject, corpus: str) -> None:
    broken = data.draw(damaged(jsonl_slice(corpus)))
    lines = lines_of(broken)
    expected = None if lines is None else sum(1 for x in lines if x.strip())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.jsonl"
        path.write_bytes(broken)
        try:
            records = list(read_jsonl_objects(path, JsonlError))
        except JsonlError as error:
            check_error(error, path, ())
            CASES["jsonl error"] += 1
            return
        except Exception as error:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{type(error).__name__} instead of the asked error: {error}")
    assert expected is not None, "read a file that is not UTF-8"
    assert len(records) == expected
    CASES["jsonl records"] += 1


@pytest.mark.parametrize("end", LINE_ENDS, ids=("LF", "CRLF", "CR"))
def test_conll_line_ends_read_the_same(tmp_path: Path, end: str) -> None:
    text = conll_slice("bc5cdr")
    path = tmp_path / "train.tsv"
    path.write_bytes(text.replace("\n", end).encode())
    assert read_conll(path).sentences == [
        ([x.split("\t")[0] for x in block.splitlines()], [x.split("\t")[1] for x in block.splitlines()])
        for block in text.strip().split("\n\n")
    ]
