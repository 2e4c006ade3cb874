"""load_tagger: one entry point for encoders and decoder LLMs, each reading its own decoding choice."""

from __future__ import annotations

import warnings

import pytest

from bioner.decoding.prompts import FORMAT_FILE
from bioner.models.registry import ModelLoadError
from bioner.tagging.arguments import TaggerArguments
from bioner.tagging.taggers import DecoderTagger, EncoderTagger, load_tagger
from tests.fixtures.models import LABELS

SENTENCES = [["Cisplatin", "induced", "nephrotoxicity", "."], ["Aspirin", "."]]


def test_an_encoder_loads_with_its_labels_and_tags_every_word(untrained_encoder):
    tagger = load_tagger(str(untrained_encoder), device="cpu")
    assert isinstance(tagger, EncoderTagger) and tagger.labels == LABELS
    assert tagger.decoding == "viterbi" and tagger.max_length == 512
    tags = tagger(SENTENCES, progress=False)
    assert [len(t) for t in tags] == [4, 2] and all(tag in LABELS for row in tags for tag in row)
    assert tagger.last_seconds > 0


def test_a_decoder_loads_with_its_prompt_format(untrained_decoder):
    tagger = load_tagger(str(untrained_decoder), device="cpu", batch_size=2)
    assert isinstance(tagger, DecoderTagger) and tagger.labels == LABELS
    assert tagger.decoding == "constrained" and tagger.batch_size == 2
    assert tagger.prompt_format.output_format == "tags" and (untrained_decoder / FORMAT_FILE).is_file()
    tags = tagger(SENTENCES, progress=False)
    assert [len(t) for t in tags] == [4, 2]
    assert tagger.last_stats["forward_passes"] == [4, 2]  # constrained, tags format: one pass per word


def test_each_kind_reads_its_own_decoding_keyword(untrained_encoder, untrained_decoder):
    options = {"bio_decoding": "argmax", "decoding": "free", "device": "cpu"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the current keywords raise no deprecation warning
        encoder = load_tagger(str(untrained_encoder), **options)
        decoder = load_tagger(str(untrained_decoder), **options)
    assert encoder.decoding == "argmax" and decoder.decoding == "free"


def test_tagger_arguments_pass_both_flags(untrained_encoder, untrained_decoder):
    args = TaggerArguments(bio_decoding="argmax", decoding="free")
    assert args.load(str(untrained_encoder), device="cpu").decoding == "argmax"
    assert args.load(str(untrained_decoder), device="cpu").decoding == "free"


def test_old_keywords_still_work_with_a_deprecation_warning(untrained_encoder, untrained_decoder):
    with pytest.warns(FutureWarning, match="bio_decoding"):
        encoder = load_tagger(str(untrained_encoder), decoding="argmax", device="cpu")
    assert encoder.decoding == "argmax"
    with pytest.warns(FutureWarning, match="llm_decoding"):
        decoder = load_tagger(str(untrained_decoder), decoding="viterbi", llm_decoding="free", device="cpu")
    assert decoder.decoding == "free"


def test_the_model_card_imports_keep_working(untrained_encoder):
    from bioner import load_tagger as from_package
    from bioner.taggers import load_tagger as from_shim

    assert from_package is from_shim is load_tagger
    assert from_shim(str(untrained_encoder))(SENTENCES, progress=False)[1][1] in LABELS


def test_a_draft_model_is_for_decoders_only(untrained_encoder, untrained_decoder):
    with pytest.raises(ModelLoadError, match="--draft_model is for decoder LLMs"):
        load_tagger(str(untrained_encoder), draft_model="all-O")
    with pytest.raises(ModelLoadError, match="only used by --decoding speculative"):
        load_tagger(str(untrained_decoder), draft_model="all-O")
    with pytest.raises(ModelLoadError, match="the draft must be an encoder"):
        load_tagger(str(untrained_decoder), decoding="speculative", draft_model=str(untrained_decoder))


def test_a_model_without_label_names_is_refused(tiny_bert):
    with pytest.raises(ModelLoadError, match="no NER label names"):
        load_tagger(str(tiny_bert))
