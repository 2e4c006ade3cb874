"""Pre-split words through WordPiece, byte-level BPE (RoBERTa) and SentencePiece (DeBERTa-v3) tokenizers.

A model must see each word as it saw it in pre-training, in running text: for byte-level BPE that is " word"
(the leading space is part of the first sub-word, ``Ġword``), for SentencePiece "▁word". The references below
come from the tokenizer files themselves (tokenizers' ``Tokenizer`` for tokenizer.json, ``sentencepiece`` for
spm.model), not from transformers, and the labels must sit on each word's first sub-word inside the
tokenizer's own special-token frame.
"""

import json
import shutil

import pytest
import torch
from sentencepiece import SentencePieceProcessor
from tokenizers import Tokenizer
from transformers import AutoModelForTokenClassification, AutoTokenizer

import train_encoder
from bioner.decoding.windows import IGNORE_INDEX, WordEncoder, label_features, tag_sentences
from bioner.models.registry import load_tokenizer
from bioner.tagging.taggers import load_tagger
from tests.fixtures.models import LABELS, ContextFreeTagger

MODELS = ["tiny_bert", "tiny_roberta", "tiny_deberta_v3"]
FRAME = {
    "tiny_bert": ("[CLS]", "[SEP]"),
    "tiny_roberta": ("<s>", "</s>"),
    "tiny_deberta_v3": ("[CLS]", "[SEP]"),
}
WORD_START = {
    "tiny_roberta": "Ġ",
    "tiny_deberta_v3": "▁",
}  # the space marker that opens a word's first sub-word
TRICKY = [
    ["IL-2", "and", "Ca2+", "signalling", "in", "naïve", "T", "cells", "."],
    ["5-HT", "activates", "β-catenin", "in", "Crohn's", "disease", "(", "CD", ")", "."],
    ["The", "patients'", "TNF-α", "rose", "to", "12.5", "µM", "after", "5'-AMP", ",", "don't", "they", "?"],
]
TRICKY_TAGS = [
    ["B-Chemical", "O", "B-Chemical", "O", "O", "O", "O", "O", "O"],
    ["B-Chemical", "O", "O", "O", "B-Disease", "I-Disease", "O", "B-Disease", "O", "O"],
    ["O", "O", "O", "O", "O", "O", "O", "O", "B-Chemical", "O", "O", "O", "O"],
]


@pytest.fixture(params=MODELS)
def model(request):
    """(fixture name, model directory) for each tokenizer family."""
    return request.param, request.getfixturevalue(request.param)


@pytest.fixture(scope="module")
def sentences(demo_splits):
    """Demo test sentences (tags as label ids) and the tricky words."""
    tagged = demo_splits["test"] + list(zip(TRICKY, TRICKY_TAGS, strict=True))
    return [tokens for tokens, _ in tagged], [[LABELS.index(t) for t in tags] for _, tags in tagged]


def running_text(name, directory):
    """Ids of a text tokenized as running text by the tokenizer files alone, without special tokens."""
    if name == "tiny_deberta_v3":
        return SentencePieceProcessor(model_file=str(directory / "spm.model")).encode  # "▁" before every word
    raw = Tokenizer.from_file(str(directory / "tokenizer.json"))
    if name == "tiny_roberta":
        assert raw.pre_tokenizer.add_prefix_space is False  # as saved, like roberta-base on the Hub
        return lambda text: raw.encode(" " + text, add_special_tokens=False).ids  # a word inside running text
    return lambda text: raw.encode(text, add_special_tokens=False).ids


def test_load_tokenizer_configures_each_family(model):
    name, directory = model
    tokenizer = load_tokenizer(str(directory))
    kind = {
        "tiny_bert": "BertTokenizer",
        "tiny_roberta": "RobertaTokenizer",
        "tiny_deberta_v3": "DebertaV2Tokenizer",
    }
    assert type(tokenizer).__name__ == kind[name]
    pre = tokenizer.backend_tokenizer.pre_tokenizer
    if name == "tiny_roberta":  # byte-level BPE: switched on by load_tokenizer
        assert tokenizer.add_prefix_space is True and pre.add_prefix_space is True
    if (
        name == "tiny_deberta_v3"
    ):  # SentencePiece: "▁" before every pre-split word by default, nothing to pass
        assert "prepend_scheme=always" in str(pre)
    encoded = tokenizer(
        [["IL-2", "naïve"], ["β-catenin"]], is_split_into_words=True, add_special_tokens=False
    )
    assert [encoded.word_ids(0)[0], encoded.word_ids(0)[-1], encoded.word_ids(1)[-1]] == [0, 1, 0]


def test_word_pieces_are_the_words_of_running_text(model, sentences):
    name, directory = model
    tokenizer = load_tokenizer(str(directory))
    reference = running_text(name, directory)
    encoder = WordEncoder(tokenizer)
    pieces = encoder.word_pieces(sentences[0])
    assert encoder.unknown_words == 0
    for words, word_pieces in zip(sentences[0], pieces, strict=True):
        assert word_pieces == [reference(word) for word in words], words
        assert sum(word_pieces, []) == reference(
            " ".join(words)
        )  # a word's pieces do not depend on its neighbours
        first = tokenizer.convert_ids_to_tokens([p[0] for p in word_pieces])
        if name in WORD_START:
            assert all(token.startswith(WORD_START[name]) for token in first), (words, first)
        else:
            assert not any(token.startswith("##") for token in first)


@pytest.mark.parametrize("max_length", [512, 10])
def test_windows_frame_words_and_label_first_subwords(model, sentences, max_length):
    name, directory = model
    tokenizer = load_tokenizer(str(directory))
    encoder = WordEncoder(tokenizer, max_length=max_length, stride=3)
    assert tokenizer.convert_ids_to_tokens(encoder.prefix + encoder.suffix) == list(FRAME[name])
    words, tag_ids = sentences
    pieces = encoder.word_pieces(words)
    windows = encoder.windows(words)
    covered = {i: set() for i in range(len(words))}
    for window, features in zip(windows, label_features(windows, tag_ids), strict=True):
        ids, labels = window.input_ids, features["labels"]
        assert len(ids) <= max_length
        assert (
            ids[: len(encoder.prefix)] == encoder.prefix
            and ids[len(ids) - len(encoder.suffix) :] == encoder.suffix
        )
        expected = (
            encoder.prefix + sum(pieces[window.instance][window.start : window.end], []) + encoder.suffix
        )
        assert ids == expected
        if max_length == 512:  # one window per sentence: exactly what the tokenizer itself produces
            assert window.start == 0 and window.end == len(words[window.instance])
            assert ids == tokenizer(words[window.instance], is_split_into_words=True)["input_ids"]
        positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert positions == window.first_subword
        for word, position in zip(range(window.start, window.end), positions, strict=True):
            assert ids[position] == pieces[window.instance][word][0]
            assert labels[position] == tag_ids[window.instance][word]
        covered[window.instance].update(range(window.start, window.end))
    assert all(covered[i] == set(range(len(w))) for i, w in enumerate(words))
    assert (len(windows) > len(words)) == (max_length == 10)


def test_tag_sentences_gives_one_valid_tag_per_word(model, sentences):
    name, directory = model
    tokenizer = load_tokenizer(str(directory))
    torch.manual_seed(0)
    classifier = AutoModelForTokenClassification.from_pretrained(
        directory,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={t: i for i, t in enumerate(LABELS)},
    ).eval()
    words = sentences[0][:20] + sentences[0][-3:]
    for max_length in (512, 8):  # 8: a few words per window
        tags = tag_sentences(classifier, tokenizer, words, max_length=max_length, stride=2, progress=False)
        assert [len(t) for t in tags] == [len(w) for w in words]
        for sentence_tags in tags:
            for previous, tag in zip(["O", *sentence_tags], sentence_tags, strict=False):
                assert tag in LABELS
                assert not tag.startswith("I-") or previous[2:] == tag[2:]  # valid IOB2 (Viterbi)
    context_free = ContextFreeTagger(len(tokenizer))
    whole = tag_sentences(context_free, tokenizer, words, progress=False)
    assert tag_sentences(context_free, tokenizer, words, max_length=8, stride=2, progress=False) == whole


def test_roberta_without_add_prefix_space_glues_words(tiny_roberta, sentences):
    """Why load_tokenizer sets add_prefix_space: without it a pre-split word is tokenized as if it were glued
    to the previous one ("induced" instead of " induced"), which the model never saw mid-sentence.
    transformers 5 accepts this silently (v4's RobertaTokenizerFast raised for is_split_into_words without
    add_prefix_space)."""
    raw = AutoTokenizer.from_pretrained(tiny_roberta)
    assert raw.add_prefix_space is False
    glued = Tokenizer.from_file(str(tiny_roberta / "tokenizer.json"))
    words = sentences[0]
    encoded = raw([list(s) for s in words], is_split_into_words=True, add_special_tokens=False)
    without = [  # no error, no warning: just other ids
        [
            [i for i, w in zip(encoded["input_ids"][k], encoded.word_ids(k), strict=True) if w == j]
            for j in range(len(s))
        ]
        for k, s in enumerate(words)
    ]
    # WordEncoder notices (a probe against running text) and passes later words with their space.
    repaired = WordEncoder(raw).word_pieces(words)
    for sentence, pieces in zip(words, repaired, strict=True):
        assert [p for piece in pieces for p in piece] == raw(" ".join(sentence), add_special_tokens=False)[
            "input_ids"
        ]
    with_space = WordEncoder(load_tokenizer(str(tiny_roberta))).word_pieces(words)
    for sentence, pieces in zip(words, without, strict=True):
        assert pieces == [glued.encode(word, add_special_tokens=False).ids for word in sentence]
    flat_without = [p for sentence in without for word in sentence for p in word]
    flat_with = [p for sentence in with_space for word in sentence for p in word]
    assert not any(token.startswith("Ġ") for token in raw.convert_ids_to_tokens(flat_without))
    assert len(flat_without) > len(
        flat_with
    )  # merges were learned on " word": glued words split into more pieces
    differing = sum(
        a != b for s, t in zip(without, with_space, strict=True) for a, b in zip(s, t, strict=True)
    )
    assert differing == sum(len(s) for s in words)  # every single word is tokenized differently


@pytest.mark.parametrize(
    ("tokenizer_class", "model_type"),
    [
        ("PreTrainedTokenizerFast", "roberta"),
        ("TokenizersBackend", "roberta"),
        ("RobertaTokenizer", "data2vec-text"),
    ],
)
def test_byte_level_prefix_space_whatever_the_tokenizer_class(
    tiny_roberta, sentences, tmp_path, tokenizer_class, model_type
):
    """A repo that ships only tokenizer.json loads as a generic class that ignores ``add_prefix_space=True``,
    and a RoBERTa-style model type outside the list gets no option: load_tokenizer fixes the byte-level
    backend itself."""
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):  # no vocab.json/merges.txt
        shutil.copy(tiny_roberta / name, tmp_path / name)
    for name, key, value in (
        ("tokenizer_config.json", "tokenizer_class", tokenizer_class),
        ("config.json", "model_type", model_type),
    ):
        settings = json.loads((tmp_path / name).read_text())
        settings[key] = value
        (tmp_path / name).write_text(json.dumps(settings))
    tokenizer = load_tokenizer(str(tmp_path))
    words = sentences[0]
    assert WordEncoder(tokenizer).word_pieces(words) == WordEncoder(
        load_tokenizer(str(tiny_roberta))
    ).word_pieces(words)
    assert (
        load_tokenizer(str(tmp_path), add_prefix_space=False).backend_tokenizer.pre_tokenizer.add_prefix_space
        is False
    )


def test_deberta_v3_hub_layout_with_only_spm_model_loads(tiny_deberta_v3, sentences, tmp_path):
    """microsoft/deberta-v3-* ship spm.model with no tokenizer.json, so transformers converts the
    SentencePiece model when loading; the result must tokenize like the saved tokenizer.json."""
    for name in ("spm.model", "config.json"):
        shutil.copy(tiny_deberta_v3 / name, tmp_path / name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    converted = load_tokenizer(str(tmp_path))
    saved = load_tokenizer(str(tiny_deberta_v3))
    assert WordEncoder(converted).word_pieces(sentences[0]) == WordEncoder(saved).word_pieces(sentences[0])
    assert (WordEncoder(converted).prefix, WordEncoder(converted).suffix) == (
        WordEncoder(saved).prefix,
        WordEncoder(saved).suffix,
    )


@pytest.mark.parametrize("name", ["tiny_roberta", "tiny_deberta_v3"])
def test_train_encoder_end_to_end(request, name, tmp_path):
    directory = request.getfixturevalue(name)
    args = ["--model_name_or_path", str(directory), "--dataset", "demo", "--output_dir", str(tmp_path)]
    args += [
        "--max_train_samples",
        "64",
        "--max_eval_samples",
        "16",
        "--num_train_epochs",
        "1",
        "--learning_rate",
        "1e-3",
    ]
    args += [
        "--per_device_train_batch_size",
        "16",
        "--logging_steps",
        "1000",
        "--use_cpu",
        "--disable_tqdm",
        "true",
    ]
    result = train_encoder.main(args)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved) == {"dev", "test", "meta"} and saved["test"] == result["scores"]["test"]
    assert saved["test"]["num_sentences"] == saved["dev"]["num_sentences"] == 16
    records = [json.loads(line) for line in (tmp_path / "predictions_test.jsonl").read_text().splitlines()]
    assert len(records) == 16 and all(len(r["pred"]) == len(r["tokens"]) for r in records)
    tagger = load_tagger(str(tmp_path))  # the saved tokenizer must tokenize as the base model's
    original = load_tokenizer(str(directory))
    assert WordEncoder(tagger.tokenizer).word_pieces(TRICKY) == WordEncoder(original).word_pieces(TRICKY)
    assert [len(tags) for tags in tagger(TRICKY, progress=False)] == [len(words) for words in TRICKY]
