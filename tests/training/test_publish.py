"""The one Hub push after training: which model type the card names, and the decoder's card section."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bioner.decoding.prompts import build_prompt_format
from bioner.hub import MODEL_TYPES
from bioner.models.registry import DECODER, ENCODER, LLM_TOKEN_CLASSIFIER
from bioner.training import publish
from bioner.training.publish import ADAPTER_FILE, card_model_type, decoder_card_section, push_with_card


@pytest.mark.parametrize(
    ("kind", "adapter", "expected"),
    [
        (ENCODER, False, ENCODER),
        (LLM_TOKEN_CLASSIFIER, False, LLM_TOKEN_CLASSIFIER),
        (LLM_TOKEN_CLASSIFIER, True, f"{LLM_TOKEN_CLASSIFIER}-adapter"),
        (DECODER, False, DECODER),
        (DECODER, True, "adapter"),
    ],
)
def test_card_model_type(tmp_path, kind, adapter, expected):
    if adapter:
        (tmp_path / ADAPTER_FILE).write_text("{}")
    assert card_model_type(tmp_path, kind) == expected
    assert expected in MODEL_TYPES


def test_decoder_card_section_names_the_format_and_decoding():
    section = decoder_card_section(build_prompt_format("tags", ["O", "B-Chemical"]), "speculative")
    assert section.startswith("## Prompt and answer")
    assert "output format: `tags`" in section and "`<B-Chemical>`" in section
    assert "decoding used for the scores above: `speculative`" in section
    paper = decoder_card_section(build_prompt_format("paper", ["O", "B-Chemical"]), "free")
    assert "none (tags written as text)" in paper and "word:TAG" in paper


def test_push_with_card_pushes_once_with_the_scores(tmp_path, monkeypatch):
    calls = []

    def push(training_args, **card):
        calls.append((training_args, card))
        return "https://hub/org/run"

    monkeypatch.setattr(publish, "push_training_output", push)
    args = SimpleNamespace(output_dir=str(tmp_path))
    scores = {"test": {"strict": {"f1": 0.9}}}
    assert push_with_card(args, "minilm", "demo", scores, ENCODER) == "https://hub/org/run"
    [(pushed_args, card)] = calls
    assert pushed_args is args
    assert card["results"] is scores and card["model_type"] == ENCODER and card["dataset"] == "demo"
    assert card["base_model"] != "minilm" and card["extra"] == ""  # the alias resolved to its Hub id
