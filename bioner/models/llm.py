"""Decoder LLMs: loading (optionally 4-bit), BIO tag tokens, LoRA set-up and trained-model loading (aliases,
tokenizer and dtype: bioner.models.registry)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from bioner.decoding.prompts import FORMAT_FILE, PromptFormat
from bioner.models.errors import ModelLoadError, load_error
from bioner.models.registry import ALIASES, DECODER, load_tokenizer, offline_aliases, resolve, torch_dtype

logger = logging.getLogger(__name__)


def load_causal_lm(name_or_path: str, model_args=None, **kwargs):
    """A causal LM, quantized per ``model_args`` (TRL ``ModelConfig``); one copy per process under DDP."""
    from transformers import AutoModelForCausalLM
    from trl import get_quantization_config

    options = dict(kwargs)
    if model_args is not None:
        quantization = get_quantization_config(model_args)
        options.setdefault("dtype", torch_dtype(model_args.dtype))
        options.setdefault("revision", model_args.model_revision)
        if model_args.attn_implementation:
            options.setdefault("attn_implementation", model_args.attn_implementation)
        if quantization is not None:
            options["quantization_config"] = quantization
            options["device_map"] = kbit_device_map()
    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **options)
    except (OSError, ValueError) as error:
        raise load_error(name_or_path, error, offline_aliases(DECODER), tuple(ALIASES)) from error


def kbit_device_map() -> dict[str, int] | str:
    """Where a quantized model goes: the whole copy on this process' GPU, or the CPU.

    The seed's ``device_map="auto"`` splits one copy across all GPUs, which breaks data parallelism under
    ``accelerate launch``. TRL < 1.x shipped this helper as ``get_kbit_device_map``; TRL 1.16 no longer does.
    """
    if torch.cuda.is_available():
        from accelerate import PartialState

        return {"": PartialState().local_process_index}
    return "cpu"


def add_tag_tokens(model, tokenizer, prompt_format: PromptFormat) -> list[int]:
    """Add one special token per BIO tag (``tags`` format) and initialise their embeddings; returns their ids.

    The base vocabulary is untouched.
    """
    tag_tokens = prompt_format.tag_tokens
    if not tag_tokens:
        return []
    tokenizer.add_special_tokens({"extra_special_tokens": tag_tokens}, replace_extra_special_tokens=False)
    return init_tag_embeddings(model, tokenizer, prompt_format)


def init_tag_embeddings(model, tokenizer, prompt_format: PromptFormat) -> list[int]:
    """Resize the embeddings to the tokenizer and set each tag token's rows to the mean of its text's rows.

    Deterministic, so loading an adapter repeats exactly what training started from: the adapter stores the
    trained tag rows (PEFT trainable tokens) and LoRA updates, not the whole resized embedding matrices.
    """
    tag_tokens = prompt_format.tag_tokens
    new_ids = tokenizer.convert_tokens_to_ids(tag_tokens)
    text_ids = [tokenizer(tag, add_special_tokens=False)["input_ids"] for tag in prompt_format.labels]
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        for matrix in {id(m): m for m in _embedding_matrices(model)}.values():
            for new_id, ids in zip(new_ids, text_ids, strict=True):
                matrix[new_id] = matrix[ids].float().mean(dim=0).to(matrix.dtype)
    return new_ids


def _embedding_matrices(model) -> list[torch.Tensor]:
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight.data_ptr() != matrices[0].data_ptr():
        matrices.append(output.weight)
    return matrices


def lora_config(model_args, model, tag_token_ids: list[int]):
    """TRL's LoRA config, defaulting to all linear layers plus ``lm_head``, tag tokens trainable.

    New tag tokens get PEFT ``trainable_token_indices`` on the input embeddings (tied output embeddings
    follow); an untied output layer learns their rows through its LoRA update.
    """
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is None:
        return None
    if model_args.lora_target_modules in (None, "all-linear"):
        config.target_modules = set(linear_module_names(model))
    if tag_token_ids:
        config.trainable_token_indices = {"embed_tokens": list(tag_token_ids)}
        if _tied(model):
            config.target_modules = set(config.target_modules) - {"lm_head"}
    return config


def split_head_lora(config):
    """Remove ``lm_head`` from a LoRA config's targets; returns whether it was there.

    TRL 1.16's SFTTrainer refuses a PEFT adapter on ``lm_head`` because its fused loss would bypass it. Our
    trainer computes the loss through the model's forward instead, so the head's LoRA is added after the
    trainer is built (``add_head_lora``), as the seed had it.
    """
    if config is None or isinstance(config.target_modules, str):
        return False
    targets = set(config.target_modules)
    if "lm_head" not in targets:
        return False
    config.target_modules = targets - {"lm_head"}
    return True


def add_head_lora(peft_model, adapter_name: str = "default") -> None:
    """Inject LoRA (same rank, alpha and dropout as the adapter) into ``lm_head`` of a PEFT model."""
    from peft import LoraConfig, inject_adapter_in_model

    config = peft_model.peft_config[adapter_name]
    targets = set(config.target_modules)
    head = LoraConfig(
        r=config.r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout, target_modules=["lm_head"]
    )
    inject_adapter_in_model(head, peft_model.base_model.model, adapter_name=adapter_name)
    peft_model.peft_config[adapter_name] = (
        config  # the injection registers its own config under the same name
    )
    config.target_modules = targets | {"lm_head"}


def _tied(model) -> bool:
    output = model.get_output_embeddings()
    return output is not None and output.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def linear_module_names(model) -> list[str]:
    """Leaf names of linear layers (4-bit and 8-bit included) in the transformer blocks, and ``lm_head``."""
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            names.add(name.rsplit(".", 1)[-1])
    names.add("lm_head")
    return sorted(names)


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").is_file()


def local_model_dir(name_or_path: str) -> Path:
    """A local directory for a trained decoder: the path itself, or a snapshot of a Hub repo."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name_or_path))
    except Exception as error:  # noqa: BLE001 - hub errors vary (offline, 404, auth); all mean "cannot load"
        raise load_error(name_or_path, error, offline_aliases(DECODER), tuple(ALIASES)) from None


def load_trained_decoder(name_or_path: str, dtype: str | None = None, load_in_4bit: bool | None = None):
    """``(model, tokenizer, prompt_format)`` of a model trained by ``train_decoder.py`` (adapter or full).

    An adapter's base model is read from its ``adapter_config.json``; its embeddings are resized to the saved
    tokenizer (the tag tokens) before the adapter is applied. ``dtype`` and ``load_in_4bit`` default to what
    training used (recorded in ``bioner_decoder.json``), so scores reproduce without extra flags.
    """
    directory = local_model_dir(name_or_path)
    if not (directory / FORMAT_FILE).is_file():
        raise ModelLoadError(
            f"'{name_or_path}' has no {FORMAT_FILE}; pass a model trained with train_decoder.py"
        )
    prompt_format = PromptFormat.load(directory)
    if load_in_4bit is None:
        load_in_4bit = bool(prompt_format.extra.get("load_in_4bit", False))
    dtype = dtype or prompt_format.extra.get("dtype")
    tokenizer = load_tokenizer(str(directory), DECODER)
    model_args = _inference_model_args(dtype, load_in_4bit)
    if is_adapter_dir(directory):
        from peft import PeftModel

        base = json.loads((directory / "adapter_config.json").read_text())["base_model_name_or_path"]
        logger.info("loading base model %s for adapter %s", base, name_or_path)
        model = load_causal_lm(resolve(base).path, model_args)
        if prompt_format.tag_tokens:
            init_tag_embeddings(model, tokenizer, prompt_format)
        model = PeftModel.from_pretrained(model, str(directory))
    else:
        model = load_causal_lm(str(directory), model_args)
    model.eval()
    return model, tokenizer, prompt_format


def _inference_model_args(dtype: str | None, load_in_4bit: bool):
    from trl import ModelConfig

    return ModelConfig(
        dtype=dtype or ("bfloat16" if load_in_4bit else "float32"),
        load_in_4bit=load_in_4bit,
        use_bnb_nested_quant=load_in_4bit,
    )
