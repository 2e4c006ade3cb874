"""The confidence cascade: which sentences go to the large tagger, its stats, manifests and script options."""

from __future__ import annotations

import json

import numpy as np
import pytest

import evaluate_ner
from bioner.models.errors import ModelLoadError
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.cascade import (
    CascadeTagger,
    fit_temperature,
    merge_span_tags,
    routed_indices,
    save_cascade,
    sentence_confidence,
    span_windows,
)
from bioner.tagging.ensemble import log_softmax
from bioner.tagging.taggers import DecoderTagger, load_tagger
from tests.fixtures.models import LABELS

# Per sentence, the planted best-tag probability of each word: the lowest is the sentence's confidence.
PLANTED = [[0.99, 0.95], [0.97, 0.5, 0.9], [0.92], [0.99, 0.99], [0.7, 0.98]]
SENTENCES = [[f"s{i}w{j}" for j in range(len(words))] for i, words in enumerate(PLANTED)]


def planted_scores(best: float) -> np.ndarray:
    """Log-probabilities of one word: ``best`` on O, the rest spread evenly."""
    rest = (1 - best) / (len(LABELS) - 1)
    return np.log([best] + [rest] * (len(LABELS) - 1))


class PlantedSmall:
    labels, decoding, word_style, batch_size = LABELS, "viterbi", None, 8

    def word_log_probs(self, sentences, progress=False):
        return [
            np.stack([planted_scores(PLANTED[int(w[0][1])][j]) for j in range(len(w))]) for w in sentences
        ]


class RecordingLarge:
    """Tags every word B-Chemical and remembers what it was given."""

    labels, word_style, batch_size = LABELS, None, 8

    def __init__(self):
        self.calls = []

    def __call__(self, sentences, progress=False):
        self.calls.append([list(s) for s in sentences])
        return [["B-Chemical"] * len(s) for s in sentences]


def test_the_cascade_routes_exactly_the_sentences_under_the_threshold():
    large = RecordingLarge()
    cascade = CascadeTagger(PlantedSmall(), large, threshold=0.93)
    tags = cascade(SENTENCES, progress=False)
    assert cascade.last_confidences == pytest.approx([0.95, 0.5, 0.92, 0.99, 0.7])
    assert large.calls == [[SENTENCES[1], SENTENCES[2], SENTENCES[4]]]
    assert [i for i, t in enumerate(tags) if "B-Chemical" in t] == [1, 2, 4]
    assert tags[0] == ["O", "O"] and tags[3] == ["O", "O"]
    stats = cascade.last_stats
    assert stats["cascade_routed"] == 3 and stats["cascade_routed_fraction"] == 0.6
    assert stats["routed_indices"] == [1, 2, 4]
    assert cascade.last_seconds >= stats["cascade_small_seconds"] + stats["cascade_large_seconds"] - 1e-3
    assert CascadeTagger(PlantedSmall(), large, threshold=0.5)(SENTENCES, progress=False) == [
        ["O"] * len(s) for s in SENTENCES
    ]  # nothing strictly under 0.5: the large tagger is not called
    assert len(large.calls) == 1


def test_span_windows_cover_doubtful_words_without_cutting_entities():
    small = ["O", "O", "B-Chemical", "I-Chemical", "I-Chemical", "O", "O", "O", "O", "O", "O", "O"]
    # word 3 is doubtful: core 2..4 widened to the whole entity 2..5; read with 2 words either side
    assert span_windows(small, [3], radius=1, context=2) == [(0, 7, [(2, 5)])]
    # two doubtful words far apart: two windows; close ones: one window with two cores
    assert span_windows(small, [0, 10], radius=0, context=1) == [(0, 2, [(0, 1)]), (9, 12, [(10, 11)])]
    assert span_windows(small, [0, 7], radius=0, context=3) == [(0, 11, [(0, 1), (7, 8)])]
    assert span_windows(small, [], radius=2, context=2) == []


def test_merged_span_tags_take_the_large_tags_on_cores_only():
    small = ["O", "O", "O", "O", "O", "O", "B-Disease"]
    windows = [(1, 6, [(3, 4)])]
    # the large tagger sees words 1..5 and finds an entity 2..4: the core widens to keep it whole
    large = [["O", "B-Chemical", "I-Chemical", "O", "B-Disease"]]
    assert merge_span_tags(small, windows, large) == [
        "O",
        "O",
        "B-Chemical",
        "I-Chemical",
        "O",
        "O",
        "B-Disease",
    ]
    # outside its core the large tagger's B-Disease at word 5 is not taken
    # an I- left after an O at a core's edge becomes B-
    assert merge_span_tags(["O", "O", "O"], [(0, 3, [(1, 2)])], [["O", "I-Chemical", "O"]]) == [
        "O",
        "B-Chemical",
        "O",
    ]


def test_span_routing_sends_only_windows_of_routed_sentences():
    large = RecordingLarge()
    cascade = CascadeTagger(PlantedSmall(), large, threshold=0.93, span_radius=0, span_context=0)
    tags = cascade(SENTENCES, progress=False)
    # sentence 1 (0.5 and 0.9 at words 1, 2: adjacent cores merge), 2 (0.92 at word 0), 4 (0.7 at word 0)
    assert large.calls == [[SENTENCES[1][1:], [SENTENCES[2][0]], [SENTENCES[4][0]]]]
    assert tags[1] == ["O", "B-Chemical", "B-Chemical"] and tags[2] == ["B-Chemical"]
    assert tags[4] == ["B-Chemical", "O"]
    assert tags[0] == ["O", "O"] and tags[3] == ["O", "O"]
    stats = cascade.last_stats
    assert stats["cascade_routed"] == 3 and stats["cascade_windows"] == 3
    assert stats["cascade_large_words_fraction"] == round(4 / sum(map(len, SENTENCES)), 4)
    wide_large = RecordingLarge()
    wide = CascadeTagger(PlantedSmall(), wide_large, threshold=0.93, span_radius=0, span_context=5)
    # context wider than the sentence: the large tagger reads whole sentences, its tags used on cores only
    assert wide(SENTENCES, progress=False) == tags
    assert wide_large.calls == [[SENTENCES[1], SENTENCES[2], SENTENCES[4]]]
    with pytest.raises(ModelLoadError, match="span routing"):
        CascadeTagger(PlantedSmall(), large, fraction=0.2, span_radius=1)
    with pytest.raises(ModelLoadError, match="need --cascade_to"):
        TaggerArguments(cascade_span_radius=2).load("x")


def test_fraction_routing_takes_the_least_confident_of_each_call():
    large = RecordingLarge()
    cascade = CascadeTagger(PlantedSmall(), large, fraction=0.4)
    cascade(SENTENCES, progress=False)
    assert large.calls[-1] == [SENTENCES[1], SENTENCES[4]]
    assert routed_indices([0.3, 0.3, 0.9], None, 0.34) == [0]  # ties by position
    assert routed_indices([0.3, 0.1], None, 0.0) == []


def test_confidences_and_temperature():
    scores = np.log([[0.6, 0.3, 0.05, 0.03, 0.02], [0.9, 0.05, 0.03, 0.01, 0.01]])
    assert sentence_confidence(scores) == pytest.approx(0.6)
    assert sentence_confidence(scores, "margin") == pytest.approx(0.3)
    assert sentence_confidence(np.zeros((0, 5))) == 1.0
    hotter = sentence_confidence(scores, temperature=2.0)
    assert hotter < 0.6 and hotter == pytest.approx(np.exp(log_softmax(scores / 2.0)).max(axis=-1).min())


def test_the_fitted_temperature_recovers_a_planted_one():
    rng = np.random.default_rng(0)
    logits = rng.normal(scale=3.0, size=(4000, len(LABELS)))
    true_probs = np.exp(log_softmax(logits / 2.5))  # the gold tags follow a model 2.5x less sure
    gold = [LABELS[rng.choice(len(LABELS), p=p)] for p in true_probs]
    fitted = fit_temperature([log_softmax(logits)], [gold], LABELS)
    assert fitted == pytest.approx(2.5, rel=0.1)


def test_a_real_cascade_keeps_the_small_tags_and_takes_the_large_ones_where_routed(member_a, member_b):
    small, large = load_tagger(str(member_a), device="cpu"), load_tagger(str(member_b), device="cpu")
    sentences = [["Cisplatin", "induced", "nephrotoxicity", "."], ["Lithium", "toxicity"], ["rats"], ["the"]]
    confidences = [sentence_confidence(s) for s in small.word_log_probs(sentences)]
    threshold = float(np.median(confidences))
    cascade = TaggerArguments(cascade_to=str(member_b), cascade_threshold=threshold).load(
        str(member_a), "cpu"
    )
    tags = cascade(sentences, progress=False)
    routed = [i for i, c in enumerate(confidences) if c < threshold]
    assert 0 < len(routed) < len(sentences)
    small_tags, large_tags = small(sentences, progress=False), large(sentences, progress=False)
    assert tags == [large_tags[i] if i in routed else small_tags[i] for i in range(len(sentences))]


def test_a_cascade_manifest_loads_with_a_generative_large_model(member_a, untrained_decoder, tmp_path):
    folder = tmp_path / "cascade"
    save_cascade(folder, str(member_a), str(untrained_decoder), threshold=1.01, temperature=1.5)
    cascade = load_tagger(str(folder), device="cpu")
    assert isinstance(cascade, CascadeTagger) and isinstance(cascade.large, DecoderTagger)
    assert cascade.temperature == 1.5
    sentences = [["Lithium", "toxicity"], ["rats", "."]]
    assert cascade(sentences, progress=False) == cascade.large(sentences, progress=False)
    assert cascade.last_stats["cascade_routed"] == 2
    with pytest.raises(ValueError, match="exactly one of threshold or fraction"):
        save_cascade(tmp_path / "other", str(member_a), str(member_a), threshold=0.5, fraction=0.2)


def test_cascade_errors_are_one_line(member_a, untrained_decoder, tiny_bert, tmp_path):
    decoder = load_tagger(str(untrained_decoder), device="cpu")
    small = load_tagger(str(member_a), device="cpu")
    with pytest.raises(ModelLoadError, match="has no word scores"):
        CascadeTagger(decoder, small, threshold=0.9, names=("llm", "a"))
    with pytest.raises(ModelLoadError, match="exactly one of threshold or fraction"):
        CascadeTagger(small, small)
    with pytest.raises(ModelLoadError, match="need --cascade_to"):
        TaggerArguments(cascade_threshold=0.9).load(str(member_a), "cpu")
    with pytest.raises(ModelLoadError, match="not both"):
        TaggerArguments(cascade_to=str(member_a), cascade_threshold=0.9, cascade_fraction=0.1).load("x")
    with pytest.raises(ModelLoadError, match="needs --cascade_threshold or --cascade_fraction"):
        TaggerArguments(cascade_to=str(member_a)).load(str(member_a), "cpu")


def test_evaluate_ner_runs_a_cascade_and_records_its_routing(member_a, member_b, tmp_path):
    args = ["--model", str(member_a), "--dataset", "demo", "--max_instances", "8", "--batch_size", "4"]
    cascade = ["--cascade_to", str(member_b), "--cascade_fraction", "0.25"]
    result = evaluate_ner.main([*args, *cascade, "--output_dir", str(tmp_path / "eval")])
    assert result["meta"]["cascade_routed"] == 2 and result["meta"]["cascade_routed_fraction"] == 0.25
    saved = json.loads((tmp_path / "eval" / "results.json").read_text())["meta"]
    assert saved["evaluation"]["cascade_to"].endswith("member-b")  # stored portably
    evaluate_ner.main([*args, "--output_dir", str(tmp_path / "small")])  # the small model alone
    with pytest.raises(SystemExit, match="another run"):  # never replaces the cascade's results
        evaluate_ner.main([*args, "--output_dir", str(tmp_path / "eval")])
    spans = ["--cascade_to", str(member_b), "--cascade_threshold", "1.01", "--cascade_span_radius", "0",
             "--cascade_span_context", "1"]  # fmt: skip
    result = evaluate_ner.main([*args, *spans, "--output_dir", str(tmp_path / "spans")])
    meta = result["meta"]
    assert meta["cascade_routed_fraction"] == 1.0 and meta["cascade_large_words_fraction"] == 1.0
    assert meta["evaluation"]["cascade_span_radius"] == 0 and meta["evaluation"]["cascade_span_context"] == 1
    with pytest.raises(SystemExit, match="another run"):  # the span cascade is a run of its own
        evaluate_ner.main([*args, *spans[:4], "--output_dir", str(tmp_path / "spans")])
