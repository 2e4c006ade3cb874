"""Word alignment and windowing: every word gets exactly one prediction, whatever the maximum length."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from bioner.decoding.windows import IGNORE_INDEX, WordEncoder, label_features, plan_windows, tag_sentences
from tests.fixtures.models import LABELS, ContextFreeTagger


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 6), max_size=40), st.integers(2, 24), st.integers(0, 12))
def test_windows_cover_every_word_within_budget(lengths, budget, stride):
    spans = plan_windows(lengths, budget, min(stride, budget // 2))
    covered = set()
    for (start, end), following in zip(spans, spans[1:] + [None], strict=True):
        assert start < end or not lengths
        assert sum(lengths[start:end]) <= budget or end - start == 1
        covered.update(range(start, end))
        if following:
            assert start < following[0] <= end  # progress, and no gap between windows
    assert covered == set(range(len(lengths)))


def test_short_sentence_is_one_window():
    assert plan_windows([1, 2, 1], budget=10, stride=3) == [(0, 3)]


def test_labels_only_on_first_subword(tiny_bert, demo_splits):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    tokens, tags = demo_splits["train"][0]
    label_ids = [[LABELS.index(t) for t in tags]]
    encoder = WordEncoder(tokenizer, max_length=512)
    (window,) = encoder.windows([tokens])
    (feature,) = label_features([window], label_ids)
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    labelled = [(p, lab) for p, lab in zip(pieces, feature["labels"], strict=True) if lab != IGNORE_INDEX]
    assert [lab for _, lab in labelled] == label_ids[0]
    assert not any(p.startswith("##") or p in ("[CLS]", "[SEP]") for p, _ in labelled)
    assert any(p.startswith("##") for p in pieces)  # the fixture does split words


@pytest.mark.parametrize("max_length", [6, 9, 16])
def test_windowed_predictions_equal_unwindowed(tiny_bert, demo_splits, max_length):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = ContextFreeTagger(tokenizer.vocab_size)
    sentences = [tokens for tokens, _ in demo_splits["test"][:20]]
    reference = tag_sentences(model, tokenizer, sentences, max_length=512, decoding="argmax", progress=False)
    windowed = tag_sentences(
        model,
        tokenizer,
        sentences,
        max_length=max_length,
        stride=2,
        batch_size=3,
        decoding="argmax",
        progress=False,
    )
    assert windowed == reference
    assert [len(t) for t in windowed] == [len(s) for s in sentences]
    assert len(WordEncoder(tokenizer, max_length=max_length, stride=2).windows(sentences)) > len(sentences)


def test_words_without_subwords_still_get_a_tag(tiny_bert, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    model = ContextFreeTagger(tokenizer.vocab_size)
    sentences = [["aspirin", "\u200b", "."], []]
    with caplog.at_level("WARNING"):
        tags = tag_sentences(model, tokenizer, sentences, progress=False)
    assert [len(t) for t in tags] == [3, 0]
    assert "1 words produced no sub-words" in caplog.text


def test_too_small_max_length_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="max_length=3"):
        WordEncoder(AutoTokenizer.from_pretrained(tiny_bert), max_length=3)


def test_redecoding_the_last_scores_equals_a_fresh_call(tiny_bert, demo_splits):
    """train_encoder.py reports argmax beside Viterbi from one forward pass over test: it must match a
    rerun."""
    from bioner.tagging.taggers import EncoderTagger

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    sentences = [tokens for tokens, _ in demo_splits["test"][:20]]
    tagger = EncoderTagger(ContextFreeTagger(tokenizer.vocab_size), tokenizer, decoding="viterbi")
    viterbi = tagger(sentences, progress=False)
    argmax = tagger.redecode("argmax")
    assert argmax != viterbi  # the random table makes invalid BIO that Viterbi repairs
    tagger.decoding = "argmax"
    assert tagger(sentences, progress=False) == argmax
    assert tagger.redecode("viterbi") == viterbi
