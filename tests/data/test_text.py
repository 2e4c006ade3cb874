"""Raw text to words and sentences (bioner.data.text): the corpora's tokenization styles, offsets, sentence
ends."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner.data.conll import read_conll
from bioner.data.registry import resolve_data_dir
from bioner.data.text import detokenize, infer_word_style, split_sentences, tokenize


def words(text: str, style: str = "split") -> list[str]:
    return [text[a:b] for a, b in tokenize(text, style)]


def sentences(text: str, style: str = "split") -> list[str]:
    spans = tokenize(text, style)
    return [text[spans[first][0] : spans[last - 1][1]] for first, last in split_sentences(text, spans)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IL-2 and Ca2+ raised 5-HT", ["IL", "-", "2", "and", "Ca2", "+", "raised", "5", "-", "HT"]),
        ("2.5 mg/kg (i.v.)", ["2", ".", "5", "mg", "/", "kg", "(", "i", ".", "v", ".", ")"]),
        ("β-catenin\tand\u00a0TNF-α", ["β", "-", "catenin", "and", "TNF", "-", "α"]),
        ("nai\u0308ve cells", ["nai\u0308ve", "cells"]),  # a combining mark stays inside its word
        ("zero\u200bwidth \ufeffBOM", ["zero", "width", "BOM"]),  # format characters separate words
        ("dose 🙂 ok", ["dose", "🙂", "ok"]),
    ],
)
def test_split_style_matches_pubtator_tokens(text, expected):
    assert words(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(IL-2), Ca2+ and 5-HT.", ["(", "IL-2", ")", ",", "Ca2+", "and", "5-HT", "."]),
        (
            "CD4+ NK3.3 cells' 5'-flanking region's",
            ["CD4+", "NK3.3", "cells", "'", "5'-flanking", "region", "'s"],
        ),
        ("p=0.05; 10% of ``NF-kappa B''", ["p", "=", "0.05", ";", "10", "%", "of", "``NF-kappa", "B", "''"]),
    ],
)
def test_genia_style_keeps_inner_punctuation(text, expected):
    assert words(text, "genia") == expected


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown word style 'spacy'"):
        tokenize("x", "spacy")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Aspirin helps. It is cheap.", ["Aspirin helps.", "It is cheap."]),
        (
            "Doses (e.g. 2.5 mg) vary. Smith et al. Reported it.",
            ["Doses (e.g. 2.5 mg) vary.", "Smith et al. Reported it."],
        ),
        ('He said "stop." Then left!  (2) More?', ['He said "stop."', "Then left!", "(2) More?"]),
        ("See Fig. 3 for J. Smith's data. ok.", ["See Fig. 3 for J. Smith's data. ok."]),
        ("Title without stop\n\nBody text", ["Title without stop", "Body text"]),
        ("wrapped\nline continues", ["wrapped\nline continues"]),
    ],
)
def test_sentence_ends(text, expected):
    assert sentences(text) == expected


def test_no_words_no_sentences():
    assert tokenize(" \t\n\u200b") == []
    assert split_sentences(" ", []) == []


PIECES = [*"aZ9é.-+()/,;'\"%\t\n \u00a0\u200bαβ中🙂", "e\u0301", ". ", "\n\n", "et al. ", "2.5"]
SOURCES = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(text=SOURCES, style=st.sampled_from(["split", "genia"]))
def test_words_cover_every_visible_character_once(text, style):
    spans = tokenize(text, style)
    covered = [False] * len(text)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        previous_end = end
        for i in range(start, end):
            covered[i] = True
            assert not text[i].isspace()
    for i, char in enumerate(text):  # nothing visible is dropped
        assert covered[i] or char.isspace() or unicodedata.category(char) in ("Cc", "Cf")
    ranges = split_sentences(text, spans)
    assert [i for first, last in ranges for i in range(first, last)] == list(range(len(spans)))


def _corpus(name: str, split: str) -> list[list[str]]:
    path = resolve_data_dir() / name / f"{split}.tsv"
    if not path.is_file():
        pytest.fail(f"real corpus missing: {path} (set BIONER_DATA_DIR)")
    return [tokens for tokens, _ in read_conll(path).sentences]


@pytest.mark.parametrize(("name", "style"), [("bc5cdr", "split"), ("chemprot", "split"), ("jnlpba", "genia")])
def test_style_inferred_from_training_tokens_and_text_rebuilt(name, style):
    """The documented rule holds on the real corpora: rejoined test sentences cut back into the same
    tokens."""
    assert infer_word_style(token for tokens in _corpus(name, "train") for token in tokens) == style
    test = _corpus(name, "test")
    same = sum(words(detokenize(tokens)[0], style) == tokens for tokens in test)
    assert same / len(test) >= (1.0 if style == "split" else 0.96), (same, len(test))


def test_detokenize_spans_point_at_tokens():
    tokens = ["A", "56", "-", "year", "-", "old", "(", "2", ".", "5", "mg", ")", "patient", "."]
    text, spans = detokenize(tokens)
    assert text == "A 56-year-old (2.5 mg) patient."
    assert [text[a:b] for a, b in spans] == tokens
