"""Constrained, speculative and free decoding on a tiny random decoder: same machinery, costs counted."""

from __future__ import annotations

import pytest

from bioner.decoding.generative import (
    ALL_O_DRAFT,
    DECODING_MODES,
    ConstrainedDecoder,
    FreeDecoder,
    SpeculativeDecoder,
    make_decoder,
)
from bioner.decoding.viterbi import allowed_transitions
from bioner.tagging.taggers import load_tagger
from tests.fixtures.models import LABELS

SENTENCES = [
    ["Cisplatin", "induced", "nephrotoxicity", "in", "rats", "."],
    ["Aspirin", "."],
    ["The", "patients", "were", "seen", "."],
]


@pytest.fixture(scope="module")
def decoder(untrained_decoder):
    return load_tagger(str(untrained_decoder), device="cpu")


def _valid_bio(tags: list[str]) -> bool:
    start_ok, step_ok = allowed_transitions(LABELS)
    index = [LABELS.index(tag) for tag in tags]
    return not index or (
        start_ok[index[0]] and all(step_ok[a][b] for a, b in zip(index, index[1:], strict=False))
    )


@pytest.mark.parametrize("batch_size", [1, 2])
def test_constrained_gives_valid_bio_in_one_pass_per_word(decoder, batch_size):
    output = ConstrainedDecoder(decoder.model, decoder.answers, batch_size=batch_size)(
        SENTENCES, progress=False
    )
    assert [len(tags) for tags in output.tags] == [len(words) for words in SENTENCES]
    assert all(_valid_bio(tags) for tags in output.tags)
    assert output.forward_passes == [len(words) for words in SENTENCES]  # tags format: one token per tag
    assert all(n >= len(words) for n, words in zip(output.generated_tokens, SENTENCES, strict=True))


@pytest.mark.parametrize("draft_kind", ["all-O", "constrained", "orphan-I"])
def test_speculative_gives_constrained_tags_and_counts_its_passes(decoder, draft_kind):
    reference = ConstrainedDecoder(decoder.model, decoder.answers, batch_size=2)(SENTENCES, progress=False)
    if draft_kind == "all-O":
        draft = ALL_O_DRAFT
    else:
        by_words = {
            tuple(words): tags if draft_kind == "constrained" else ["I-Chemical"] * len(words)
            for words, tags in zip(SENTENCES, reference.tags, strict=True)
        }
        draft = lambda sentences, progress=False: [by_words[tuple(words)] for words in sentences]  # noqa: E731
    output = SpeculativeDecoder(decoder.model, decoder.answers, draft, batch_size=2)(
        SENTENCES, progress=False
    )
    assert output.tags == reference.tags
    for passes, corrections, final in zip(
        output.forward_passes, output.corrections, output.final_corrections, strict=True
    ):
        assert passes == 1 + corrections - final
    if draft_kind == "constrained":  # a draft equal to the answer is accepted in one pass
        assert output.forward_passes == [1, 1, 1] and sum(output.corrections) == 0
    else:
        assert len(output.drafts) == len(SENTENCES)


def test_free_decoding_is_aligned_to_the_words_whatever_the_model_writes(decoder):
    output = FreeDecoder(decoder.model, decoder.answers, batch_size=2)(SENTENCES, progress=False)
    assert [len(tags) for tags in output.tags] == [len(words) for words in SENTENCES]
    assert all(_valid_bio(tags) for tags in output.tags)
    assert output.alignment["instances"] == len(SENTENCES)
    limit = max(FreeDecoder(decoder.model, decoder.answers).max_new_tokens(words) for words in SENTENCES)
    assert all(1 <= n <= limit for n in output.forward_passes)  # a batch generates up to its longest room
    assert output.generated_tokens == output.forward_passes  # one token per pass


def test_the_tagger_reports_the_same_costs(decoder):
    decoder.decoding = "speculative"
    decoder.draft = ALL_O_DRAFT
    speculative = decoder(SENTENCES, progress=False)
    stats = decoder.last_stats
    decoder.decoding, decoder.draft = "constrained", None
    assert speculative == decoder(SENTENCES, progress=False)
    assert stats["windows"] == [1, 1, 1]
    assert stats["forward_passes"] == [
        w + c - f
        for w, c, f in zip(stats["windows"], stats["corrections"], stats["final_corrections"], strict=True)
    ]


def test_make_decoder_builds_each_mode_and_refuses_others(decoder):
    kinds = {mode: type(make_decoder(mode, decoder.model, decoder.answers)) for mode in DECODING_MODES}
    assert kinds == {
        "constrained": ConstrainedDecoder,
        "speculative": SpeculativeDecoder,
        "free": FreeDecoder,
    }
    with pytest.raises(ValueError, match="--decoding must be one of"):
        make_decoder("beam", decoder.model, decoder.answers)
