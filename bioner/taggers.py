"""Taggers: anything that maps pre-tokenized sentences to one BIO tag per word.

``evaluate_ner.py`` and the training scripts score every model through this one interface, so encoders and
(later) decoder adapters share a single evaluation path.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bioner.encoder import tag_sentences
from bioner.models import ModelLoadError, load_token_classifier, load_tokenizer, resolve_model_name


@dataclass
class EncoderTagger:
    """A fine-tuned token classifier (local directory or Hub id)."""

    model: object
    tokenizer: object
    max_length: int = 512
    stride: int = 128
    batch_size: int = 64
    decoding: str = "viterbi"
    last_seconds: float = field(default=0.0, init=False)

    @property
    def labels(self) -> list[str]:
        config = self.model.config
        return [config.id2label[i] for i in range(config.num_labels)]

    def __call__(self, sentences: Sequence[Sequence[str]], progress: bool = True) -> list[list[str]]:
        """Tags per word; ``last_seconds`` holds the inference time (no loading, no scoring)."""
        start = time.perf_counter()
        tags = tag_sentences(
            self.model,
            self.tokenizer,
            sentences,
            max_length=self.max_length,
            stride=self.stride,
            batch_size=self.batch_size,
            decoding=self.decoding,
            progress=progress,
        )
        self.last_seconds = time.perf_counter() - start
        return tags


def _is_peft_adapter(name_or_path: str) -> bool:
    return (Path(name_or_path) / "adapter_config.json").is_file()


def load_tagger(name_or_path: str, **options) -> EncoderTagger:
    """Load a trained model as a tagger; ``options`` are the tagger's fields (max_length, decoding, ...)."""
    path = resolve_model_name(name_or_path)
    if _is_peft_adapter(path):
        raise ModelLoadError(f"'{name_or_path}' is a PEFT adapter; decoder adapters are not supported yet.")
    model = load_token_classifier(path)
    if not getattr(model.config, "id2label", None) or _has_default_labels(model.config.id2label):
        raise ModelLoadError(
            f"'{name_or_path}' has no NER label names in its config (id2label = {json.dumps(model.config.id2label)});"
            " pass a model trained with train_encoder.py"
        )
    model.eval()
    return EncoderTagger(model=model, tokenizer=load_tokenizer(path), **options)


def _has_default_labels(id2label: dict) -> bool:
    return all(str(label).startswith("LABEL_") for label in id2label.values())
