"""The document model (bioner.corpora.model): the one ``Document`` that corpora are read into and tag.py
tags."""

from __future__ import annotations

from bioner.corpora.model import Document, Mention, Passage


def test_passage_and_mention_extents() -> None:
    assert Passage(offset=10, text="abc").end == 13
    mention = Mention([(8, 12), (0, 3)], "Disease")
    assert (mention.start, mention.end, mention.is_discontinuous) == (0, 12, True)
    assert not Mention([(0, 3)], "X").is_discontinuous


def test_raw_and_pre_tokenized_documents() -> None:
    raw = Document("d1", "Aspirin works.")
    assert (raw.words, raw.passages, raw.mentions, raw.source) == (None, [], [], "")
    words = ["IL-2", "gene", "expression"]
    tokenized = Document.from_words("d2", words)
    assert (tokenized.id, tokenized.text, tokenized.words) == ("d2", "IL-2 gene expression", words)
    assert tokenized.words is not words  # a copy
    assert Document.from_words("empty", []).text == ""


def test_documents_compare_by_value() -> None:
    first = Document("1", "a b", [Passage(0, "a b", "title")], [Mention([(0, 1)], "X", "a")])
    second = Document("1", "a b", [Passage(0, "a b", "title")], [Mention([(0, 1)], "X", "a")])
    assert first == second
    second.mentions[0].ids.append("D1")
    assert first != second
