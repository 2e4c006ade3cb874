"""Checks of a mention against its document's text (bioner.corpora.checks): offsets, text, counted repairs."""

from __future__ import annotations

import pytest

from bioner.corpora.checks import PART_MISMATCH, TEXT_TRIMMED, TEXT_WHITESPACE, check_mention, covered_text
from bioner.corpora.model import Mention
from bioner.corpora.problems import CorpusFormatError, Repairs

TEXT = "renal  and liver failure"


def test_covered_text_joins_fragments_with_single_spaces() -> None:
    assert covered_text(TEXT, Mention([(0, 5), (17, 24)], "Disease")) == "renal failure"


def test_empty_text_is_filled_in_and_exact_text_passes() -> None:
    repairs = Repairs()
    mention = Mention([(11, 16)], "Organ")
    check_mention(TEXT, mention, "f", 1, repairs)
    assert mention.text == "liver"
    check_mention(TEXT, Mention([(11, 16)], "Organ", "liver"), "f", 1, repairs)
    assert not repairs.counts


def test_whitespace_differences_are_repaired_and_counted() -> None:
    repairs = Repairs()
    trimmed = Mention([(0, 5)], "Disease", " renal ")
    check_mention(TEXT, trimmed, "f", 3, repairs)
    spaced = Mention([(0, 10)], "Disease", "renal and")
    check_mention(TEXT, spaced, "f", None, repairs)
    assert (trimmed.text, spaced.text) == ("renal", "renal  and")
    assert repairs.counts == {TEXT_TRIMMED: 1, TEXT_WHITESPACE: 1}
    assert repairs.examples[TEXT_TRIMMED] == ["f:3 ' renal '"]


def test_composite_part_mismatch_is_kept_and_counted() -> None:
    repairs = Repairs()
    part = Mention([(0, 5)], "Disease", "renal failure")
    check_mention(TEXT, part, "f", 2, repairs, part=True)
    assert part.text == "renal failure"
    assert repairs.counts == {PART_MISMATCH: 1}


@pytest.mark.parametrize(
    ("mention", "message"),
    [
        (Mention([], "X", "a"), "has no offsets"),
        (Mention([(20, 30)], "X"), "offsets 20-30 outside the document text"),
        (Mention([(3, 3)], "X"), "or an empty span"),
        (Mention([(0, 5)], "X", "liver"), "differs from the document text at 0-5: 'renal'"),
    ],
)
def test_refused_mentions_name_file_and_line(mention: Mention, message: str) -> None:
    with pytest.raises(CorpusFormatError, match=f"^doc.xml:9: .*{message}"):
        check_mention(TEXT, mention, "doc.xml", 9, Repairs())
