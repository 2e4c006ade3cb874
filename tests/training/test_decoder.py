"""Decoder SFT pieces: prompt/answer examples (windowed, never cut), recorded settings, the run facts."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from transformers import AutoTokenizer

from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
from bioner.data.text import WORD_STYLE_KEY
from bioner.decoding.prompts import AnswerTokenizer, InstanceTooLongError, PromptFormat
from bioner.training.decoder import decoder_meta, record_settings, sft_dataset, skip_evaluation


@pytest.fixture(scope="module")
def answers(untrained_decoder):
    return AnswerTokenizer(
        AutoTokenizer.from_pretrained(untrained_decoder), PromptFormat.load(untrained_decoder)
    )


@pytest.fixture(scope="module")
def train8():
    return load_ner_dataset("demo")["train"].select(range(8))


def test_examples_are_prompt_and_answer_ids_with_the_answer_masked_in(answers, train8):
    data, stats = sft_dataset(train8, label_names(train8), answers, 2048, "train")
    assert stats == {"examples": 8, "windowed": 0, "longest": max(len(ids) for ids in data["input_ids"])}
    row = data[0]
    prompt = answers.prompt_ids(train8[0]["tokens"])
    assert row["input_ids"][: len(prompt)] == prompt and row["completion_mask"][: len(prompt)] == [0] * len(
        prompt
    )
    assert sum(row["completion_mask"]) == len(row["input_ids"]) - len(prompt)
    assert row["prompt"] == answers.format.prompt(train8[0]["tokens"]) and row["completion"].endswith("\n")


def test_too_long_instances_are_windowed_and_a_word_that_cannot_fit_is_named(answers, train8, caplog):
    labels = label_names(train8)
    full, _ = sft_dataset(train8, labels, answers, 2048, "train")
    limit = sorted(len(ids) for ids in full["input_ids"])[len(full) // 2]
    with caplog.at_level(logging.WARNING):
        data, stats = sft_dataset(train8, labels, answers, limit, "train")
    assert stats["windowed"] > 0 and stats["examples"] > 8 and stats["longest"] <= limit
    assert "split into windows" in caplog.text
    words = [w for row in data["completion"] for w in row.splitlines()]
    assert len(words) == sum(len(tokens) for tokens in train8["tokens"])  # every word once, none cut
    with pytest.raises(InstanceTooLongError, match="alone does not fit --max_length 30"):
        sft_dataset(train8, labels, answers, 30, "train")


def test_record_settings_takes_max_length_from_the_data(untrained_decoder, train8):
    prompt_format = PromptFormat.load(untrained_decoder)
    training_args = SimpleNamespace(max_length=2048)
    model_args = SimpleNamespace(load_in_4bit=False, dtype="float32")
    stats = {"train": {"examples": 8, "longest": 300}, "dev": {"examples": 4, "longest": 320}}
    record_settings(prompt_format, training_args, model_args, train8, stats, tag_tokens=5)
    assert training_args.max_length == 320
    assert prompt_format.extra["max_length"] == 320 and prompt_format.extra["dtype"] == "float32"
    assert prompt_format.extra["load_in_4bit"] is False and WORD_STYLE_KEY in prompt_format.extra


def _trainer(tmp_path, fsdp=False):
    args = SimpleNamespace(
        world_size=1, per_device_train_batch_size=4, gradient_accumulation_steps=8, max_length=300,
        output_dir=str(tmp_path),
    )  # fmt: skip
    return SimpleNamespace(args=args, state=SimpleNamespace(best_model_checkpoint=None), is_fsdp_enabled=fsdp)


def test_decoder_meta_keeps_the_training_facts(answers, tmp_path):
    model_args = SimpleNamespace(model_name_or_path="smollm2", use_peft=False, load_in_4bit=False)
    meta = decoder_meta(
        model_args, "demo", answers.format, _trainer(tmp_path), {"epoch": 1.0},
        train_seconds=12.345, train_examples={"examples": 8}, dev_examples={"examples": 4},
        peak_memory_gb=1.5,
    )  # fmt: skip
    assert meta["output_format"] == "tags" and meta["effective_batch_size"] == 32
    assert meta["train_seconds"] == 12.3 and meta["peak_memory_gb"] == 1.5 and meta["max_length"] == 300
    assert list(meta)[-1] == "best_checkpoint"


def test_evaluation_is_skipped_without_evaluate_or_under_fsdp(tmp_path, caplog):
    assert skip_evaluation(_trainer(tmp_path), evaluate=False, dataset="demo", decoding="constrained")
    assert not skip_evaluation(_trainer(tmp_path), evaluate=True, dataset="demo", decoding="constrained")
    with caplog.at_level(logging.WARNING):
        assert skip_evaluation(_trainer(tmp_path, fsdp=True), evaluate=True, dataset="demo", decoding="free")
    assert "python evaluate_ner.py --model" in caplog.text and "--decoding free" in caplog.text
