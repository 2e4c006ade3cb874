"""Decoder LLMs as one-pass token classifiers: the LLM's hidden states feed a linear BIO head.

No prompt and no answer: one forward pass over the sentence's own sub-words, with the windows, first-sub-word
labels, Viterbi decoding and metric of the encoders (``bioner.decoding.windows``). Chosen layers can attend in
both directions (``bioner.models.attention``). Training is full fine-tuning or LoRA (PEFT, the head always
trained in full), optionally on a 4-bit NF4 base (QLoRA).

A LoRA run saves an adapter plus ``bioner_token_classifier.json`` (base model, labels, unmasked layers, 4-bit,
dtype, word style); a full run saves the whole model (labels and unmasked layers in its config) and the same
file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from bioner.data.text import WORD_STYLE_KEY
from bioner.models.attention import (
    UNMASKED_LAYERS_KEY,
    apply_saved_attention,
    parse_unmasked_layers,
    set_unmasked_layers,
)
from bioner.models.errors import ModelLoadError, load_error
from bioner.models.llm import kbit_device_map, linear_module_names
from bioner.models.registry import (
    ALIASES,
    DECODER,
    LLM_TOKEN_CLASSIFIER,
    TOKEN_LLM_FILE,
    load_tokenizer,
    offline_aliases,
    resolve,
    torch_dtype,
)

logger = logging.getLogger(__name__)


@dataclass
class TokenLLMArguments:
    """How a decoder LLM is trained as a token classifier (ignored for encoders)."""

    attention: str = field(
        default="bidirectional",
        metadata={
            "help": "Decoder LLMs only: 'bidirectional' lifts the causal mask (in --unmasked_layers),"
            " 'causal' keeps it."
        },
    )
    unmasked_layers: str = field(
        default="all",
        metadata={
            "help": "With --attention bidirectional: 'all', 'last:K', 'first:K' or layer indices '0,1,-1'."
        },
    )
    use_peft: bool = field(
        default=False, metadata={"help": "Decoder LLMs: train LoRA adapters (the head in full)."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: list[str] | None = field(
        default=None,
        metadata={"help": "LoRA target module names (default: every linear layer of the blocks)."},
    )
    load_in_4bit: bool = field(
        default=False,
        metadata={"help": "QLoRA: NF4 4-bit base, double quantization, bf16 compute (needs --use_peft)."},
    )
    llm_dtype: str = field(
        default="auto",
        metadata={
            "help": "Decoder LLM weights dtype: auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16."
        },
    )


def token_classifier_class(model_type: str):
    """``AutoModelForTokenClassification``'s class for a model type, or one built like transformers' own
    (``GenericForTokenClassification`` over the type's base model) where transformers has none (e.g. Gemma
    3)."""
    from transformers import AutoConfig, AutoModelForTokenClassification
    from transformers.modeling_layers import GenericForTokenClassification
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES,
        MODEL_MAPPING_NAMES,
    )

    if model_type in MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES:
        return None
    if model_type not in MODEL_MAPPING_NAMES:
        raise ModelLoadError(f"model type {model_type!r} has no base model class in transformers")
    import transformers

    base_class = getattr(transformers, MODEL_MAPPING_NAMES[model_type])
    pretrained = next(c for c in base_class.__mro__ if c.__name__.endswith("PreTrainedModel"))
    name = base_class.__name__.removesuffix("Model") + "ForTokenClassification"
    config_class = type(AutoConfig.for_model(model_type))
    attributes = {"__module__": __name__, "config_class": config_class}
    cls = type(name, (GenericForTokenClassification, pretrained), attributes)
    AutoModelForTokenClassification.register(config_class, cls, exist_ok=True)
    MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES[model_type] = name
    globals()[name] = cls
    return cls


def quantization_config(load_in_4bit: bool):
    """NF4 with double quantization and bf16 compute, the classification head left unquantized."""
    if not load_in_4bit:
        return None
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=["score", "classifier"],
    )


def load_llm_token_classifier(path: str, labels: list[str], args: TokenLLMArguments):
    """A pre-trained decoder LLM with a fresh BIO head, attention set, LoRA added when asked; and its
    tokenizer."""
    from transformers import AutoConfig

    if args.load_in_4bit and not args.use_peft:
        raise SystemExit("--load_in_4bit trains a frozen 4-bit base: it needs --use_peft (QLoRA)")
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise load_error(path, error, offline_aliases(DECODER), tuple(ALIASES)) from error
    token_classifier_class(config.model_type)
    tokenizer = load_tokenizer(path, LLM_TOKEN_CLASSIFIER)
    model = _with_new_head(path, labels, tokenizer, args.llm_dtype, args.load_in_4bit)
    try:
        layers = parse_unmasked_layers(args.attention, args.unmasked_layers, model.config.num_hidden_layers)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    set_unmasked_layers(model, layers)
    logger.info(
        "%s as a token classifier: %s attention (%d of %d layers unmasked)",
        path,
        args.attention,
        len(layers),
        model.config.num_hidden_layers,
    )
    if args.use_peft:
        model = add_lora(model, args)
    return model, tokenizer


def _load_options(dtype: str | None, load_in_4bit: bool) -> dict:
    """``from_pretrained`` options: the weights' dtype, or a 4-bit base placed per process."""
    options = {"dtype": torch_dtype(dtype)}
    quantization = quantization_config(load_in_4bit)
    if quantization is not None:
        options.update(quantization_config=quantization, device_map=kbit_device_map(), dtype=torch.bfloat16)
    return options


def _with_new_head(path: str, labels: list[str], tokenizer, dtype: str | None, load_in_4bit: bool):
    """The decoder LLM at ``path`` with a token-classification head over ``labels`` (float32)."""
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
        **_load_options(dtype, load_in_4bit),
    )
    _head_to_float32(model)
    return model


def _head_to_float32(model) -> None:
    """Keep the small classification head (and PEFT's trained copy of it) in float32, fed float32 states: a
    bf16 head rounds the logits Viterbi compares, and a 4-bit base hands it bf16 hidden states."""
    for name, module in model.named_modules():
        if (
            isinstance(module, torch.nn.Linear)
            and "score" in name.split(".")
            and not hasattr(module, "_bioner_fp32")
        ):
            module.float()
            module.register_forward_pre_hook(lambda _, args: tuple(a.float() for a in args))
            module._bioner_fp32 = True


def add_lora(model, args: TokenLLMArguments):
    """LoRA on the blocks' linear layers (or ``--lora_target_modules``); the head is saved and trained in
    full."""
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if args.load_in_4bit:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = args.lora_target_modules or sorted(_block_linear_names(model))
    config = LoraConfig(
        task_type=TaskType.TOKEN_CLS,
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=targets,
        modules_to_save=["score"],
    )
    model = get_peft_model(model, config)
    _head_to_float32(model)  # PEFT's trained copy of the head; the attention hooks stay on the wrapped blocks
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("LoRA r=%d on %s: %d of %d parameters trainable", args.lora_r, targets, trainable, total)
    return model


def _block_linear_names(model) -> set[str]:
    return set(linear_module_names(model)) - {"lm_head", "score"}


def save_info(
    output_dir: str | Path, model, base_model: str, args: TokenLLMArguments, word_style: str | None
) -> None:
    """Write ``bioner_token_classifier.json`` and the label/attention config a reload needs."""
    config = model.config
    info = {
        "kind": LLM_TOKEN_CLASSIFIER,
        "base_model": base_model,
        "labels": [config.id2label[i] for i in range(config.num_labels)],
        UNMASKED_LAYERS_KEY: list(getattr(config, UNMASKED_LAYERS_KEY, []) or []),
        "attention": args.attention,
        "adapter": bool(args.use_peft),
        "load_in_4bit": bool(args.load_in_4bit),
        "dtype": str(torch_dtype(args.llm_dtype)).removeprefix("torch."),
        "word_style": word_style,
        "training": {k: v for k, v in asdict(args).items() if k.startswith("lora_")} if args.use_peft else {},
    }
    Path(output_dir, TOKEN_LLM_FILE).write_text(json.dumps(info, indent=2) + "\n")


def read_info(directory: str | Path) -> dict:
    return json.loads((Path(directory) / TOKEN_LLM_FILE).read_text())


def load_trained_token_llm(directory: str | Path, load_in_4bit: bool | None = None, dtype: str | None = None):
    """``(model, tokenizer)`` of a ``train_encoder.py`` LLM token classifier (adapter or full model), with
    its attention restored; 4-bit and dtype default to how it was trained."""
    from transformers import AutoConfig, AutoModelForTokenClassification

    directory = Path(directory)
    info = read_info(directory)
    load_in_4bit = info.get("load_in_4bit", False) if load_in_4bit is None else load_in_4bit
    options = _load_options(dtype or info.get("dtype"), load_in_4bit)
    labels = info["labels"]
    tokenizer = load_tokenizer(str(directory), LLM_TOKEN_CLASSIFIER)
    if info.get("adapter"):
        from peft import PeftModel

        base = resolve(info["base_model"]).path
        try:
            token_classifier_class(AutoConfig.from_pretrained(base).model_type)
        except (OSError, ValueError) as error:
            raise load_error(base, error, offline_aliases(DECODER), tuple(ALIASES)) from error
        model = _with_new_head(base, labels, tokenizer, dtype or info.get("dtype"), load_in_4bit)
        set_unmasked_layers(model, info.get(UNMASKED_LAYERS_KEY, []))
        setattr(model.config, WORD_STYLE_KEY, info.get("word_style"))
        model = PeftModel.from_pretrained(model, str(directory))
        _head_to_float32(model)
    else:
        token_classifier_class(AutoConfig.from_pretrained(str(directory)).model_type)
        model = AutoModelForTokenClassification.from_pretrained(str(directory), **options)
        _head_to_float32(model)
        apply_saved_attention(model)
    return model.eval(), tokenizer


def check_not_causal_for_encoder(model_name: str, args: TokenLLMArguments) -> None:
    """Refuse LLM-only flags for an encoder, where they would silently do nothing."""
    defaults = TokenLLMArguments()
    changed = [
        name
        for name in ("attention", "unmasked_layers", "use_peft", "load_in_4bit")
        if getattr(args, name) != getattr(defaults, name)
    ]
    if changed:
        raise SystemExit(
            f"--{changed[0]} is for decoder LLMs trained as token classifiers; '{model_name}' is an encoder"
        )
