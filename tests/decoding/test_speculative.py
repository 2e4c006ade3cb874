"""Speculative decoding: a draft checked by the decoder gives constrained decoding's tags in fewer passes."""

from __future__ import annotations

import random
import statistics

import pytest

from bioner.decoding.generative import ALL_O_DRAFT, ConstrainedDecoder, SpeculativeDecoder
from bioner.models.registry import ModelLoadError
from bioner.tagging.taggers import load_tagger
from tests.fixtures.decoders import train_instances


def _decoders(run_dir, draft, batch_size):
    tagger = load_tagger(str(run_dir))
    constrained = ConstrainedDecoder(tagger.model, tagger.answers, batch_size=batch_size)
    return constrained, SpeculativeDecoder(tagger.model, tagger.answers, draft, batch_size=batch_size)


def _fixed(drafts_by_words):
    return lambda sentences, progress=False: [drafts_by_words[tuple(words)] for words in sentences]


def _sentences():
    words, gold = train_instances(16)
    no_entity = ["The", "patients", "were", "seen", "in", "the", "clinic", "."]
    return words + [no_entity, ["."]], gold + [["O"] * len(no_entity), ["O"]]


@pytest.mark.parametrize("draft_kind", ["gold", "random", "all-O", "invalid-bio"])
@pytest.mark.parametrize("batch_size", [1, 5])
def test_speculative_output_is_constrained_output(overfit_run, draft_kind, batch_size):
    words, gold = _sentences()
    labels = sorted({tag for tags in gold for tag in tags})
    rng = random.Random(len(draft_kind) * 10 + batch_size)
    if draft_kind == "gold":
        draft = _fixed({tuple(w): g for w, g in zip(words, gold, strict=True)})
    elif draft_kind == "random":
        draft = _fixed({tuple(w): [rng.choice(labels) for _ in w] for w in words})
    elif draft_kind == "invalid-bio":  # orphan I- tags everywhere: the draft is repaired, never trusted
        draft = _fixed({tuple(w): ["I-Chemical"] * len(w) for w in words})
    else:
        draft = ALL_O_DRAFT
    constrained, speculative = _decoders(overfit_run[0], draft, batch_size)
    reference = constrained(words, progress=False)
    output = speculative(words, progress=False)
    assert output.tags == reference.tags
    for passes, corrections, final in zip(
        output.forward_passes, output.corrections, output.final_corrections, strict=True
    ):
        assert passes == 1 + corrections - final
    assert sum(output.forward_passes) < sum(reference.forward_passes)
    if draft_kind == "gold":  # the model memorised these sentences: the gold draft is accepted at once
        assert statistics.median(output.forward_passes) == 1
    if draft_kind == "random":
        assert sum(output.corrections) > 0  # the check is not vacuous


def test_a_perfect_draft_costs_one_pass(overfit_run):
    words, _ = _sentences()
    constrained, _ = _decoders(overfit_run[0], ALL_O_DRAFT, 4)
    reference = constrained(words, progress=False)
    draft = _fixed({tuple(w): t for w, t in zip(words, reference.tags, strict=True)})
    output = SpeculativeDecoder(constrained.model, constrained.answers, draft, batch_size=4)(
        words, progress=False
    )
    assert output.tags == reference.tags
    assert output.forward_passes == [1] * len(words)
    assert output.corrections == [0] * len(words)


def test_empty_sentence_needs_no_pass(overfit_run):
    constrained, speculative = _decoders(overfit_run[0], ALL_O_DRAFT, 2)
    output = speculative([[], ["Aspirin"]], progress=False)
    assert output.tags[0] == [] and output.forward_passes[0] == 0
    assert output.tags[1] == constrained([["Aspirin"]], progress=False).tags[0]


def test_encoder_draft_through_load_tagger(overfit_run, demo_encoder):
    words, _ = _sentences()
    reference = load_tagger(str(overfit_run[0]), decoding="constrained", batch_size=4)(words, progress=False)
    tagger = load_tagger(
        str(overfit_run[0]), decoding="speculative", draft_model=str(demo_encoder), batch_size=4
    )
    assert tagger(words, progress=False) == reference
    stats = tagger.last_stats
    assert stats["decoding"] == "speculative"
    assert 0.0 <= stats["draft_tag_agreement"] <= 1.0
    assert stats["draft_tags"] == sum(map(len, words))
    for passes, corrections, windows, final in zip(
        stats["forward_passes"],
        stats["corrections"],
        stats["windows"],
        stats["final_corrections"],
        strict=True,
    ):
        assert passes == windows + corrections - final


def test_speculative_on_windowed_instances(overfit_run):
    words, _ = _sentences()
    reference = load_tagger(str(overfit_run[0]), decoding="constrained", max_length=120)(
        words, progress=False
    )
    tagger = load_tagger(str(overfit_run[0]), decoding="speculative", max_length=120)
    assert tagger(words, progress=False) == reference
    assert tagger.last_stats["windowed_instances"] > 0
    assert max(tagger.last_stats["windows"]) > 1


def test_draft_with_other_labels_is_refused(overfit_run):
    tagger = load_tagger(str(overfit_run[0]))

    class GeneDraft:
        labels = ["O", "B-Gene", "I-Gene"]

        def __call__(self, sentences, progress=False):
            return [["O"] * len(s) for s in sentences]

    with pytest.raises(ValueError, match="B-Gene"):
        SpeculativeDecoder(tagger.model, tagger.answers, GeneDraft())


def test_draft_model_must_be_an_encoder_and_needs_speculative(overfit_run):
    with pytest.raises(ModelLoadError, match="only used by --decoding speculative"):
        load_tagger(str(overfit_run[0]), decoding="constrained", draft_model=ALL_O_DRAFT)
    with pytest.raises(ModelLoadError, match="must be an encoder"):
        load_tagger(str(overfit_run[0]), decoding="speculative", draft_model=str(overfit_run[0]))


def test_encoder_scores_give_its_viterbi_tags(demo_encoder):
    """The draft's scores are the encoder's own: Viterbi over them is exactly what the encoder tags."""
    from bioner.decoding.viterbi import decode_tags

    words, _ = _sentences()
    encoder = load_tagger(str(demo_encoder))
    scores = encoder.word_log_probs(words)
    assert [s.shape for s in scores] == [(len(w), len(encoder.labels)) for w in words]
    assert [decode_tags(s, encoder.labels) for s in scores] == encoder(words, progress=False)


def test_a_rejected_entity_is_redrafted_from_the_verified_tag(overfit_run):
    """After the decoder rejects an entity start, the rest is re-drafted from its tag: no orphan I- tags
    left."""
    import numpy as np

    from bioner.decoding.generative import DecodeOutput

    tagger = load_tagger(str(overfit_run[0]))
    labels = tagger.labels
    rows = {"B-Chemical": [0.3, 0.7], "I-Chemical": [0.3, 0.1, 0.6], "O": [0.9]}  # O, B-Chemical, I-Chemical

    def row(first: str) -> list[float]:
        probs = dict(zip(["O", "B-Chemical", "I-Chemical"], rows[first], strict=False))
        return np.log([probs.get(label, 0.0) + 1e-6 for label in labels])

    class ScoringDraft:
        def __init__(self):
            self.labels = labels

        def word_log_probs(self, sentences):
            return [
                np.array([row("B-Chemical"), row("I-Chemical"), row("I-Chemical"), row("O")])
                for _ in sentences
            ]

    words = [["Aspirin", "sodium", "salt", "."]]
    decoder = SpeculativeDecoder(tagger.model, tagger.answers, ScoringDraft())
    (inst,) = decoder._instances([0], words, DecodeOutput([], [], []))
    assert inst.draft == ["B-Chemical", "I-Chemical", "I-Chemical", "O"]
    inst.word, inst.state = 1, "O"  # as if the decoder had tagged word 0 "O"
    decoder._redraft(inst)
    assert inst.draft == ["B-Chemical", "O", "O", "O"]
    reference = ConstrainedDecoder(tagger.model, tagger.answers)(words, progress=False)
    output = decoder(words, progress=False)
    assert output.tags == reference.tags
    assert output.forward_passes[0] == 1 + output.corrections[0] - output.final_corrections[0]
