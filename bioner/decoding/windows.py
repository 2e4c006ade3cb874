"""Word-level token classification with sub-word encoders, without silent truncation.

Each word is labelled on its first sub-word (-100 elsewhere). An instance longer than the model's maximum
length is cut into overlapping windows of whole words; at prediction time every word takes its scores from the
window in which it has the most context on both sides, so every word gets exactly one prediction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from bioner.decoding.viterbi import decode_tags

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Window:
    """Words ``[start, end)`` of instance ``instance`` encoded as one model input."""

    instance: int
    start: int
    end: int
    input_ids: list[int]
    first_subword: list[int]  # position in input_ids of each word's first sub-word, in word order


class WordEncoder:
    """Turns pre-tokenized sentences into model windows for one tokenizer and maximum length."""

    def __init__(self, tokenizer, max_length: int = 512, stride: int = 128):
        prefix, suffix = _special_token_frame(tokenizer)
        self.tokenizer = tokenizer
        self.prefix, self.suffix = prefix, suffix
        self.budget = max_length - len(prefix) - len(suffix)  # sub-words available for words
        if self.budget < 2:
            raise ValueError(f"max_length={max_length} leaves no room for words after special tokens")
        self.stride = min(stride, self.budget // 2)
        self.max_word_pieces = max(1, self.budget // 4)
        self.unknown_words = 0

    def word_pieces(self, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        """Sub-word ids per word. Words the tokenizer maps to nothing are encoded as the unknown token."""
        if not sentences:
            return []
        separator = word_separator(self.tokenizer)
        encoded = self.tokenizer(
            [[w if i == 0 else separator + w for i, w in enumerate(s)] for s in sentences],
            is_split_into_words=True,
            add_special_tokens=False,
        )
        pieces_per_sentence = []
        for index, words in enumerate(sentences):
            pieces: list[list[int]] = [[] for _ in words]
            for token_id, word_id in zip(encoded["input_ids"][index], encoded.word_ids(index), strict=True):
                if word_id is not None:
                    pieces[word_id].append(token_id)
            for word_pieces in pieces:
                if not word_pieces:
                    word_pieces.append(self.tokenizer.unk_token_id)
                    self.unknown_words += 1
                del word_pieces[self.max_word_pieces :]  # only the first sub-word carries the label
            pieces_per_sentence.append(pieces)
        return pieces_per_sentence

    def windows(self, sentences: Sequence[Sequence[str]]) -> list[Window]:
        """All windows of all sentences, in sentence order."""
        result = []
        for index, pieces in enumerate(self.word_pieces(sentences)):
            for start, end in plan_windows([len(p) for p in pieces], self.budget, self.stride):
                input_ids, first = list(self.prefix), []
                for word in pieces[start:end]:
                    first.append(len(input_ids))
                    input_ids.extend(word)
                input_ids.extend(self.suffix)
                result.append(Window(index, start, end, input_ids, first))
        if self.unknown_words:
            logger.warning(
                "%d words produced no sub-words and were encoded as the unknown token", self.unknown_words
            )
            self.unknown_words = 0
        return result


def word_separator(tokenizer) -> str:
    """What to put before each word after the first so pre-split words get their running-text sub-words.

    Byte-level BPE backends get a prefix space from ``bioner.models.registry``; SentencePiece-style tokenizers
    whose normalizer turns spaces into "▁" (Gemma) see no space between pre-split words and would cut every
    word as if it continued the previous one ("de" -> "de" instead of "▁de"). For those, each later word is
    passed with its space, which the normalizer turns into the word-start marker. Checked on a probe, cached
    per tokenizer.
    """
    cached = getattr(tokenizer, "_bioner_word_separator", None)
    if cached is not None:
        return cached
    words = ["alpha", "beta", "gamma"]
    running = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"]
    separator = ""
    for candidate in ("", " "):
        pieces = [w if i == 0 else candidate + w for i, w in enumerate(words)]
        if tokenizer([pieces], is_split_into_words=True, add_special_tokens=False)["input_ids"][0] == running:
            separator = candidate
            break
    else:
        logger.warning("%s: pre-split words do not tokenize as running text", type(tokenizer).__name__)
    try:
        tokenizer._bioner_word_separator = separator
    except AttributeError:  # some tokenizer classes refuse new attributes; then probe each time
        pass
    return separator


def _special_token_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after a single sequence (e.g. [CLS] ... [SEP])."""
    probe = tokenizer(["probe"], is_split_into_words=True)
    ids, word_ids = probe["input_ids"], probe.word_ids()
    first = next(i for i, w in enumerate(word_ids) if w is not None)
    last = max(i for i, w in enumerate(word_ids) if w is not None)
    return list(ids[:first]), list(ids[last + 1 :])


def plan_windows(word_lengths: Sequence[int], budget: int, stride: int) -> list[tuple[int, int]]:
    """Split words into ``[start, end)`` spans of at most ``budget`` sub-words overlapping by ~``stride``
    sub-words.

    Spans cover every word; consecutive spans share words so that each word has left and right context in
    at least one span.
    """
    n = len(word_lengths)
    if n == 0:
        return [(0, 0)]
    spans, start = [], 0
    while True:
        end, used = start, 0
        while end < n and used + word_lengths[end] <= budget:
            used += word_lengths[end]
            end += 1
        end = max(end, start + 1)  # a single over-long word still forms a window
        spans.append((start, end))
        if end >= n:
            return spans
        next_start, overlap = end, 0
        while next_start - 1 > start and overlap + word_lengths[next_start - 1] <= stride:
            next_start -= 1
            overlap += word_lengths[next_start]
        start = next_start


def label_features(windows: Sequence[Window], tag_ids: Sequence[Sequence[int]]) -> list[dict]:
    """Model inputs with labels on each word's first sub-word and -100 everywhere else."""
    features = []
    for window in windows:
        labels = [IGNORE_INDEX] * len(window.input_ids)
        for word, position in zip(range(window.start, window.end), window.first_subword, strict=True):
            labels[position] = tag_ids[window.instance][word]
        features.append(
            {"input_ids": window.input_ids, "attention_mask": [1] * len(window.input_ids), "labels": labels}
        )
    return features


def merge_windows(
    windows: Sequence[Window], window_scores: Sequence[np.ndarray], lengths: Sequence[int]
) -> list[np.ndarray]:
    """Per-word scores per instance, each word taken from the window where it has the most context."""
    num_labels = window_scores[0].shape[-1] if window_scores else 0
    merged = [np.zeros((n, num_labels), dtype=np.float32) for n in lengths]
    best_context = [np.full(n, -1) for n in lengths]
    for window, scores in zip(windows, window_scores, strict=True):
        if window.start == 0 and window.end == lengths[window.instance]:  # the whole instance in one window
            merged[window.instance] = scores
            continue
        for offset, word in enumerate(range(window.start, window.end)):
            context = min(word - window.start, window.end - 1 - word)
            if context > best_context[window.instance][word]:
                best_context[window.instance][word] = context
                merged[window.instance][word] = scores[offset]
    return merged


def batches_by_length(windows: Sequence[Window], batch_size: int) -> list[list[int]]:
    """Window indices grouped into batches of similar length (long first), to minimise padding."""
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i].input_ids))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@torch.inference_mode()
def window_log_probs(
    model, windows: Sequence[Window], pad_id: int, batch_size: int = 64, progress: bool = True
) -> list[np.ndarray]:
    """Label log-probabilities at each word's first sub-word, for every window."""
    device = next(model.parameters()).device
    results: list[np.ndarray | None] = [None] * len(windows)
    for batch in tqdm(
        batches_by_length(windows, batch_size), desc="Predicting", disable=not progress, unit="batch"
    ):
        width = max(len(windows[i].input_ids) for i in batch)
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids = windows[i].input_ids
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
        logits = model(input_ids=input_ids.to(device), attention_mask=attention.to(device)).logits
        log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
        for row, i in enumerate(batch):
            results[i] = log_probs[row, windows[i].first_subword]
    return results  # type: ignore[return-value]


def word_log_probs(
    model,
    tokenizer,
    sentences: Sequence[Sequence[str]],
    *,
    max_length: int = 512,
    stride: int = 128,
    batch_size: int = 64,
    progress: bool = True,
) -> list[np.ndarray]:
    """Per sentence, ``[words, labels]`` label log-probabilities (windows merged, most context kept)."""
    encoder = WordEncoder(tokenizer, max_length=max_length, stride=stride)
    windows = encoder.windows(sentences)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    scores = window_log_probs(model, windows, pad_id, batch_size=batch_size, progress=progress)
    return merge_windows(windows, scores, [len(s) for s in sentences])


def tag_sentences(
    model, tokenizer, sentences: Sequence[Sequence[str]], *, decoding: str = "viterbi", **options
) -> list[list[str]]:
    """Predict one BIO tag per word for pre-tokenized sentences; ``options`` go to ``word_log_probs``."""
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    merged = word_log_probs(model, tokenizer, sentences, **options)
    return [decode_tags(word_scores, labels, decoding) for word_scores in merged]
