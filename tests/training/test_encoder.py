"""Token-classifier training pieces: windowed features, dev scoring of merged windows, model, run facts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from transformers import AutoTokenizer

from bioner.corpora.sources import load_ner_dataset
from bioner.data.conll import label_names
from bioner.data.tags import tag_names
from bioner.data.text import WORD_STYLE_KEY
from bioner.decoding.windows import IGNORE_INDEX, WordEncoder
from bioner.models.token_llm import TokenLLMArguments
from bioner.training.encoder import (
    DevScorer,
    EpochTimer,
    encoder_meta,
    load_token_model,
    record_word_style,
    windowed_dataset,
)
from bioner.training.evaluation import SplitResults


@pytest.fixture(scope="module")
def demo_dev():
    return load_ner_dataset("demo")["validation"].select(range(12))


def test_long_instances_become_several_windows_sorted_for_evaluation(tiny_bert, demo_dev):
    encoder = WordEncoder(AutoTokenizer.from_pretrained(tiny_bert), max_length=16, stride=4)
    windows, features = windowed_dataset(encoder, demo_dev, sort_by_length=True)
    assert len(windows) == len(features) > len(demo_dev)  # some sentences did not fit 16 sub-words
    lengths = [len(w.input_ids) for w in windows]
    assert lengths == sorted(lengths, reverse=True) and max(lengths) <= 16
    labelled = [sum(label != IGNORE_INDEX for label in row) for row in features["labels"]]
    assert labelled == [w.end - w.start for w in windows]  # one label per word, on its first sub-word


def test_dev_scorer_merges_windows_and_scores_whole_sentences(tiny_bert, demo_dev):
    labels = label_names(demo_dev)
    gold = tag_names(demo_dev["ner_tags"], labels)
    encoder = WordEncoder(AutoTokenizer.from_pretrained(tiny_bert), max_length=16, stride=4)
    windows, features = windowed_dataset(encoder, demo_dev, sort_by_length=True)
    width = max(len(ids) for ids in features["input_ids"])
    logits = np.zeros((len(windows), width, len(labels)), dtype=np.float32)
    label_ids = np.full((len(windows), width), IGNORE_INDEX)
    for row, window_labels in enumerate(features["labels"]):
        label_ids[row, : len(window_labels)] = window_labels
        for position, label in enumerate(window_labels):
            if label != IGNORE_INDEX:
                logits[row, position, label] = 10.0  # a perfect model
    scorer = DevScorer(windows, gold, labels, "viterbi")
    metrics = scorer(SimpleNamespace(predictions=logits, label_ids=label_ids))
    assert metrics == {"strict_f1": 1.0, "strict_precision": 1.0, "strict_recall": 1.0, "relaxed_f1": 1.0}


def test_an_encoder_gets_a_fresh_head_over_the_labels(tiny_bert, demo_dev):
    labels = label_names(demo_dev)
    model, tokenizer, is_llm = load_token_model(str(tiny_bert), TokenLLMArguments(), labels)
    assert is_llm is False and model.config.num_labels == len(labels)
    assert [model.config.id2label[i] for i in range(len(labels))] == labels
    assert record_word_style(model, demo_dev) == getattr(model.config, WORD_STYLE_KEY)


def test_encoder_meta_lists_the_run_facts_in_order():
    results = SplitResults(seconds={"dev": 1.0, "test": 2.0}, instances={"dev": 10, "test": 30})
    model_args = SimpleNamespace(model_name_or_path="minilm", bio_decoding="viterbi", max_seq_length=512)
    trainer = SimpleNamespace(
        args=SimpleNamespace(world_size=1), state=SimpleNamespace(best_model_checkpoint=None)
    )
    meta = encoder_meta(
        model_args, TokenLLMArguments(), "demo", trainer, {"epoch": 5.0, "train_runtime": 12.5},
        by_decoding={"viterbi": 0.9, "argmax": 0.8}, epoch_seconds=[2.123], results=results, is_llm=False,
        peak_memory_gb=1.25, eval_backend="torch",
    )  # fmt: skip
    assert list(meta) == [
        "model", "dataset", "bio_decoding", "test_strict_f1_by_decoding", "world_size", "epochs_run",
        "train_seconds", "epoch_train_seconds", "test_sentences_per_second", "dev_sentences_per_second",
        "eval_backend", "best_checkpoint", "max_seq_length", "peak_memory_gb", "model_kind",
    ]  # fmt: skip
    assert meta["test_sentences_per_second"] == 15.0 and meta["dev_sentences_per_second"] == 10.0
    assert meta["epoch_train_seconds"] == [2.12] and meta["model_kind"] == "encoder"
    assert meta["eval_backend"] == "torch"


def test_epoch_timer_times_each_epoch():
    timer = EpochTimer()
    for _ in range(2):
        timer.on_epoch_begin(None, None, None)
        timer.on_epoch_end(None, None, None)
    assert len(timer.seconds) == 2 and all(s >= 0 for s in timer.seconds)
