"""Errors and counted repairs shared by the corpus readers (bioner.corpora.problems)."""

from __future__ import annotations

import logging

import pytest

from bioner.corpora.problems import SHOWN_EXAMPLES, CorpusFormatError, Repairs
from bioner.data.files import DataFormatError


def test_corpus_errors_are_data_errors_naming_where() -> None:
    error = CorpusFormatError("c.xml", "document '7': no text", 12)
    assert isinstance(error, DataFormatError) and str(error) == "c.xml:12: document '7': no text"
    copied = CorpusFormatError.from_error(DataFormatError("f.txt", "bad byte", 3))
    assert isinstance(copied, CorpusFormatError) and str(copied) == "f.txt:3: bad byte"


def test_repairs_count_all_and_keep_the_first_examples(caplog: pytest.LogCaptureFixture) -> None:
    repairs = Repairs()
    for line in range(1, 6):
        repairs.add("trimmed", f"f:{line}")
    repairs.add("duplicate", "f:9")
    assert repairs.counts == {"trimmed": 5, "duplicate": 1}
    assert repairs.examples["trimmed"] == [f"f:{n}" for n in range(1, SHOWN_EXAMPLES + 1)]
    assert repairs.as_dict() == {
        "duplicate": {"count": 1, "examples": ["f:9"]},
        "trimmed": {"count": 5, "examples": ["f:1", "f:2", "f:3"]},
    }
    caplog.set_level(logging.WARNING, logger="bioner.corpora")
    repairs.log("f")
    assert [r.getMessage() for r in caplog.records] == [
        "f: duplicate: 1 time(s); e.g. f:9",
        "f: trimmed: 5 time(s); e.g. f:1; f:2; f:3",
    ]


def test_merge_adds_counts_and_tops_up_examples() -> None:
    first, second = Repairs(), Repairs()
    first.add("trimmed", "a:1")
    for line in range(1, 4):
        second.add("trimmed", f"b:{line}")
    second.add("other", "b:9")
    first.merge(second)
    assert first.counts == {"trimmed": 4, "other": 1}
    assert first.examples == {"trimmed": ["a:1", "b:1", "b:2"], "other": ["b:9"]}
