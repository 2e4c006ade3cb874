"""Training a token classifier (an encoder, or a decoder LLM read in one pass): windows, dev scoring, model.

Each word is labelled on its first sub-word and long instances are windowed (``bioner.decoding.windows``); the
Trainer's dev evaluation merges the windows back to words and scores whole sentences with the project metric.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from datasets import Dataset
from torch.utils.data import SequentialSampler
from transformers import DataCollatorForTokenClassification, Trainer, TrainerCallback

from bioner.data.tags import tag_names
from bioner.data.text import WORD_STYLE_KEY, infer_word_style
from bioner.decoding.viterbi import decode_tags
from bioner.decoding.windows import IGNORE_INDEX, WordEncoder, label_features, merge_windows
from bioner.models.attention import UNMASKED_LAYERS_KEY
from bioner.models.registry import (
    ENCODER,
    LLM_KINDS,
    LLM_TOKEN_CLASSIFIER,
    load_token_classifier,
    load_tokenizer,
    model_kind,
    resolve,
)
from bioner.models.token_llm import TokenLLMArguments, check_not_causal_for_encoder, load_llm_token_classifier
from bioner.training.run import early_stopping
from metrics.bio_ner.scoring import compute_ner_scores

logger = logging.getLogger(__name__)


class EpochTimer(TrainerCallback):
    """Wall time of each training epoch, excluding the evaluation that follows it."""

    def __init__(self):
        self.seconds: list[float] = []

    def on_epoch_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_epoch_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


class WindowedTrainer(Trainer):
    """A Trainer that evaluates in dataset order, even with ``--train_sampling_strategy group_by_length``.

    ``DevScorer`` maps prediction rows back to windows by position; transformers would otherwise apply the
    length-grouped (shuffling) sampler to evaluation too. The dev set is already sorted by length.
    """

    def _get_eval_sampler(self, eval_dataset):
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


class DevScorer:
    """``compute_metrics`` for windowed instances: merges windows back to words and scores whole sentences."""

    def __init__(self, windows, gold_tags, labels, decoding):
        self.windows, self.gold_tags, self.labels, self.decoding = windows, gold_tags, labels, decoding

    def __call__(self, eval_prediction) -> dict[str, float]:
        logits, label_ids = eval_prediction.predictions, eval_prediction.label_ids
        window_scores = []
        for row, _window in enumerate(self.windows):
            word_logits = logits[row][label_ids[row] != IGNORE_INDEX].astype(np.float64)
            window_scores.append(word_logits - np.logaddexp.reduce(word_logits, axis=-1, keepdims=True))
        merged = merge_windows(self.windows, window_scores, [len(g) for g in self.gold_tags])
        predictions = [decode_tags(scores, self.labels, self.decoding) for scores in merged]
        scores = compute_ner_scores(predictions, self.gold_tags)
        return {
            "strict_f1": scores["strict"]["f1"],
            "strict_precision": scores["strict"]["precision"],
            "strict_recall": scores["strict"]["recall"],
            "relaxed_f1": scores["partial"]["f1"],
        }


def windowed_dataset(encoder: WordEncoder, split, sort_by_length: bool = False):
    """Windows and labelled features of a split (optionally longest first, for fast evaluation)."""
    windows = encoder.windows(split["tokens"])
    if sort_by_length:
        windows.sort(key=lambda w: -len(w.input_ids))
    return windows, Dataset.from_list(label_features(windows, split["ner_tags"]))


def windowed_trainer(
    model,
    tokenizer,
    training_args,
    encoder: WordEncoder,
    dataset,
    labels,
    decoding: str,
    patience: int,
    *,
    train_features: Dataset | None = None,
    trainer_class=WindowedTrainer,
    data_collator=None,
) -> tuple[WindowedTrainer, EpochTimer]:
    """The Trainer over windowed train/dev features, scoring dev strict F1 (``decoding``: viterbi/argmax)
    after every epoch with early stopping, and the callback timing its epochs. Distillation
    (``bioner.training.distill``) passes its own train features (gold plus pool), trainer class and
    collator."""
    if train_features is None:
        _, train_features = windowed_dataset(encoder, dataset["train"])
    dev_windows, dev_features = windowed_dataset(encoder, dataset["validation"], sort_by_length=True)
    dev_gold = tag_names(dataset["validation"]["ner_tags"], labels)
    timer = EpochTimer()
    trainer = trainer_class(
        model=model,
        args=training_args,
        train_dataset=train_features,
        eval_dataset=dev_features,
        data_collator=data_collator or DataCollatorForTokenClassification(tokenizer),
        processing_class=tokenizer,
        compute_metrics=DevScorer(dev_windows, dev_gold, labels, decoding),
        callbacks=[timer, *early_stopping(training_args, patience)],
    )
    logger.info(
        "world size %d, %d train windows, %d dev windows",
        training_args.world_size,
        len(train_features),
        len(dev_features),
    )
    return trainer, timer


def load_token_model(model_name_or_path: str, llm_args: TokenLLMArguments, labels: list[str]):
    """Pre-trained encoder or decoder LLM with a fresh token-classification head over ``labels``, its
    tokenizer,
    and whether it is a decoder LLM. Raises ``ModelLoadError`` when it cannot be loaded."""
    ref = resolve(model_name_or_path)
    model_path = ref.path
    if (ref.kind or model_kind(model_path)) in LLM_KINDS:
        return (*load_llm_token_classifier(model_path, labels, llm_args), True)
    check_not_causal_for_encoder(model_name_or_path, llm_args)
    tokenizer = load_tokenizer(model_path)
    model = load_token_classifier(
        model_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        ignore_mismatched_sizes=True,
    )
    return model, tokenizer, False


def record_word_style(model, train_split) -> str:
    """How the training corpus cut words, saved in the model's config so tag.py cuts raw text the same way."""
    word_style = infer_word_style(w for words in train_split["tokens"] for w in words)
    setattr(model.config, WORD_STYLE_KEY, word_style)
    return word_style


def token_llm_meta(model, llm_args: TokenLLMArguments) -> dict:
    """How a decoder LLM token classifier was trained, for results.json and the tables."""
    config = model.config
    return {
        "model_kind": LLM_TOKEN_CLASSIFIER,
        "attention": llm_args.attention,
        "unmasked_layers": list(getattr(config, UNMASKED_LAYERS_KEY, []) or []),
        "num_layers": config.num_hidden_layers,
        "use_peft": llm_args.use_peft,
        "load_in_4bit": llm_args.load_in_4bit,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def encoder_meta(model_args, llm_args, dataset: str, trainer, train_metrics: dict, **facts) -> dict:
    """The facts of a token-classifier run for ``results.json``: ``facts`` are ``by_decoding`` (test strict F1
    per decoding), ``epoch_seconds``, ``results`` (`bioner.training.evaluation.SplitResults`), ``is_llm``,
    ``peak_memory_gb`` and ``eval_backend`` (the backend that scored dev and test)."""
    results = facts["results"]
    return {
        "model": model_args.model_name_or_path,
        "dataset": dataset,
        "bio_decoding": model_args.bio_decoding,
        "test_strict_f1_by_decoding": facts["by_decoding"],
        "world_size": trainer.args.world_size,
        "epochs_run": train_metrics.get("epoch"),
        "train_seconds": train_metrics.get("train_runtime"),
        "epoch_train_seconds": [round(s, 2) for s in facts["epoch_seconds"]],
        "test_sentences_per_second": results.sentences_per_second("test"),
        "dev_sentences_per_second": results.sentences_per_second("dev"),
        "eval_backend": facts["eval_backend"],
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "max_seq_length": model_args.max_seq_length,
        "peak_memory_gb": facts["peak_memory_gb"],
        **(token_llm_meta(trainer.model, llm_args) if facts["is_llm"] else {"model_kind": ENCODER}),
    }
